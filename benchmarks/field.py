"""Does the search's first rung find the oracle's region, and can its short runs tell?

Run: ``python -m benchmarks.field [--quick] [--workloads a,b] [--seeds 0-11] [--jobs 2]
[--name N]``.

The quality benchmark's search (``benchmarks.quality``: ``run_search`` at a budget of 2
full runs) judges its finalists at 25% of the run. Its pick can miss the grid's oracle
for two reasons: its first rung never tried anything as good (a sampling problem), or
it tried something as good and its short runs did not rank it first (a selection
problem). For each workload and seed this runs that search, then runs every distinct
configuration that completed its first rung (the seed's *field*) at full length on the
search's seed, and at the last rung's length on the finalists' seeds (at its length's
peak, as the search trains a finalist: the ``[[horizon]]`` rule). Reported per workload,
mean over seeds:

* the search's pick and the rules' configuration, run at full length;
* the best of the field at full length: what a perfect selector from the same first rung
  would get (the ceiling of selection);
* the field's best by the last rung's mean, as if every configuration of the field had
  gone to the finals (and the full runs that would cost, search included);
* within each seed's field, the Spearman correlation with the full-length values of the
  first-rung value and of the last-rung mean (averaged over seeds with >= 4 configs).

Lower is better for every built-in workload. Results: ``<name>.csv`` (one row per
field configuration), ``<name>.md``, and ``<name>.png`` (proxy value against full-length
value, the field's best and the search's pick marked).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

from benchmarks._common import RESULTS, machine, run_tasks, table, write_csv
from benchmarks._common import spearman as _spearman  # nan for constant ranks
from benchmarks.finals import parse_seeds
from benchmarks.quality import profile_of, quality_search

WORKLOADS = ("digits-cnn", "digits-finetune", "tabular-mlp")  # charlm: 14 s a full run


def run_field(name: str, seed: int, steps: int | None = None) -> dict[str, Any]:
    """The quality search on ``seed``, and its first rung's field run at full length and
    at the last rung's length."""
    from lradvisor.rules import advise
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search._fidelity import rung_steps
    from lradvisor.search._report import trial_rows
    from lradvisor.search._space import SearchSpace
    from lradvisor.workloads import get_workload, run

    work = get_workload(name)
    steps = steps or work.total_steps
    profile = profile_of(work, steps)
    result = quality_search(name, profile, seed, "-field")
    space = SearchSpace.from_prior(advise(profile).prior)  # as run_search builds it
    rows = trial_rows(result.study)
    last = max(r["rung"] for r in rows if r["state"] == "COMPLETE")
    fraction = next(r["fidelity"] for r in rows if r["rung"] == last)
    seeds = sorted({r["seed"] for r in rows if r["rung"] == last})
    finals: dict[str, list[float]] = {}
    for row in rows:
        if row["rung"] == last:
            finals.setdefault(row["spec"], []).append(row["value"])
    pick = result.recommendation.spec.to_json() if result.recommendation else None
    field: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["rung"] != 0 or row["state"] != "COMPLETE" or not row["spec"]:
            continue
        entry = field.setdefault(row["spec"], {"origin": row["origin"], "first": []})
        entry["first"].append(row["value"])
    for text, entry in field.items():
        spec = ScheduleSpec.from_json(text)
        entry["full"] = run(name, spec, steps, seed, device="cpu")[0]
        short = space.proxy_spec(spec, fraction)  # a finalist's peak at that length
        entry["last"] = [run(name, short, rung_steps(fraction, steps), s, device="cpu")[0]
                         for s in seeds]
        entry.update(family=spec.family, peak_lr=spec.peak_lr, describe=spec.describe())
    if pick is not None and pick not in field:  # a searched peak outside the field
        spec = ScheduleSpec.from_json(pick)
        field[pick] = {"origin": "pick", "first": [], "last": [], "family": spec.family,
                       "peak_lr": spec.peak_lr, "describe": spec.describe(),
                       "full": run(name, spec, steps, seed, device="cpu")[0]}
    return {"workload": name, "seed": seed, "steps": steps, "fraction": fraction,
            "seeds": seeds, "pick": pick, "field": field,
            "search_runs": result.steps_used / steps,
            "finals_runs": sum(r["steps_used"] or 0 for r in rows if r["rung"] == last) / steps,
            "finals": finals}


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (``benchmarks._common``); ``nan`` under 4 points or
    without spread."""
    return _spearman(xs, ys) if len(xs) >= 4 else math.nan


def seed_facts(result: dict[str, Any]) -> dict[str, Any]:
    """One seed's figures: the pick, the rules', the field's best, and the rank checks."""
    field = {k: v for k, v in result["field"].items() if v["first"]}
    full = {k: v["full"] for k, v in field.items()}
    rules = next((k for k, v in field.items() if v["origin"] == "rules"), None)
    finite = [k for k in field
              if math.isfinite(full[k]) and all(map(math.isfinite, field[k]["last"]))]
    by_last = min(finite, key=lambda k: statistics.fmean(field[k]["last"]))
    first = [statistics.fmean(field[k]["first"]) for k in finite]
    last = [statistics.fmean(field[k]["last"]) for k in finite]
    # every field configuration at the last rung on the finalists' seeds, not only theirs
    all_finals = (result["search_runs"] - result["finals_runs"]
                  + len(field) * len(result["seeds"]) * result["fraction"])
    return {
        "pick": result["field"][result["pick"]]["full"] if result["pick"] else math.nan,
        "rules": full[rules] if rules else math.nan,
        "best": min(full[k] for k in finite),
        "by_last": full[by_last],
        "field": len(field),
        "rho_first": spearman(first, [full[k] for k in finite]),
        "rho_last": spearman(last, [full[k] for k in finite]),
        "search_runs": result["search_runs"],
        "all_finals_runs": all_finals,
    }


def summarise(results: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per workload: means over its seeds."""
    rows = []
    for name in dict.fromkeys(r["workload"] for r in results):
        facts = [seed_facts(r) for r in results if r["workload"] == name]

        def mean(key: str, facts: list[dict[str, Any]] = facts) -> float:
            values = [f[key] for f in facts if math.isfinite(f[key])]
            return statistics.fmean(values) if values else math.nan

        rows.append([name, len(facts), f"{mean('field'):.1f}", f"{mean('rules'):.4g}",
                     f"{mean('pick'):.4g}", f"{mean('by_last'):.4g}", f"{mean('best'):.4g}",
                     f"{mean('rho_first'):.2f}", f"{mean('rho_last'):.2f}",
                     f"{mean('search_runs'):.2f}", f"{mean('all_finals_runs'):.2f}"])
    return rows


HEADER = ["workload", "seeds", "field (configs)", "rules", "search's pick",
          "field's best by the last rung", "field's best at full length",
          "Spearman, first rung", "Spearman, last rung", "search (full runs)",
          "all to the finals (full runs)"]


def field_rows(results: list[dict[str, Any]]) -> list[list[Any]]:
    """One CSV row per field configuration."""
    out = []
    for r in results:
        for text, e in r["field"].items():
            out.append([r["workload"], r["seed"], e["origin"], text == r["pick"], e["family"],
                        e["peak_lr"], e["describe"], json.dumps(e["first"]),
                        json.dumps(e["last"]), e["full"]])
    return out


def plot(results: list[dict[str, Any]], path: Any) -> None:
    """Per workload: the first-rung and last-rung values against the full-length one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    names = list(dict.fromkeys(r["workload"] for r in results))
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 4 * len(names)), squeeze=False)
    for row, name in zip(axes, names, strict=True):
        for ax, key, label in ((row[0], "first", "first rung (mean)"),
                               (row[1], "last", "last rung (mean of its seeds)")):
            xs_all: list[float] = []
            ys_all: list[float] = []
            for r in (r for r in results if r["workload"] == name):
                entries = [(e, t == r["pick"]) for t, e in r["field"].items() if e[key]]
                xs = [statistics.fmean(e[key]) for e, _ in entries]
                ys = [e["full"] for e, _ in entries]
                xs_all += xs
                ys_all += ys
                ax.scatter(xs, ys, s=12, alpha=0.5, color="tab:blue")
                picked = [(x, y) for (e, p), x, y in zip(entries, xs, ys, strict=True) if p]
                if picked:
                    ax.scatter([x for x, _ in picked], [y for _, y in picked], s=40,
                               marker="x", color="tab:red")
            # log axes where the values span a decade or more, else a narrow range reads
            # better on linear ones (tabular-mlp's losses differ by a few percent)
            for values, setter, axis in ((xs_all, ax.set_xscale, ax.xaxis),
                                         (ys_all, ax.set_yscale, ax.yaxis)):
                finite = [v for v in values if math.isfinite(v) and v > 0]
                if finite and max(finite) >= 10 * min(finite):
                    setter("log")
                    axis.set_minor_formatter(NullFormatter())  # they crowd each other
            ax.set_xlabel(f"{label}, validation value")
            ax.set_ylabel("full length")
            ax.set_title(f"{name}: the field (x: the search's pick)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[list[Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--seeds", default="0-11", help="e.g. 0-11 or 0,3 (default 0-11)")
    parser.add_argument("--quick", action="store_true",
                        help="seeds 0-2 only (about a minute on 2 cores)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--name", default=None, help="results' file stem (default field, "
                        "field_quick with --quick)")
    args = parser.parse_args(argv)
    seeds = "0-2" if args.quick else args.seeds
    args.name = args.name or ("field_quick" if args.quick else "field")
    tasks = [(n, s) for n in args.workloads.split(",") for s in parse_seeds(seeds)]
    start = time.perf_counter()
    results = run_tasks(run_field, tasks, args.jobs)
    elapsed = time.perf_counter() - start
    rows = summarise(results)
    write_csv(args.name, ["workload", "seed", "origin", "picked", "family", "peak_lr",
                          "spec", "first rung", "last rung", "full length"],
              field_rows(results))
    plot(results, RESULTS / f"{args.name}.png")
    text = "\n".join([
        f"benchmarks/field: {machine()}; seeds {seeds}; {elapsed / 60:.1f} min; the "
        f"last rung at {results[0]['fraction']:g} of the run on {len(results[0]['seeds'])} "
        "seeds; mean full-length value over seeds (lower is better)", "",
        table(HEADER, rows)])
    (RESULTS / f"{args.name}.md").write_text(text + "\n")
    print(text)
    return rows


if __name__ == "__main__":
    main()
