"""What does a policy-driven scheduler cost per step, against the native torch scheduler?

Run: ``python -m benchmarks.policy_overhead [--quick]``. Target (BENCHMARKS.md): a
policy's ``scheduler.step()`` within 1.2x of the native torch scheduler with the same
schedule, measured in the same process, runs interleaved.

Each case times ``steps`` calls of ``scheduler.step()`` on a fresh scheduler (an SGD
over one small tensor, so only the scheduler is measured), ``runs`` times, and reports
the median seconds per step, min-max, and the ratios of medians and of minimums (on a
shared machine the minimum is the steadier of the two: noise only ever adds time).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import summary, table, write_csv


def _optimizer() -> Any:
    import torch

    return torch.optim.SGD([torch.zeros(8, requires_grad=True)], lr=0.1)


def _policy(spec: Any, total: int) -> Callable[[], Any]:
    from lradvisor.policy import SchedulePolicy

    return lambda: SchedulePolicy.from_spec(spec).attach(_optimizer(), total)


def _cases(total: int) -> list[tuple[str, Callable[[], Any], Callable[[], Any], bool]]:
    """(name, build policy scheduler, build native scheduler, feed a metric each step)."""
    from torch.optim import lr_scheduler as tl
    from transformers import get_linear_schedule_with_warmup, get_wsd_schedule

    from lradvisor import ScheduleSpec
    from lradvisor.schedules import PlateauLR

    warm = total // 10
    cosine = ScheduleSpec.create("cosine")
    cosine_warm = ScheduleSpec.create("cosine", warmup_steps=warm)
    linear_warm = ScheduleSpec.create("linear", warmup_steps=warm)
    wsd = ScheduleSpec.create("wsd", warmup_steps=warm, decay_fraction=0.2,
                              decay_shape="linear")
    plateau = ScheduleSpec.create("plateau", warmup_steps=warm)

    def seq() -> Any:
        opt = _optimizer()
        return tl.SequentialLR(opt, [
            tl.LinearLR(opt, start_factor=1e-8, total_iters=warm),
            tl.CosineAnnealingLR(opt, T_max=total - warm)], milestones=[warm])

    def plateau_native() -> Any:
        return PlateauLR(_optimizer(), warmup_steps=warm, patience=10, factor=0.5)

    def wsd_native() -> Any:
        return get_wsd_schedule(_optimizer(), warm, int(0.2 * (total - warm)),
                                num_training_steps=total, decay_type="linear")

    return [
        ("cosine -> CosineAnnealingLR", _policy(cosine, total),
         lambda: tl.CosineAnnealingLR(_optimizer(), T_max=total), False),
        ("cosine+warmup vs SequentialLR(LinearLR, Cosine)", _policy(cosine_warm, total),
         seq, False),
        ("linear+warmup vs HF get_linear_schedule_with_warmup", _policy(linear_warm, total),
         lambda: get_linear_schedule_with_warmup(_optimizer(), warm, total), False),
        ("wsd (AnytimeWSD) vs HF get_wsd_schedule", _policy(wsd, total), wsd_native, False),
        ("plateau (AdaptiveDecayLR) step() vs PlateauLR", _policy(plateau, None),
         plateau_native, False),
        ("plateau step(metric) every step vs PlateauLR", _policy(plateau, None),
         plateau_native, True),
    ]


def _time(build: Callable[[], Any], steps: int, metric: bool) -> float:
    sched = build()
    sched.optimizer.step()  # so torch's "step before optimizer.step()" check stays quiet
    values = [1.0 / (1 + i % 50) for i in range(steps)]  # a sawtooth: plateaus now and then
    start = time.perf_counter()
    if metric:
        for value in values:
            sched.step(value)
    else:
        for _ in range(steps):
            sched.step()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="101 runs of 300 steps")
    args = parser.parse_args(argv)
    runs, steps = (101, 300) if args.quick else (301, 2000)
    header = ["case", "policy us/step", "native us/step", "policy min-max",
              "native min-max", "ratio of medians", "ratio of mins"]
    rows = []
    for name, policy, native, metric in _cases(steps):
        _time(policy, steps, metric), _time(native, steps, metric)  # warm-up
        mine, theirs = [], []
        for _ in range(runs):  # interleaved, so drift hits both alike
            mine.append(_time(policy, steps, metric))
            theirs.append(_time(native, steps, metric))
        (pm, plo, phi), (nm, nlo, nhi) = summary(mine), summary(theirs)
        rows.append([name, f"{pm * 1e6:.2f}", f"{nm * 1e6:.2f}",
                     f"{plo * 1e6:.2f}-{phi * 1e6:.2f}", f"{nlo * 1e6:.2f}-{nhi * 1e6:.2f}",
                     f"{pm / nm:.2f}", f"{plo / nlo:.2f}"])
    print(f"policy_overhead: {runs} runs x {steps} steps, medians, {datetime.date.today()}, "
          f"{platform.machine()} {platform.python_version()}")
    print(table(header, rows))
    print(f"wrote {write_csv('policy_overhead', header, rows)}")


if __name__ == "__main__":
    main()
