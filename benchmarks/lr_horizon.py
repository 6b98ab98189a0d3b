"""Does the best peak LR move with the run's length? Short-horizon bias, measured.

Run: ``python -m benchmarks.lr_horizon [--quick] [--workloads a,b] [--jobs 2]``.

A search judges peak LRs on short proxy runs, then states the winner for the full run.
That is sound only if the best peak LR is the same at both lengths. For each workload,
this trains the rules' top schedule at peak LRs of the guide's peak times 2^k
(k = -4..3) at 10%, 25% and 100% of the run on 3 seeds, and reports per length the
best peak (mean over seeds; a parabola through the best cell and its neighbours in
log LR places it between grid points) and the exponent ``b`` of ``best ~ length^-b``
between lengths: ``b > 0`` means longer runs want lower peaks. ``--quick``: two
workloads at a fifth of their length. Results: ``benchmarks/results/lr_horizon.csv``
(every cell), ``lr_horizon.md`` and ``lr_horizon.png``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, table, write_csv

FRACTIONS = (0.1, 0.25, 1.0)
EXPONENTS = tuple(range(-4, 4))  # the guide's peak times 2^k
SEEDS = 3
QUICK_WORKLOADS = ("digits-cnn", "tabular-mlp")


def cells(workload: str, full_steps: int, seeds: int) -> list[list[Any]]:
    """``[workload, family, fraction, k, peak LR, seed, value]`` for every run."""
    from lradvisor.rules import TaskProfile, advise
    from lradvisor.workloads import get_workload, run

    work = get_workload(workload)
    advice = advise(TaskProfile(**work.profile()))
    spec, peak = advice.best.spec, advice.prior.lr_default
    rows = []
    for fraction in FRACTIONS:
        steps = max(1, round(fraction * full_steps))
        for k in EXPONENTS:
            lr = peak * 2.0**k
            for seed in range(seeds):
                value, _ = run(workload, spec.replace(peak_lr=lr), steps, seed, device="cpu")
                rows.append([workload, spec.family, fraction, k, lr, seed, value])
    return rows


def best_lr(points: dict[float, float]) -> float:
    """The LR of the lowest mean value, refined by a parabola in log LR through it and
    its two neighbours (kept within them); the grid point itself at an edge."""
    lrs = sorted(points)
    i = min(range(len(lrs)), key=lambda j: points[lrs[j]])
    if i == 0 or i == len(lrs) - 1:
        return lrs[i]
    x = [math.log(lrs[j]) for j in (i - 1, i, i + 1)]
    y = [points[lrs[j]] for j in (i - 1, i, i + 1)]
    denom = (x[0] - x[1]) * (x[0] - x[2]) * (x[1] - x[2])
    a = (x[2] * (y[1] - y[0]) + x[1] * (y[0] - y[2]) + x[0] * (y[2] - y[1])) / denom
    b = (x[2] ** 2 * (y[0] - y[1]) + x[1] ** 2 * (y[2] - y[0])
         + x[0] ** 2 * (y[1] - y[2])) / denom
    if a <= 0:
        return lrs[i]
    return math.exp(min(max(-b / (2 * a), x[0]), x[2]))


def _means(rows: list[list[Any]], workload: str, fraction: float) -> dict[float, float]:
    """Peak LR -> mean value over seeds at ``fraction`` (a diverged run counts as inf)."""
    by_lr: dict[float, list[float]] = {}
    for r in rows:
        if r[0] == workload and r[2] == fraction:
            by_lr.setdefault(r[4], []).append(r[6] if math.isfinite(r[6]) else math.inf)
    return {lr: statistics.fmean(v) for lr, v in by_lr.items()}


def summarise(rows: list[list[Any]]) -> list[list[Any]]:
    """Per workload: the best peak at each length, and the exponents between lengths."""
    out = []
    for workload in dict.fromkeys(r[0] for r in rows):
        best: dict[float, float] = {}
        edge: dict[float, bool] = {}
        for fraction in FRACTIONS:
            means = _means(rows, workload, fraction)
            best[fraction] = best_lr(means)
            lowest = min(means, key=means.__getitem__)
            edge[fraction] = lowest in (min(means), max(means))
        expo = [math.log(best[a] / best[b]) / math.log(b / a)
                for a, b in zip(FRACTIONS, FRACTIONS[1:], strict=False)]
        family = next(r[1] for r in rows if r[0] == workload)
        out.append([workload, family]
                   + [f"{best[f]:.3g}" + (" (edge)" if edge[f] else "") for f in FRACTIONS]
                   + [f"{e:+.2f}" for e in expo])
    return out


def plot(rows: list[list[Any]], path: Path) -> None:
    """Mean value against peak LR, one panel per workload, one line per length (a cell
    where a seed diverged is left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r[0] for r in rows))
    fig, axes = plt.subplots(1, len(workloads), figsize=(4 * len(workloads), 3.4),
                             squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=True):
        for fraction in FRACTIONS:
            means = _means(rows, workload, fraction)
            lrs = sorted(lr for lr in means if math.isfinite(means[lr]))
            ax.plot(lrs, [means[lr] for lr in lrs], marker="o",
                    label=f"{fraction:.0%} of the run")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("peak LR")
        ax.set_title(workload)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("final validation value (mean of seeds)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[list[Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{', '.join(QUICK_WORKLOADS)} at a fifth of their length")
    parser.add_argument("--workloads", help="comma-separated (default: all; quick: 2)")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--full-steps", type=int, default=None,
                        help="override the full length (tests)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (one per workload)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    parser.add_argument("--name", default="lr_horizon", help="results file stem")
    args = parser.parse_args(argv)
    from lradvisor.workloads import WORKLOAD_NAMES, get_workload

    names = (args.workloads.split(",") if args.workloads
             else QUICK_WORKLOADS if args.quick else WORKLOAD_NAMES)
    lengths = {n: args.full_steps or get_workload(n).total_steps // (5 if args.quick else 1)
               for n in names}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        parts = list(pool.map(cells, names, [lengths[n] for n in names],
                              [args.seeds] * len(names)))
    rows = [row for part in parts for row in part]
    minutes = (time.perf_counter() - start) / 60
    out = Path(args.out)
    write_csv(args.name, ["workload", "family", "fraction", "k", "peak_lr", "seed", "value"],
              rows, folder=out)
    header = ["workload", "schedule", *(f"best peak at {f:.0%}" for f in FRACTIONS),
              *(f"b, {a:.0%} to {b:.0%}" for a, b in zip(FRACTIONS, FRACTIONS[1:],
                                                       strict=False))]
    summary = summarise(rows)
    text = (f"benchmarks/lr_horizon: {machine()}; {args.seeds} seeds; {minutes:.1f} min; "
            f"peaks = the guide's x 2^k, k = {EXPONENTS[0]}..{EXPONENTS[-1]}; "
            f"best ~ length^-b\n\n{table(header, summary)}\n")
    print(text)
    (out / f"{args.name}.md").write_text(text)
    plot(rows, out / f"{args.name}.png")
    return summary


if __name__ == "__main__":
    main()
