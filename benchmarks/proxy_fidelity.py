"""Do short proxies rank schedules as full runs do, and what does the search's pick lose?

Run: ``python -m benchmarks.proxy_fidelity [--quick]``. For each workload and seed, a
fixed set of specs (the rules' top 3 picks, then draws of a seeded random sampler over
the rules' search space) is trained at each proxy fraction of the full run (the
schedule compressed to that length, as the search's rungs do) and at full length.

Two tables:

* **rank fidelity**: per fraction, Spearman's rank correlation between the proxy's
  final values and the full-length ones (diverged runs rank last, tied), mean ± std
  over seeds; and the full-length regret of the proxy's own top pick, relative to the
  best full-length value of the set. Target (BENCHMARKS.md): Spearman ≥ 0.8 at the
  default proxy fraction (``Fidelity().rungs[0]``).
* **search pick**: for each candidate rung setting, the search's own rung logic
  (``lradvisor.search._rungs.next_runs`` and ``choose``, the functions ``run_search``
  uses; no pruner, so this measures the rungs alone) is run over the same first rung;
  every run it asks for is trained (or taken from the table). Reported: its compute in
  full-run equivalents, and the full-length regret of its pick on the table's seed,
  relative to the best full-length value known (the set's and the pick's).

With ``--ceiling``, every spec also runs at full length on another seed (``seed +
OTHER_SEED``: another initialisation and batch order), and the first table gains a row
"1 (another seed)": the Spearman of full runs against full runs. No proxy can be expected
to rank the specs as one seed's full runs do better than another seed's full runs do, so
that row is the ceiling the 0.8 target is measured under.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, mean_std, spearman, table, write_csv
from benchmarks._trials import Recorder, search_space, spec_sequence

__all__ = ["main", "simulate_search"]

FRACTIONS = (0.05, 0.1, 0.2, 0.33, 0.5)
OTHER_SEED = 1000  # the --ceiling runs' seed offset: no seed of a table uses it
CEILING = "1 (another seed)"
SETTINGS = ((0.1, 0.33, 1.0), (0.05, 0.2, 1.0), (0.2, 0.5, 1.0), (0.1, 1.0), (0.33, 1.0))
QUICK = {"workloads": ("digits-cnn",), "seeds": 1, "specs": 12,
         "settings": SETTINGS[:3]}
FULL = {"workloads": ("digits-cnn", "charlm", "digits-finetune", "tabular-mlp"),
        "seeds": 3, "specs": 24, "settings": SETTINGS}


def simulate_search(workload: str, specs: Sequence[object], rungs: Sequence[float], seed: int,
                    recorder: Recorder, full: int,
                    space: Any = None) -> tuple[object, int, list[object]]:
    """The search's rungs over ``specs`` as its first rung: ``(pick spec, steps, records)``.

    The first spec has origin ``rules`` (the rules' top pick, always promoted), as in
    ``run_search``. Diverged runs are recorded as pruned and diverged. With ``space``
    (a ``SearchSpace``), each proxy trains at the peak its length wants
    (``space.proxy_spec``), as ``run_search``'s do; records keep the full run's spec.
    """
    from lradvisor.search import Fidelity, rung_steps
    from lradvisor.search._rungs import Record, choose, next_runs

    fid = Fidelity(rungs=tuple(rungs))
    records: list[Record] = []

    def add(spec: object, rung: int, run_seed: int, origin: str, parent: int | None) -> None:
        steps = rung_steps(fid.rungs[rung], full)
        trained = spec if space is None else space.proxy_spec(spec, fid.rungs[rung])
        curve = recorder.curve(workload, trained, steps, run_seed)
        ok = math.isfinite(curve.final)
        records.append(Record(
            number=len(records), rung=rung, spec=spec, seed=run_seed,
            state="COMPLETE" if ok else "PRUNED", value=curve.final if ok else None,
            origin=origin, parent=parent, steps_used=curve.points[-1][0], diverged=not ok))

    for index, spec in enumerate(specs):
        add(spec, 0, seed, "rules" if index == 0 else "sampled", None)
    for rung in range(1, fid.last + 1):
        for plan in next_runs(records, rung, fid, "minimize", seed=seed):
            add(plan.spec, plan.rung, plan.seed, plan.origin, plan.parent)
    choice = choose(records, fid, "minimize")
    pick = choice.entry.spec if choice is not None else specs[0]
    return pick, sum(r.steps_used for r in records), records


def _seed_tables(workload: str, seed: int, args: argparse.Namespace,
                 recorder: Recorder) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rank-fidelity rows (one per fraction) and search-pick rows (one per setting)."""
    from lradvisor.search import rung_steps
    from lradvisor.workloads import get_workload

    full = int(args.full_steps or get_workload(workload).total_steps)
    space = search_space(workload)[0] if args.horizon else None
    shortest = min([*args.fractions, *(s[0] for s in args.settings)])
    specs = spec_sequence(workload, args.specs, seed, rung_steps(shortest, full))
    full_values = [recorder.curve(workload, s, full, seed).final for s in specs]
    best_full = min(full_values)
    fidelity_rows = []
    for fraction in args.fractions:
        proxy = [recorder.curve(workload, s if space is None else space.proxy_spec(s, fraction),
                                rung_steps(fraction, full), seed).final for s in specs]
        top = min(range(len(specs)), key=proxy.__getitem__)
        fidelity_rows.append({
            "workload": workload, "seed": seed, "fraction": fraction,
            "spearman": spearman(proxy, full_values),
            "top_regret": _regret(full_values[top], best_full),
        })
    if args.ceiling:
        other = [recorder.curve(workload, s, full, seed + OTHER_SEED).final for s in specs]
        top = min(range(len(specs)), key=other.__getitem__)
        fidelity_rows.append({
            "workload": workload, "seed": seed, "fraction": CEILING,
            "spearman": spearman(other, full_values),
            "top_regret": _regret(full_values[top], best_full),
        })
    pick_rows = []
    for rungs in args.settings:
        pick, steps, records = simulate_search(workload, specs, rungs, seed, recorder, full,
                                               space)
        value = recorder.curve(workload, pick, full, seed).final
        pick_rows.append({
            "workload": workload, "seed": seed, "rungs": "/".join(f"{r:g}" for r in rungs),
            "cost": steps / full, "runs": len(records),
            "regret": _regret(value, min(best_full, value)),
            "rules_regret": _regret(full_values[0], min(best_full, value)),
        })
    return fidelity_rows, pick_rows


def _regret(value: float, best: float) -> float:
    """Relative full-length regret in percent (``inf`` for a diverged pick)."""
    return 100 * (value - best) / abs(best) if math.isfinite(value) else math.inf


def _fmt(values: Sequence[float], digits: int) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _summaries(fid_rows: list[dict[str, Any]], pick_rows: list[dict[str, Any]],
               default: float) -> tuple[list[list[object]], list[list[object]]]:
    fid_table, pick_table = [], []
    for workload in dict.fromkeys(r["workload"] for r in fid_rows):
        for fraction in dict.fromkeys(r["fraction"] for r in fid_rows):
            rs = [r for r in fid_rows if r["workload"] == workload and r["fraction"] == fraction]
            rho = [float(r["spearman"]) for r in rs]
            mark = " (default)" if fraction == default else ""
            label = fraction if fraction == CEILING else f"{fraction:g}{mark}"
            fid_table.append([workload, label, _fmt(rho, 3),
                              _fmt([float(r["top_regret"]) for r in rs], 2),
                              "met" if statistics.fmean(rho) >= 0.8 else "missed"])
        for rungs in dict.fromkeys(r["rungs"] for r in pick_rows):
            rs = [r for r in pick_rows if r["workload"] == workload and r["rungs"] == rungs]
            pick_table.append([workload, rungs,
                               _fmt([float(r["cost"]) for r in rs], 2),
                               _fmt([float(r["regret"]) for r in rs], 2),
                               f"{max(float(r['regret']) for r in rs):.2f}",
                               _fmt([float(r["rules_regret"]) for r in rs], 2)])
    return fid_table, pick_table


FID_HEADER = ["workload", "proxy fraction", "Spearman vs full (mean ± std)",
              "full-length regret of proxy's top pick %", "target ≥ 0.8"]
PICK_HEADER = ["workload", "rungs", "cost (full runs)", "regret of search pick %",
               "worst seed regret %", "regret of rules' top pick %"]


def _plot(fid_rows: list[dict[str, Any]], path: object) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    def mean_rho(workload: str, fraction: object) -> float:
        return statistics.fmean(float(r["spearman"]) for r in fid_rows
                                if r["workload"] == workload and r["fraction"] == fraction)

    proxies = [r for r in fid_rows if r["fraction"] != CEILING]
    ceiling = len(proxies) < len(fid_rows)
    for workload in dict.fromkeys(r["workload"] for r in fid_rows):
        fractions = list(dict.fromkeys(r["fraction"] for r in proxies))
        (line,) = ax.plot(fractions, [mean_rho(workload, f) for f in fractions], marker="o",
                          label=workload)
        if ceiling:  # full runs against full runs of another seed, at x = 1
            ax.plot([1.0], [mean_rho(workload, CEILING)], marker="*", markersize=10,
                    linestyle="none", color=line.get_color())
    ticks = sorted({float(r["fraction"]) for r in proxies} | ({1.0} if ceiling else set()))
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.axhline(0.8, color="grey", linestyle="--", linewidth=1, label="target 0.8")
    ax.set(xlabel="proxy length / full run (star: full run, another seed)",
           ylabel="Spearman vs full length", ylim=(-1, 1), title="proxy rank fidelity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['seeds']} seed x {QUICK['specs']} specs on "
                             f"{', '.join(QUICK['workloads'])}")
    parser.add_argument("--workloads", nargs="+", help="override the workloads")
    parser.add_argument("--seeds", type=int, help="override the number of seeds")
    parser.add_argument("--specs", type=int, help="override the specs per seed")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS))
    parser.add_argument("--settings", nargs="+", metavar="R0/R1/...",
                        help="rung settings to simulate, e.g. 0.1/0.33/1")
    parser.add_argument("--full-steps", type=int,
                        help="treat the full run as this many steps (smoke tests)")
    parser.add_argument("--horizon", action="store_true",
                        help="proxies train at the peak the search gives them (the "
                             "profile's [[horizon]] rule: peak x fraction^-b)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also run every spec at full length on another seed: the "
                             "Spearman of full runs against full runs, the noise ceiling")
    parser.add_argument("--name", default="proxy_fidelity", help="results file stem")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    args.workloads = args.workloads or list(mode["workloads"])
    args.seeds = args.seeds or mode["seeds"]
    args.specs = args.specs or mode["specs"]
    args.settings = ([tuple(float(x) for x in s.split("/")) for s in args.settings]
                     if args.settings else list(mode["settings"]))
    from lradvisor.search import Fidelity

    for rungs in args.settings:
        Fidelity(rungs=rungs)  # a bad setting fails here, before any training
    return _run(args)


def _run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from lradvisor.search import Fidelity

    recorder = Recorder()
    fid_rows, pick_rows = [], []
    for workload in args.workloads:
        for seed in range(args.seeds):
            f, p = _seed_tables(workload, seed, args, recorder)
            fid_rows += f
            pick_rows += p
    default = Fidelity().rungs[0]
    fid_table, pick_table = _summaries(fid_rows, pick_rows, default)
    how = "proxies at the horizon rule's peak" if args.horizon else "proxies at the run's peak"
    print(f"proxy_fidelity: {args.seeds} seed(s) x {args.specs} specs; {how}; {machine()}; "
          f"benchmark trained {recorder.runs} runs, {recorder.steps} steps")
    print(table(FID_HEADER, fid_table))
    print()
    print(table(PICK_HEADER, pick_table))
    write_csv(args.name, FID_HEADER, fid_table, folder=args.out)
    write_csv(f"{args.name}_search", PICK_HEADER, pick_table, folder=args.out)
    keys = ["workload", "seed", "fraction", "spearman", "top_regret"]
    write_csv(f"{args.name}_runs", keys, [[r[k] for k in keys] for r in fid_rows],
              folder=args.out)
    _plot(fid_rows, args.out / f"{args.name}.png")
    print(f"wrote {args.out / args.name}.csv, {args.name}_search.csv, {args.name}_runs.csv, "
          f"{args.name}.png")
    return fid_rows, pick_rows


if __name__ == "__main__":
    main()
