"""How many stored studies does the guide that learns need? Its pick by number of studies.

Run: ``python -m benchmarks.learned [--workloads a,b] [--seeds 12] [--studies 3,5,8,11]
[--jobs 2]``.

For each workload, every seed's search at the quality benchmark's budget (2 full-run
equivalents, the workload's full length) is stored as a study. Then, for each seed and
each count k, the guide is fitted (``lradvisor.learn.fit``, as ``lradvisor rules learn``
does) on k *other* seeds' studies (the next k seeds, wrapping round) and the blended
pick of ``suggest`` runs once at full length on the left-out seed. Fewer studies than
the guide's ``min_studies`` (3) keep the rules' answer by design: k = 0 is the rules
alone. The search's own pick, run at full length on its seed, is the "one new search"
reference. Lower is better for every built-in workload.

Results: ``benchmarks/results/learned.csv`` (every run), ``learned.md`` and
``learned.png``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, grouped_bars, machine, mean_std, table, write_csv

SEARCH = "rules + search (one new search)"


def search_and_rules(name: str, seed: int, steps: int | None = None) -> dict[str, Any]:
    """One seed: the study's evidence, and the rules' and the search's picks at full length."""
    os.environ.setdefault("LRADVISOR_TORCH_THREADS", "1")
    from benchmarks.quality import profile_of, quality_search
    from lradvisor.learn import evidence_of
    from lradvisor.rules import advise
    from lradvisor.workloads import get_workload, run

    work = get_workload(name)
    steps = steps or work.total_steps
    profile = profile_of(work, steps)
    rules = advise(profile).best.spec
    result = quality_search(name, profile, seed)
    picked = result.recommendation.spec if result.recommendation else rules
    return {"evidence": evidence_of(result.study),
            "rules": (run(name, rules, steps, seed, device="cpu")[0], rules.describe()),
            "search": (run(name, picked, steps, seed, device="cpu")[0], picked.describe())}


def learned_pick(name: str, seed: int, evidence: list[dict[str, Any]],
                 steps: int | None = None) -> tuple[float, str]:
    """The guide fitted on ``evidence``: its pick's full-length value on ``seed``, and the pick."""
    os.environ.setdefault("LRADVISOR_TORCH_THREADS", "1")
    from benchmarks.quality import profile_of
    from lradvisor.learn import fit
    from lradvisor.rules import advise
    from lradvisor.rules._learn import blend
    from lradvisor.workloads import get_workload, run

    steps = steps or get_workload(name).total_steps
    guide, _ = fit(evidence)
    spec = blend(advise(profile_of(get_workload(name), steps)), guide).best.spec
    return run(name, spec, steps, seed, device="cpu")[0], spec.describe()


def others(seed: int, seeds: int, k: int) -> list[int]:
    """The next ``k`` seeds after ``seed`` among ``0..seeds-1``, wrapping round."""
    return [(seed + i) % seeds for i in range(1, k + 1)]


def main(argv: list[str] | None = None) -> list[list[Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default="digits-cnn,digits-finetune")
    parser.add_argument("--seeds", type=int, default=12, help="seeds 0..N-1 (N >= 2)")
    parser.add_argument("--studies", default="3,5,8,11",
                        help="comma-separated counts of other seeds' studies (each < seeds)")
    parser.add_argument("--steps", type=int, default=None,
                        help="run length (default: each workload's full length; smoke runs)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--name", default="learned")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    names = args.workloads.split(",")
    counts = [int(k) for k in args.studies.split(",")]
    if args.seeds < 2 or any(not 0 < k < args.seeds for k in counts):
        parser.error(f"--studies must lie in 1..{args.seeds - 1}, but got {args.studies!r}")
    start = time.perf_counter()
    tasks = [(n, s, args.steps) for n in names for s in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        base = {(n, s): got for (n, s, _), got in
                zip(tasks, pool.map(search_and_rules, *zip(*tasks, strict=True)), strict=True)}
        jobs = [(n, s, k, [e for o in others(s, args.seeds, k)
                           if (e := base[(n, o)]["evidence"]) is not None])  # no pick: no study
                for n in names for k in counts for s in range(args.seeds)]
        picks = list(pool.map(learned_pick, *zip(*[(n, s, ev, args.steps)
                                                  for n, s, _, ev in jobs], strict=True)))
    runs: list[list[Any]] = []
    for (n, s), got in base.items():
        runs.append([n, s, 0, 0, "rules", f"{got['rules'][0]:.6g}", got["rules"][1]])
        runs.append([n, s, "", "", SEARCH, f"{got['search'][0]:.6g}", got["search"][1]])
    for (n, s, k, ev), (value, spec) in zip(jobs, picks, strict=True):
        runs.append([n, s, k, len(ev), "learned", f"{value:.6g}", spec])
    out = Path(args.out)
    write_csv(args.name, ["workload", "seed", "studies", "studies with a pick", "method",
                          "final value", "pick"], runs, folder=out)
    rows = summarise(runs, names, counts)
    header = ["workload", "guide", "mean final value", "std", "vs the rules",
              "seeds better than the rules", "seeds better than one new search"]
    text = "\n".join([
        f"benchmarks/learned: {machine()}; seeds 0-{args.seeds - 1}; "
        f"{(time.perf_counter() - start) / 60:.1f} min", "", table(header, rows)])
    (out / f"{args.name}.md").write_text(text + "\n")
    plot(rows, names, out / f"{args.name}.png")
    print(text)
    return rows


def summarise(runs: list[list[Any]], names: list[str], counts: list[int]) -> list[list[Any]]:
    """Per workload and guide (rules, k studies, one new search): the table's rows."""
    rows = []
    for name in names:
        def values(method: str, k: Any = None, name: str = name) -> list[float]:
            return [float(r[5]) for r in sorted(runs, key=lambda r: r[1])
                    if r[0] == name and r[4] == method and (k is None or r[2] == k)]

        rules, search = values("rules"), values(SEARCH)
        guides = [("the rules alone (0 studies)", rules)]
        guides += [(f"learned, {k} studies", values("learned", k)) for k in counts]
        guides.append((SEARCH, search))
        base = statistics.fmean(rules)
        for label, got in guides:
            mean, std = mean_std(got)
            rows.append([name, label, f"{mean:.4g}", f"{std:.2g}",
                         f"{(mean - base) / abs(base):+.1%}",
                         f"{sum(a < b for a, b in zip(got, rules, strict=True))}/{len(got)}",
                         f"{sum(a < b for a, b in zip(got, search, strict=True))}/{len(got)}"])
    return rows


def plot(rows: list[list[Any]], names: list[str], path: Any) -> None:
    """Each guide's mean full-length value against the rules alone, per workload."""
    labels = list(dict.fromkeys(r[1] for r in rows))
    got = {(r[0], r[1]): float(r[4].rstrip("%")) for r in rows}
    grouped_bars(path, labels, {n: [got[(n, lab)] for lab in labels] for n in names},
                 ylabel="full-length value vs the rules alone (%)",
                 title="benchmarks/learned: the guide's pick by number of stored studies")


if __name__ == "__main__":
    main()
