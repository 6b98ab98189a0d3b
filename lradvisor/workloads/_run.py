"""``run``: one run of a built-in workload outside a search (benchmarks, tests, by hand)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules import ScheduleSpec, as_spec
from lradvisor.workloads._registry import get_workload
from lradvisor.workloads._workload import Workload

__all__ = ["run"]


def run(
    workload: str | Workload,
    spec: ScheduleSpec | Mapping[str, Any] | str,
    total_steps: int | None = None,
    seed: int = 0,
    device: str | None = None,
) -> tuple[float, list[tuple[int, float]]]:
    """Train ``workload`` once under ``spec``; return its final value and its curve.

    Builds the :class:`~lradvisor.search._context.TrialContext` a search would (without
    a pruner) and calls the workload's trainable in this process.

    Args:
        workload: a workload name (``lradvisor.workloads.WORKLOAD_NAMES``) or object.
        spec: the schedule (a spec, its dict or JSON, or a family id); without a
            ``peak_lr`` the workload's ``default_lr`` is the peak.
        total_steps: the run's length; ``None`` is the full-length run.
        seed: initialisation and data-order seed.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks a GPU when there is one.

    Returns:
        ``(final_value, curve)``: the validation value the trainable returned (``inf``
        when the run diverged) and every ``(step, value)`` it reported.

    Example:
        >>> final, curve = run("tabular-mlp", "cosine", total_steps=50)
        >>> curve[-1] == (50, final)
        True
    """
    from lradvisor.search._context import TrialContext, default_device

    work = get_workload(workload)
    spec = as_spec(spec)
    if spec.peak_lr is None:
        spec = spec.replace(peak_lr=work.default_lr)
    steps = work.total_steps if total_steps is None else total_steps
    ctx = TrialContext(
        spec=spec,
        total_steps=steps,
        seed=seed,
        epochs=math.ceil(steps / work.steps_per_epoch),
        steps_per_epoch=work.steps_per_epoch,
        device=device or default_device(),
        fidelity=steps / work.total_steps,
    )
    final = work.train(ctx)
    return final, list(ctx.curve)
