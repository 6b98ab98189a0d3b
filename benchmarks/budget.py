"""Does a bigger search budget, or longer rungs, pick a better schedule at full length?

Run: ``python -m benchmarks.budget [--workloads a,b] [--seeds 3] [--jobs 2]
[--budgets 2,8] [--rungs 0.1/0.33/1 0.2/0.5/1] [--pruners plateau none median]``.

For each workload, seed, rung setting and budget (in full-run equivalents): one
``run_search`` on the quality benchmark's profile (the workload's full length, an
in-memory study, the default sampler and each of ``--pruners``, default ``plateau``),
then one full-length run of its recommendation on the same seed: what a pruner is
worth is what the search then recommends, at the same budget. Reported: the length at
which the pick was last evaluated (the budget decides it, see ``Fidelity.fit``), the
search's compute in full runs, and the pick's full-length value, next to the rules'
top pick run the same way. Lower is better for every built-in workload (validation
losses). Results: ``benchmarks/results/budget.csv`` (per run), ``budget.md`` and
``budget.png``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    RESULTS,
    grouped_bars,
    machine,
    mean_std,
    run_tasks,
    table,
    write_csv,
)

DEFAULT_WORKLOADS = ("digits-cnn", "digits-finetune", "tabular-mlp")
RULES = "the rules alone"


def parse_rungs(text: str) -> tuple[float, ...]:
    """``"0.1/0.33/1"`` -> ``(0.1, 0.33, 1.0)``."""
    return tuple(float(part) for part in text.split("/"))


def run_case(name: str, seed: int, rungs: tuple[float, ...] | None, budget: float | None,
             steps: int | None = None, pruner: str = "plateau") -> dict[str, Any]:
    """One search and one full run of its pick; ``rungs=None``: the rules' top pick alone.

    ``steps``: the full run's length (default: the workload's).
    """
    from benchmarks.quality import profile_of
    from lradvisor.rules import advise
    from lradvisor.search import Fidelity, run_search
    from lradvisor.workloads import get_workload, run

    work = get_workload(name)
    steps = steps or work.total_steps
    profile = profile_of(work, steps)
    if rungs is None:
        spec = advise(profile).best.spec
        value, _ = run(name, spec, steps, seed, device="cpu")
        return {"value": value, "spec": spec.describe(), "fraction": None, "runs": 0.0}
    result = run_search(workload=name, profile=profile, budget=budget, seed=seed,
                        storage="sqlite://", study_name=f"{name}-{seed}", pruner=pruner,
                        fidelity=Fidelity(rungs=rungs), device="cpu")
    rec = result.recommendation
    value, _ = run(name, rec.spec, steps, seed, device="cpu")
    return {"value": value, "spec": rec.spec.describe(), "fraction": result.evidence["fraction"],
            "runs": result.steps_used / steps}


def label(rungs: tuple[float, ...] | None, budget: float | None,
          pruner: str | None = None) -> str:
    """A row name: ``0.1/0.33/1, budget 2`` (``…, pruner median`` for a pruner named)
    or the rules' row."""
    if rungs is None:
        return RULES
    name = f"{'/'.join(f'{r:g}' for r in rungs)}, budget {budget:g}"
    return name if pruner is None else f"{name}, pruner {pruner}"


def main(argv: list[str] | None = None) -> list[list[Any]]:
    """Run, write the results, print the table; returns the table's rows."""
    from lradvisor.search._pruner import PRUNER_NAMES

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--budgets", default="2,8", help="comma-separated full-run budgets")
    parser.add_argument("--rungs", nargs="+", default=["0.1/0.33/1", "0.2/0.5/1"])
    parser.add_argument("--pruners", nargs="+", default=["plateau"], choices=PRUNER_NAMES,
                        help="the search's pruner(s); more than one names each row's")
    parser.add_argument("--name", default="budget", help="results file stem")
    parser.add_argument("--full-steps", type=int, default=None,
                        help="full-run length (default: each workload's; tests use less)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    names = args.workloads.split(",")
    settings: list[tuple[tuple[float, ...] | None, float | None, str]] = [
        (parse_rungs(r), float(b), p) for r in args.rungs for b in args.budgets.split(",")
        for p in args.pruners
    ]
    settings.append((None, None, "none"))
    named = len(args.pruners) > 1

    def name_of(rungs: tuple[float, ...] | None, budget: float | None, pruner: str) -> str:
        return label(rungs, budget, pruner if named else None)

    tasks = [(n, s, r, b, args.full_steps, p) for n in names for s in range(args.seeds)
             for r, b, p in settings]
    start = time.perf_counter()
    results = run_tasks(run_case, tasks, args.jobs)
    elapsed = time.perf_counter() - start
    per_run = [[n, name_of(r, b, p), s, res["fraction"], f"{res['runs']:.3f}",
                f"{res['value']:.6g}", res["spec"]]
               for (n, s, r, b, _, p), res in zip(tasks, results, strict=True)]
    write_csv(args.name, ["workload", "setting", "seed", "evidence length", "search full runs",
                          "full-length value", "pick"], per_run, folder=out)
    rows = []
    means: dict[tuple[str, str], float] = {}
    for rungs, budget, pruner in settings:
        row: list[Any] = [name_of(rungs, budget, pruner)]
        for name in names:
            got = [res for (n, _, r, b, _, p), res in zip(tasks, results, strict=True)
                   if n == name and (r, b, p) == (rungs, budget, pruner)]
            mean, std = mean_std([g["value"] for g in got])
            means[(name, row[0])] = mean
            fractions = {g["fraction"] for g in got if g["fraction"] is not None}
            length = "/".join(f"{f:.0%}" for f in sorted(fractions)) if fractions else "-"
            cost = statistics.fmean(g["runs"] for g in got)
            row.append(f"{mean:.4g} ± {std:.2g} ({length}, {cost:.2f} runs)")
        rows.append(row)
    text = "\n".join([
        f"benchmarks/budget: {machine()}; {args.seeds} seeds; {elapsed / 60:.1f} min",
        "", "Mean full-length value of the pick over seeds ± std (the length its finals ran "
        "at, the search's compute in full runs); lower is better.", "",
        table(["rungs, budget", *names], rows),
    ])
    (out / f"{args.name}.md").write_text(text + "\n")
    _plot(names, [r[0] for r in rows], means, out / f"{args.name}.png")
    print(text)
    return rows


def _plot(names: list[str], labels: list[str], means: dict[tuple[str, str], float],
          path: Any) -> None:
    """Each setting's mean value relative to the rules alone, per workload (bars)."""
    series = {}
    for name in names:
        base = means[(name, RULES)]
        series[name] = [100 * (means[(name, lab)] - base) / abs(base) for lab in labels]
    grouped_bars(path, labels, series, ylabel="full-length value vs the rules alone (%)",
                 title="benchmarks/budget: the pick at full length, by budget and rungs")


if __name__ == "__main__":
    main()
