"""Do short finals pick what wins at full length? The trust margin, measured.

Run: ``python -m benchmarks.finals [--workloads a,b] [--seeds 0-5] [--budget 2] [--jobs 2]``.

At a budget too small for full-length finals (the default 2 full runs judges them at
25% of the run), the search's pick rests on short runs, and short runs favour higher
peak LRs than full ones. For each workload and seed this runs the search, then re-runs
every finalist of its last rung at full length on the search's seed, and reports what
the pick would have been, at full length, for each ``Fidelity.trust`` margin (the
rules' configuration stays the pick when the best finalist, at a higher peak LR, leads
it by no more than the margin at the short length, as the search rules; 0 turns it
off), and for the default margin applied whatever the best's peak, as the search did
before. Lower is better for every built-in workload. Results:
``benchmarks/results/finals.csv`` (every finalist), ``finals.md`` and ``finals.png``.

A second table asks whether the search could tell, from its own runs, when a held-back
lead is real: for each search whose best finalist is at a higher peak LR than the
rules' configuration and leads it by no more than the default margin (the case the
margin holds back), it shows that lead at the first rung (one seed, the finalists'
first-rung ancestors) and at the finals, and how often the held-back finalist ends
better at full length.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, finish_figure, machine, run_tasks, table, write_csv

MARGINS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0, math.inf)
DEFAULT_MARGIN = 0.05  # Fidelity().trust


def parse_seeds(text: str) -> list[int]:
    """``"0-5"`` -> ``[0, ..., 5]``; ``"0,3"`` -> ``[0, 3]``."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(part) for part in text.split(",")]


def run_finals(name: str, seed: int, budget: float,
               steps: int | None = None) -> dict[str, Any]:
    """The search's last-rung board, each finalist also run at full length."""
    from benchmarks.quality import profile_of
    from lradvisor.search import Fidelity, run_search
    from lradvisor.search._rungs import leaderboard, lineage, rules_entry
    from lradvisor.search._trial import record_of
    from lradvisor.workloads import get_workload, run

    work = get_workload(name)
    steps = steps or work.total_steps
    profile = profile_of(work, steps)
    result = run_search(workload=name, profile=profile, budget=budget, seed=seed,
                        storage="sqlite://", study_name=f"{name}-{seed}", device="cpu")
    records = [record_of(t) for t in result.study.get_trials(deepcopy=False)]
    by_number = {r.number: r for r in records}
    rung = max(r.rung for r in records if r.state == "COMPLETE")
    below = rules_entry(leaderboard(records, rung - 1, "minimize")) if rung else None
    rules = None if below is None else below.spec.to_json()  # as the search tells it
    board = []
    for entry in leaderboard(records, rung, "minimize"):
        full, _ = run(name, entry.spec, steps, seed, device="cpu")
        root = by_number[lineage(records, entry.best.number)[0]]  # its first-rung run
        board.append({"spec": entry.spec.describe(), "peak": entry.spec.peak_lr,
                      "score": entry.score,
                      "values": list(entry.values), "full": full,
                      "rules": entry.spec.to_json() == rules,
                      "first": root.value if root.rung == 0 else None})
    fraction = Fidelity().fit(budget).rungs[rung]
    return {"name": name, "seed": seed, "fraction": fraction, "board": board}


def pick(board: list[dict[str, Any]], margin: float, *,
         any_peak: bool = False) -> dict[str, Any]:
    """The finalist a trust ``margin`` picks (lower is better): the best unless the
    rules' configuration is within ``margin`` of it and the best's peak LR is higher
    (``any_peak``: whatever its peak, the rule before the margin was for higher peaks)."""
    from lradvisor.search._rungs import higher_peak  # the search's own rule

    best, rules, lead = _contest(board)
    if rules is None or lead > margin:
        return best
    held = any_peak or higher_peak(best.get("peak"), rules.get("peak"))
    return rules if held else best


def _contest(board: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                  float]:
    """The best finalist, the rules' configuration (``None``: not a finalist) and how far
    the best leads it (0 without it)."""
    from lradvisor.search._rungs import rules_lead

    best = min(board, key=lambda e: e["score"])
    rules = next((e for e in board if e["rules"]), None)
    lead = 0.0 if rules is None else rules_lead(rules["score"], best["score"], "minimize")
    return best, rules, lead


def held_back(board: list[dict[str, Any]],
              margin: float = DEFAULT_MARGIN) -> dict[str, Any] | None:
    """The search's case the trust margin is for, or ``None``: the best finalist, at a
    higher peak LR than the rules' configuration, leads it by no more than ``margin``.

    Returns its lead at the finals (``lead``) and at the first rung (``first_lead``,
    ``None`` when a first-rung value is missing), both relative to the best's value at
    that length, and whether it ends better at full length (``better``).
    """
    from lradvisor.search._rungs import higher_peak, rules_lead

    best, rules, lead = _contest(board)
    if (rules is None or rules is best or lead > margin
            or not higher_peak(best.get("peak"), rules.get("peak"))):
        return None
    first = None
    if best.get("first") is not None and rules.get("first") is not None:
        first = rules_lead(rules["first"], best["first"], "minimize")
    return {"lead": lead, "first_lead": first, "better": best["full"] < rules["full"]}


def lead_rows(names: list[str], results: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per workload: the held-back cases, how many end better at full length,
    their leads at the first rung and at the finals, and the ratio of the two."""
    rows = []
    for name in names:
        cases = [c for r in results if r["name"] == name
                 for c in [held_back(r["board"])] if c is not None]
        known = [c for c in cases if c["first_lead"] is not None]
        ratios = sorted(c["lead"] / c["first_lead"] for c in known if c["first_lead"])
        rows.append([
            name, f"{len(cases)} of {sum(r['name'] == name for r in results)}",
            f"{sum(c['better'] for c in cases)} of {len(cases)}",
            _span([c["first_lead"] for c in known], percent=True),
            _span([c["lead"] for c in cases], percent=True),
            _span(ratios) if ratios else "—",
        ])
    return rows


def _span(values: list[float], *, percent: bool = False) -> str:
    """``median (min to max)`` of ``values``, or a dash when there are none."""
    if not values:
        return "—"
    show = (lambda v: f"{100 * v:+.1f}%") if percent else (lambda v: f"{v:.2f}")
    return (f"{show(statistics.median(values))} "
            f"({show(min(values))} to {show(max(values))})")


def _peak_of(text: str) -> float | None:
    """The peak LR at the end of a spec's description (``... peak 0.0039``)."""
    head, _, tail = text.rpartition(" peak ")
    try:
        return float(tail) if head else None
    except ValueError:
        return None


def _label(margin: float) -> str:
    return f"{margin:.0%}" if math.isfinite(margin) else "∞ (no higher peak wins)"


def replay(path: Path) -> list[dict[str, Any]]:
    """The results written to ``path`` (a ``finals.csv``), to tabulate them again."""
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            key = (row["workload"], int(row["seed"]))
            result = results.setdefault(key, {"name": key[0], "seed": key[1], "board": [],
                                              "fraction": float(row["finals' length"])})
            # older files have no peak column: the description ends with it (3 digits)
            peak = float(row["peak LR"]) if row.get("peak LR") else _peak_of(row["finalist"])
            first = row.get("first-rung value")  # older files have none
            result["board"].append({"spec": row["finalist"], "rules": row["rules' pick"] == "True",
                                    "peak": peak, "first": float(first) if first else None,
                                    "score": float(row["short-run score (worst seed)"]),
                                    "full": float(row["full-length value"])})
    return list(results.values())


def main(argv: list[str] | None = None) -> list[list[Any]]:
    """Run, write the results, print the table; returns the table's rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default="digits-cnn,charlm,digits-finetune,tabular-mlp")
    parser.add_argument("--seeds", default="0-5", help="e.g. 0-5 or 0,1,2")
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--full-steps", type=int, default=None,
                        help="full-run length (default: each workload's; tests use less)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    parser.add_argument("--name", default="finals", help="results file stem")
    parser.add_argument("--replay", default=None,
                        help="tabulate a finals.csv again instead of running")
    args = parser.parse_args(argv)
    out = Path(args.out)
    names, seeds = args.workloads.split(","), parse_seeds(args.seeds)
    start = time.perf_counter()
    if args.replay:
        results = [r for r in replay(Path(args.replay))
                   if r["name"] in names and r["seed"] in seeds]
        names = [n for n in names if any(r["name"] == n for r in results)]  # those it has
        seeds = sorted({r["seed"] for r in results})
        elapsed = math.nan
    else:
        tasks = [(n, s, args.budget, args.full_steps) for s in seeds for n in names]
        results = run_tasks(run_finals, tasks, args.jobs)
        elapsed = time.perf_counter() - start
    write_csv(args.name, ["workload", "seed", "finals' length", "finalist", "rules' pick",
                          "short-run score (worst seed)", "full-length value", "peak LR",
                          "first-rung value"],
              [[r["name"], r["seed"], r["fraction"], e["spec"], e["rules"],
                f"{e['score']:.10g}", f"{e['full']:.10g}",
                "" if e.get("peak") is None else f"{e['peak']:.10g}",
                "" if e.get("first") is None else f"{e['first']:.10g}"]
               for r in results for e in r["board"]],
              folder=out)
    rows = []
    half = seeds[: (len(seeds) + 1) // 2], seeds[(len(seeds) + 1) // 2:]
    groups = [g for g in half if g]
    for margin, any_peak in [(m, False) for m in MARGINS] + [(DEFAULT_MARGIN, True)]:
        row: list[Any] = [_label(margin) + (", any peak (before)" if any_peak else "")]
        for name in names:
            for group in groups:
                got = [pick(r["board"], margin, any_peak=any_peak)["full"] for r in results
                       if r["name"] == name and r["seed"] in group]
                row.append(f"{statistics.fmean(got):.4g}")
        rows.append(row)
    header = ["trust margin"] + [f"{n} (seeds {g[0]}-{g[-1]})" for n in names for g in groups]
    fraction = results[0]["fraction"]
    text = "\n".join([
        f"benchmarks/finals: {machine()}; budget {args.budget:g} (finals at {fraction:.0%} "
        f"of the run); "
        + (f"{elapsed / 60:.1f} min" if math.isfinite(elapsed) else f"replayed {args.replay}"),
        "",
        "Mean full-length value of the pick, per trust margin; lower is better.", "",
        table(header, rows), "",
        f"Held back by the {DEFAULT_MARGIN:.0%} margin (best finalist at a higher peak LR, "
        "within the margin): its lead over the rules' configuration at the first rung "
        f"(one seed) and at the finals ({fraction:.0%}), median (range).", "",
        table(["workload", "held back", "ends better at full length", "lead, first rung",
               "lead, finals", "finals lead / first-rung lead"], lead_rows(names, results)),
    ])
    (out / f"{args.name}.md").write_text(text + "\n")
    _plot(names, groups, results, out / f"{args.name}.png")
    print(text)
    return rows


def _plot(names: list[str], groups: list[list[int]], results: list[dict[str, Any]],
          path: Any) -> None:
    """Full-length value of the pick against the margin, relative to margin 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    xs = list(range(len(MARGINS)))
    for name in names:
        for group in groups:
            mine = [r for r in results if r["name"] == name and r["seed"] in group]
            ys = [statistics.fmean(pick(r["board"], m)["full"] for r in mine) for m in MARGINS]
            rel = [100 * (y - ys[0]) / abs(ys[0]) for y in ys]
            ax.plot(xs, rel, marker="o", label=f"{name}, seeds {group[0]}-{group[-1]}")
    ax.set_xticks(xs)
    ax.set_xticklabels([_label(m) if math.isfinite(m) else "∞" for m in MARGINS])
    ax.set_xlabel("trust margin")
    finish_figure(fig, ax, path, ylabel="pick's full-length value vs margin 0 (%)",
                  title="benchmarks/finals: keeping the rules' pick after short finals")


if __name__ == "__main__":
    main()
