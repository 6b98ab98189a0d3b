"""What does orchestration cost? lradvisor's own milliseconds per trial, trivial trainable.

Run: ``python -m benchmarks.overhead [--quick]``. ``run_search`` drives a trainable
that does no training (20 reports of a closed-form curve of the peak LR, microseconds
of arithmetic), so everything measured is lradvisor's: the sampler (TPE over the
rules' space, behind the first-rung view), the rules (asked once per search), the
pruner (judging every report), the trial bookkeeping and the study storage. The
profile is ``digits-cnn``'s (rules prior, 800-step full run, default rungs).

Cases, each a whole search of ``--trials`` first-rung trials (plus the promoted and
final runs of the rungs above):

* storage: ``sqlite://`` (SQLite in memory: ``run_search`` always uses an SQL
  storage, so this is its in-memory case) and an SQLite file in a temporary folder;
  and, for reference, the search's ``TrialRunner`` alone on the first rung with
  Optuna's ``InMemoryStorage`` (no SQL at all);
* pruner ``plateau`` against ``none``, and sampler ``tpe`` against ``random``: the
  differences are the pruner's and the sampler's shares;
* the floor: plain Optuna (``study.optimize``) on the same storage, sampling the same
  space with the same TPE settings and reporting the same 20 values to Optuna's
  ``MedianPruner``: what any tool built on Optuna pays before doing anything of its own.

And a real search (``--real-trials``, 40 by default, none in ``--quick``): the
``digits-cnn`` workload's own training at the default budget of 2 full runs on an
SQLite file, the share of its wall time spent outside training (everything but the
trainable, less what the trainable's ``ctx.report`` calls cost: the pruner and the
reports' storage are lradvisor's), imports done beforehand. ``--real-only
--real-workloads a,b`` runs these alone, for any built-in workloads. Target
(BENCHMARKS.md): ≤ 2% of a real search's wall time.

Per trial: the wall time between consecutive trials' ends (from the search's
progress callback); reported as the mean (the search's total / trials), the process's
CPU time per trial (fairer than wall time on a shared machine), the median
and the min–max, and the mean over the last 10% of trials (costs that grow with the
study's size show there). The rules' ``advise`` is timed on its own (≥ 30 calls).
Target (BENCHMARKS.md): ≤ 5 ms per trial in memory (Optuna's ``InMemoryStorage``: no
database), ≤ 30 ms on SQLite (its in-memory database ``sqlite://`` or a file), at 500
trials.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, summary, table, write_csv

__all__ = ["main", "measure", "trivial_train"]

REPORTS = 20
QUICK_TRIALS = 50


def trivial_train(ctx: Any) -> float:
    """A trainable with no training: a decaying curve, best at peak LR 1e-2."""
    base = 1.0 + (math.log10(ctx.peak_lr) + 2.0) ** 2
    value = base
    for i in range(1, REPORTS + 1):
        value = base + 1.0 / i
        ctx.report(round(i * ctx.total_steps / REPORTS), value)
    return value


def measure(storage: str | None, trials: int, pruner: str, sampler: str) -> dict[str, Any]:
    """One search; returns per-trial wall and CPU milliseconds and the counts.

    ``storage=None``: no ``run_search`` but the search's ``TrialRunner`` on the first
    rung, with Optuna's ``InMemoryStorage`` (no SQL at all): what the sampler, pruner
    and trial bookkeeping cost without a database.
    """
    ends: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    if storage is None:
        records = _first_rung_in_memory(trials, pruner, sampler, ends)
    else:
        from lradvisor.search import run_search

        records = run_search(
            trivial_train, workload="digits-cnn", n_trials=trials, storage=storage,
            study_name=f"overhead-{pruner}-{sampler}", pruner=pruner, sampler=sampler,
            seed=0, callback=lambda _p: ends.append(time.perf_counter())).records
    return _timings(start, cpu, ends, len(records),
                    sum(r.state == "PRUNED" for r in records))


def _timings(start: float, cpu: float, ends: list[float], trials: int,
             pruned: int) -> dict[str, Any]:
    """The measures of one timed run: started at ``start`` (and process time ``cpu``),
    with a trial ending at each of ``ends``."""
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    per = [1000 * (b - a) for a, b in zip([start, *ends], ends, strict=False)]
    return {"trials": trials, "pruned": pruned, "total_s": total,
            "mean_ms": 1000 * total / trials, "cpu_ms": 1000 * cpu / trials, "per_ms": per,
            "tail_ms": statistics.fmean(per[-max(1, len(per) // 10):])}


def measure_plain(storage: str | None, trials: int) -> dict[str, Any]:
    """The floor: plain Optuna's ``optimize`` over the same space, TPE and reports."""
    import optuna

    from benchmarks._trials import search_space
    from lradvisor.search._context import TrialContext

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_space("digits-cnn")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True,
                                             n_startup_trials=10)
    study = optuna.create_study(storage=storage, sampler=sampler,
                                pruner=optuna.pruners.MedianPruner())

    def objective(trial: Any) -> float:
        def on_report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        ctx = TrialContext(spec=space.sample(trial), total_steps=80, seed=0, device="cpu",
                           on_report=on_report)
        return trivial_train(ctx)

    ends: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=trials,
                   callbacks=[lambda *_: ends.append(time.perf_counter())])
    return _timings(start, cpu, ends, trials,
                    sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials))


def measure_real(storage: str, trials: int, workload: str = "digits-cnn",
                 budget: float = 2.0) -> dict[str, Any]:
    """A real search of ``workload``: how much of its wall time is not training.

    The workload's trainable is timed around each call, less the time its
    ``ctx.report`` calls take (judging and storing reports is the search's work). The
    search's own steps of a run are timed too (``phases_ms``, totals in ms): creating
    the trial (``create``), sampling its values (``sample``, the sampler's reads of the
    study included), writing them (``write``), ending it (``end``) and the pruner's look
    at each report (``prune``; ``reports`` counts them).
    """
    from lradvisor.search import run_search
    from lradvisor.workloads import get_workload

    train = get_workload(workload).train
    spent = {"train": 0.0, "report": 0.0}

    def timed(ctx: Any) -> Any:
        inner = ctx.on_report
        if inner is not None:
            def on_report(step: int, value: float) -> None:
                start = time.perf_counter()
                try:
                    inner(step, value)
                finally:
                    spent["report"] += time.perf_counter() - start

            ctx.on_report = on_report
        start = time.perf_counter()
        try:
            return train(ctx)
        finally:
            spent["train"] += time.perf_counter() - start

    start = time.perf_counter()
    with _phase_timers() as phases:
        result = run_search(timed, workload=workload, n_trials=trials, budget=budget,
                            storage=storage, study_name=f"overhead-real-{workload}", seed=0)
    total = time.perf_counter() - start
    training = spent["train"] - spent["report"]
    runs = len(result.records)
    return {"workload": workload, "trials": trials, "runs": runs, "total_s": total,
            "training_s": training, "outside_s": total - training,
            "outside_ms_per_run": 1000 * (total - training) / max(runs, 1),
            "share": (total - training) / total,
            "phases_ms": {name: 1000 * t for name, (t, _) in phases.items()},
            "reports": phases["prune"][1]}


@contextmanager
def _phase_timers() -> Iterator[dict[str, tuple[float, int]]]:
    """Within, the search's steps of a run are timed: ``{phase: (seconds, calls)}``."""
    from lradvisor.search._space import SearchSpace
    from lradvisor.search._trial import TrialCurve, TrialRunner
    from lradvisor.storage._trials import _ParamBuffer

    where = {"create": (TrialRunner, "_ask"), "sample": (SearchSpace, "sample"),
             "write": (_ParamBuffer, "flush"), "end": (TrialRunner, "_tell"),
             "prune": (TrialCurve, "should_prune")}
    phases = {name: (0.0, 0) for name in where}
    originals = {name: getattr(owner, attr) for name, (owner, attr) in where.items()}

    def timer(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                seconds, calls = phases[name]
                phases[name] = (seconds + time.perf_counter() - start, calls + 1)

        return timed

    for name, (owner, attr) in where.items():
        setattr(owner, attr, timer(name, originals[name]))
    try:
        yield phases
    finally:
        for name, (owner, attr) in where.items():
            setattr(owner, attr, originals[name])


def _first_rung_in_memory(trials: int, pruner: str, sampler: str,
                          ends: list[float]) -> list[Any]:
    import optuna

    from benchmarks._trials import search_space
    from lradvisor.search import Fidelity, make_sampler
    from lradvisor.search._pruner import make_pruner
    from lradvisor.search._rungs import Planned
    from lradvisor.search._trial import TrialRunner
    from lradvisor.workloads import get_workload

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = get_workload("digits-cnn")
    study = optuna.create_study(sampler=make_sampler(sampler, 0, startup=10),
                                pruner=make_pruner(pruner))
    runner = TrialRunner(study, search_space("digits-cnn")[0], trivial_train,
                         Fidelity(), work.total_steps, work.steps_per_epoch, "cpu")
    records = []
    for _ in range(trials):
        records.append(runner.run(Planned(None, 0, 0, "sampled")))
        ends.append(time.perf_counter())
    return records


def _rules_ms(repeats: int) -> tuple[float, float, float]:
    from lradvisor.rules import TaskProfile, advise
    from lradvisor.workloads import get_workload

    profile = TaskProfile.from_dict(get_workload("digits-cnn").profile())
    advise(profile)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        advise(profile)
        times.append(1000 * (time.perf_counter() - t))
    return summary(times)


def _plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, res in results.items():
        per = res["per_ms"]
        width = max(1, len(per) // 25)
        smooth = [statistics.median(per[i:i + width]) for i in range(0, len(per), width)]
        ax.plot([i + width / 2 for i in range(0, len(per), width)], smooth, label=name)
    ax.set(xlabel="trial", ylabel="ms per trial (running median)", yscale="log",
           title="lradvisor overhead per trial, trivial trainable")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"plateau + TPE only, {QUICK_TRIALS} trials")
    parser.add_argument("--trials", type=int, help="first-rung trials (500; quick: "
                        f"{QUICK_TRIALS})")
    parser.add_argument("--real-trials", type=int, default=None,
                        help="first-rung trials of each real search (40; quick: 0, none)")
    parser.add_argument("--real-workloads", default="digits-cnn",
                        help="comma-separated workloads of the real searches (digits-cnn)")
    parser.add_argument("--real-only", action="store_true",
                        help="only the real searches (their table and CSV)")
    parser.add_argument("--name", default="overhead", help="results file stem")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    cases = [("plateau", "tpe"), ("none", "tpe"), ("plateau", "random"), ("none", "random")]
    if args.quick:
        cases = cases[:1]
    args.trials = args.trials or (QUICK_TRIALS if args.quick else 500)
    real_trials = args.real_trials if args.real_trials is not None else (
        0 if args.quick else 40)
    if args.real_only:
        _real_table(args, real_trials)
        return {}
    results: dict[str, dict[str, Any]] = {}
    # imports (torch among them, as any trainable's) and first-use caches, untimed
    for warm in (None, "sqlite://"):
        measure(warm, 1, "plateau", "tpe")
    measure_plain(None, 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        storages = {  # label: (lradvisor's storage, the plain-Optuna floor's)
            "Optuna in-memory, first rung": (None, None),
            "SQLite in memory (sqlite://)": ("sqlite://", "sqlite://"),
            "SQLite file": (f"sqlite:///{folder / 'overhead.db'}",
                            f"sqlite:///{folder / 'plain.db'}"),
        }
        for label, (url, plain) in storages.items():
            for pruner, sampler in cases:
                results[f"{label}, {pruner}, {sampler}"] = measure(url, args.trials, pruner,
                                                                   sampler)
            results[f"{label}, plain Optuna floor (median pruner, tpe)"] = measure_plain(
                plain, args.trials)
    rules = _rules_ms(30)
    header = ["storage, pruner, sampler", "trials", "pruned", "total s", "mean ms/trial",
              "CPU ms/trial", "median ms", "min ms", "max ms", "last 10% mean ms", "target",
              "met"]
    rows = []
    for name, res in results.items():
        med, lo, hi = summary(res["per_ms"])
        target = 5.0 if name.startswith("Optuna in-memory") else 30.0  # else SQLite
        floor = "plain Optuna" in name
        rows.append([name, res["trials"], res["pruned"], f"{res['total_s']:.1f}",
                     f"{res['mean_ms']:.2f}", f"{res['cpu_ms']:.2f}", f"{med:.2f}",
                     f"{lo:.2f}", f"{hi:.1f}",
                     f"{res['tail_ms']:.2f}", "(reference)" if floor else f"≤ {target:g} ms",
                     "" if floor else "yes" if res["mean_ms"] <= target else "no"])
    print(f"overhead: {args.trials} first-rung trials per search, {REPORTS} reports each; "
          f"{machine()}")
    print(table(header, rows))
    print(f"\nrules (advise, once per search): median {rules[0]:.2f} ms "
          f"(min {rules[1]:.2f}, max {rules[2]:.2f}) over 30 calls")
    write_csv(args.name, header, rows, folder=args.out)
    _plot(results, args.out / f"{args.name}.png")
    print(f"wrote {args.out / args.name}.csv, {args.name}.png")
    if real_trials:
        _real_table(args, real_trials)
    return results


def _real_table(args: argparse.Namespace, trials: int) -> None:
    """Run, print and save the real searches (``--real-workloads``)."""
    header = ["workload", "first-rung trials", "runs", "wall s", "training s",
              "outside training s", "outside ms per run", "share of wall time", "target",
              "met", "create ms per run", "sample ms per run", "write ms per run",
              "end ms per run", "pruner ms per report"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # imports and first-use caches untimed, as in the main table: process start-up
        # is not a per-search cost (Optuna and SQLAlchemy import in about 0.5 s)
        measure_real(f"sqlite:///{Path(tmp) / 'warm'}.db", 2, "tabular-mlp", budget=1.0)
        for workload in args.real_workloads.split(","):
            real = measure_real(f"sqlite:///{Path(tmp) / workload}.db", trials, workload)
            rows.append([workload, trials, real["runs"], f"{real['total_s']:.1f}",
                         f"{real['training_s']:.1f}", f"{real['outside_s']:.2f}",
                         f"{real['outside_ms_per_run']:.1f}", f"{100 * real['share']:.2f}%",
                         "≤ 2%", "yes" if real["share"] <= 0.02 else "no",
                         *(f"{real['phases_ms'][p] / max(real['runs'], 1):.2f}"
                           for p in ("create", "sample", "write", "end")),
                         f"{real['phases_ms']['prune'] / max(real['reports'], 1):.2f}"])
        new_ms, existing_ms = _open_ms(Path(tmp))
    print(f"\nreal searches, SQLite file, default budget (2 full runs); {machine()}")
    print(table(header, rows))
    print(f"each search above opened a new database file: creating one took {new_ms:.0f} ms, "
          f"opening an existing one {existing_ms:.0f} ms (median of 3)")
    write_csv(f"{args.name}_real", header, rows, folder=args.out)
    print(f"wrote {args.out / args.name}_real.csv")


def _open_ms(folder: Path, repeats: int = 3) -> tuple[float, float]:
    """Median ms to open a new SQLite study database (creating Optuna's schema) and an
    existing one, as ``run_search`` opens it."""
    from lradvisor.storage import open_storage

    new, existing = [], []
    for i in range(repeats):
        url = f"sqlite:///{folder / f'open{i}'}.db"
        for times in (new, existing):
            start = time.perf_counter()
            open_storage(url).engine.dispose()
            times.append(1000 * (time.perf_counter() - start))
    return statistics.median(new), statistics.median(existing)


if __name__ == "__main__":
    main()
