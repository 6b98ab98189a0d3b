"""How much does the plateau pruner save? Every pruner on the same trials, per workload.

Run: ``python -m benchmarks.pruners [--quick]``. ``--save-curves FILE.json`` keeps the
recorded curves and ``--curves FILE.json`` replays them without training (seconds, not
minutes: for sweeps over pruner settings); ``--first-seed`` picks other seeds.

For each workload and seed, one fixed sequence of specs (the rules' top 3 picks, then
draws of a seeded random sampler over the rules' search space) is trained once at the
first rung's proxy length (``Fidelity().rungs[0]`` of the full run) and its curves
recorded. The sequence is
then replayed, trial after trial, through the search's own ``TrialRunner`` into a
fresh in-memory Optuna study for each pruner of ``make_pruner`` (default settings):
the pruner sees exactly the reports a real run makes, in the same order, and a pruned
trial costs the steps up to its last report. Training is deterministic on the CPU
(checked at start), so this equals re-training under each pruner.

Measured per pruner (mean ± std over seeds):

* **steps**: optimizer steps of all trials, pruned ones included; and the saving
  relative to ``none``;
* **best**: the best completed value; **gap**: its relative distance to ``none``'s;
* **winner pruned**: seeds in which the eventual winner (the best final value under
  ``none``) was pruned;
* **AUC**: area under the normalised best-so-far curve. x: cumulative steps divided by
  ``none``'s total (a pruner that stops early holds its last best to x = 1). y: the
  regret of the best completed value so far, ``(best - v*) / (v_med - v*)`` clipped to
  [0, 1], where ``v*`` is ``none``'s best and ``v_med`` the median final value under
  ``none``; y = 1 before the first completed trial. 0 is ideal (the best at once),
  1 is never better than a typical trial. Lower is better.

Targets (BENCHMARKS.md): ``plateau`` ≥ 60% fewer steps than ``none`` with best value
within 0.5%; prunes the eventual winner in ≤ 5% of seeds; best AUC on most workloads.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, mean_std, table, write_csv
from benchmarks._trials import Curve, Recorder, check_deterministic, search_space, spec_sequence
from lradvisor.schedules import ScheduleSpec

__all__ = ["Outcome", "area_under_curve", "main", "proxy_curves", "replay"]

PRUNERS = ("none", "median", "patient", "successive_halving", "hyperband", "wilcoxon",
           "plateau")
QUICK = {"workloads": ("digits-cnn", "tabular-mlp"), "seeds": 3, "trials": 20}
FULL = {"workloads": ("digits-cnn", "charlm", "digits-finetune", "tabular-mlp"),
        "seeds": 5, "trials": 40}


@dataclass(frozen=True)
class Outcome:
    """One pruner on one seed's trial sequence: each trial's state, value and steps."""

    states: tuple[str, ...]
    values: tuple[float | None, ...]
    steps: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.steps)

    @property
    def best(self) -> float:
        done = [v for s, v in zip(self.states, self.values, strict=False)
                if s == "COMPLETE" and v is not None and math.isfinite(v)]
        return min(done, default=math.inf)


class _Replay:
    """A trainable that reports a recorded curve: the run ``ctx.spec`` made."""

    def __init__(self, curves: dict[str, Curve]) -> None:
        self.curves = curves

    def __call__(self, ctx: object) -> float:
        curve = self.curves[ctx.spec.to_json()]  # type: ignore[attr-defined]
        for step, value in curve.points:
            ctx.report(step, value)  # type: ignore[attr-defined]
            if not math.isfinite(value):
                return math.inf
        return curve.final


def proxy_curves(workload: str, specs: Sequence[Any], fraction: float, steps: int,
                 seed: int, recorder: Recorder) -> dict[str, Curve]:
    """The recorded proxy run of each spec, by the JSON of the spec it trains: at the
    peak the search gives a proxy at ``fraction`` (the ``[[horizon]]`` rule, for SGD)."""
    space = search_space(workload)[0]
    trained = [space.proxy_spec(s, fraction) for s in specs]
    return {t.to_json(): recorder.curve(workload, t, steps, seed) for t in trained}


def replay(pruner: str, workload: str, specs: Sequence[ScheduleSpec],
           curves: dict[str, Curve],
           fraction: float, seed: int, full_steps: int | None = None,
           settings: Mapping[str, Any] | None = None) -> Outcome:
    """Run ``specs`` in order through the search's ``TrialRunner`` under ``pruner``.

    ``curves`` (see :func:`proxy_curves`) maps the JSON of the spec each proxy trains
    to its recorded run at ``fraction`` of ``full_steps`` (default: the workload's full
    run). The rules' first pick runs as the search runs it: never pruned.
    ``settings``: arguments for ``make_pruner`` (default: the pruner's defaults), for
    sweeps over them.
    """
    import optuna

    from lradvisor.search import Fidelity
    from lradvisor.search._pruner import make_pruner
    from lradvisor.search._rungs import Planned
    from lradvisor.search._trial import TrialRunner
    from lradvisor.workloads import get_workload

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = get_workload(workload)
    # A fixed name: Hyperband assigns brackets by a hash of the study name.
    study = optuna.create_study(direction="minimize", study_name=f"{workload}-{seed}",
                                pruner=make_pruner(pruner, **(settings or {})),
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    space, picks = search_space(workload)
    runner = TrialRunner(study, space, _Replay(curves),
                         Fidelity(rungs=(fraction, 1.0)), full_steps or work.total_steps,
                         work.steps_per_epoch, "cpu")
    # as in a real search, the rules' first pick is its safety net: never pruned
    rules = picks[0].to_json() if picks else None
    records = [runner.run(Planned(spec, 0, seed,
                                  "rules" if spec.to_json() == rules else "sampled"))
               for spec in specs]
    return Outcome(tuple(r.state for r in records), tuple(r.value for r in records),
                   tuple(r.steps_used for r in records))


def area_under_curve(outcome: Outcome,
                     reference: Outcome) -> tuple[float, list[tuple[float, float]]]:
    """Normalised area under ``outcome``'s best-so-far curve (see the module docstring).

    Returns the area and the curve's corners ``(x, y)`` (y holds from each x on).
    """
    finals = sorted(v for s, v in zip(reference.states, reference.values, strict=False)
                    if s == "COMPLETE" and v is not None and math.isfinite(v))
    v_star, v_med = finals[0], statistics.median(finals)
    scale = max(v_med - v_star, 1e-12)
    corners, spent, best = [(0.0, 1.0)], 0, math.inf
    for state, value, steps in zip(outcome.states, outcome.values, outcome.steps, strict=False):
        spent += steps
        if state == "COMPLETE" and value is not None and math.isfinite(value) and value < best:
            best = value
            y = min(1.0, max(0.0, (best - v_star) / scale))
            corners.append((min(spent / reference.total, 1.0), y))
    ends = [*corners[1:], (1.0, 0)]
    area = sum((x1 - x0) * y0 for (x0, y0), (x1, _) in zip(corners, ends, strict=False))
    return area, corners


def _seed_rows(workload: str, seed: int, args: argparse.Namespace,
               recorder: Recorder) -> list[dict[str, Any]]:
    """Every pruner on one seed's sequence: one dict of measures per pruner."""
    from lradvisor.search import rung_steps

    full = _full_steps(workload, args)
    steps = rung_steps(args.fraction, full)
    specs = spec_sequence(workload, args.trials, seed, steps)
    curves = proxy_curves(workload, specs, args.fraction, steps, seed, recorder)
    outcomes = {p: replay(p, workload, specs, curves, args.fraction, seed, full)
                for p in args.pruners}
    none = outcomes["none"]
    finals = [v if s == "COMPLETE" and v is not None else math.inf
              for s, v in zip(none.states, none.values, strict=False)]
    winner = min(range(len(finals)), key=finals.__getitem__)
    rows = []
    for name, out in outcomes.items():
        area, corners = area_under_curve(out, none)
        rows.append({
            "workload": workload, "seed": seed, "pruner": name, "trials": len(specs),
            "proxy_steps": steps, "steps": out.total, "pruned": out.states.count("PRUNED"),
            "best": out.best, "winner_pruned": out.states[winner] == "PRUNED",
            "auc": area, "corners": corners,
        })
    return rows


def _full_steps(workload: str, args: argparse.Namespace) -> int:
    """The full run's length: ``--full-steps`` when given, else the workload's."""
    from lradvisor.workloads import get_workload

    return int(args.full_steps or get_workload(workload).total_steps)


def _aggregate(rows: list[dict[str, Any]]) -> list[list[object]]:
    """One table row per (workload, pruner): means and spreads over seeds."""
    out = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        mine = [r for r in rows if r["workload"] == workload]
        none = [r for r in mine if r["pruner"] == "none"]
        none_steps = statistics.fmean(r["steps"] for r in none)
        none_best = statistics.fmean(r["best"] for r in none)
        for pruner in dict.fromkeys(r["pruner"] for r in mine):
            rs = [r for r in mine if r["pruner"] == pruner]
            steps, steps_sd = mean_std([r["steps"] for r in rs])
            best, best_sd = mean_std([r["best"] for r in rs])
            auc, auc_sd = mean_std([r["auc"] for r in rs])
            gaps = [(r["best"] - n["best"]) / abs(n["best"])
                    for r, n in zip(rs, none, strict=False)]
            out.append([
                workload, pruner, f"{steps:.0f} ± {steps_sd:.0f}",
                f"{100 * (1 - steps / none_steps):.1f}",
                f"{statistics.fmean(r['pruned'] for r in rs):.1f}",
                f"{best:.4f} ± {best_sd:.4f}", f"{100 * (best - none_best) / abs(none_best):+.2f}",
                f"{100 * max(gaps):+.2f}",
                f"{sum(bool(r['winner_pruned']) for r in rs)}/{len(rs)}",
                f"{auc:.3f} ± {auc_sd:.3f}",
            ])
    return out


HEADER = ["workload", "pruner", "steps (mean ± std)", "saved vs none %", "pruned trials",
          "best (mean ± std)", "gap of mean best %", "worst seed gap %", "winner pruned",
          "AUC (mean ± std)"]


def _targets(rows: list[dict[str, Any]], table_rows: list[list[object]]) -> list[list[object]]:
    """The plateau pruner's targets, one row per workload, and the AUC ranking."""
    out = []
    for line in table_rows:
        if line[1] != "plateau":
            continue
        workload = line[0]
        aucs = {r[1]: float(str(r[9]).split()[0]) for r in table_rows if r[0] == workload}
        low = min(aucs.values())
        best_auc = "/".join(name for name, a in aucs.items() if a <= low + 5e-4)
        saved, gap = float(str(line[3])), float(str(line[6]))
        k, n = (int(x) for x in str(line[8]).split("/"))
        out.append([workload, f"{saved:.1f}% ({'met' if saved >= 60 else 'missed'})",
                    f"{gap:+.2f}% ({'met' if gap <= 0.5 else 'missed'})",
                    f"{k}/{n} ({'met' if k / n <= 0.05 else 'missed'})",
                    f"{best_auc} ({'met' if 'plateau' in best_auc.split('/') else 'missed'})"])
    return out


def _plot(rows: list[dict[str, Any]], path: object) -> None:
    """Mean normalised regret vs normalised steps, one panel per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(1, len(workloads), figsize=(5 * len(workloads), 4), squeeze=False)
    grid = [i / 400 for i in range(401)]
    for ax, workload in zip(axes[0], workloads, strict=False):
        for pruner in dict.fromkeys(r["pruner"] for r in rows):
            curves = [r["corners"] for r in rows
                      if r["workload"] == workload and r["pruner"] == pruner]
            ys = [statistics.fmean(_at(c, x) for c in curves) for x in grid]
            ax.step(grid, ys, where="post", label=pruner,
                    linewidth=2.5 if pruner == "plateau" else 1.2)
        ax.set(title=workload, xlabel="steps / steps of 'none'",
               ylabel="normalised regret of best so far", ylim=(-0.02, 1.02))
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _at(corners: list[tuple[float, float]], x: float) -> float:
    y = corners[0][1]
    for cx, cy in corners:
        if cx > x:
            break
        y = cy
    return y


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['seeds']} seeds x {QUICK['trials']} trials on "
                             f"{', '.join(QUICK['workloads'])}")
    parser.add_argument("--workloads", nargs="+", help="override the workloads")
    parser.add_argument("--seeds", type=int, help="override the number of seeds")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds are first-seed, first-seed + 1, ... (default 0)")
    parser.add_argument("--trials", type=int, help="override the trials per seed")
    parser.add_argument("--fraction", type=float, help="proxy length (default: first rung)")
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS), choices=PRUNERS)
    parser.add_argument("--full-steps", type=int,
                        help="treat the full run as this many steps (smoke tests)")
    parser.add_argument("--name", default="pruners", help="results file stem")
    parser.add_argument("--save-curves", type=Path, metavar="FILE.json",
                        help="write the recorded training curves to this file")
    parser.add_argument("--curves", type=Path, metavar="FILE.json",
                        help="replay curves saved by --save-curves (no determinism "
                             "check; a curve not in the file is trained)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    args.workloads = args.workloads or list(mode["workloads"])
    args.seeds = args.seeds or mode["seeds"]
    args.trials = args.trials or mode["trials"]
    if args.fraction is None:
        from lradvisor.search import Fidelity

        args.fraction = Fidelity().rungs[0]
    if "none" not in args.pruners:
        args.pruners.insert(0, "none")
    return _run(args)


def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search import rung_steps
    from lradvisor.workloads import get_workload

    recorder = Recorder() if args.curves is None else Recorder.load(args.curves)
    for workload in args.workloads if args.curves is None else ():
        spec = ScheduleSpec.create("cosine", peak_lr=get_workload(workload).default_lr)
        steps = min(20, rung_steps(args.fraction, _full_steps(workload, args)))
        if not check_deterministic(workload, spec, steps):
            raise SystemExit(f"{workload}: two identical runs differ; replaying is unsound.")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    rows = [row for workload in args.workloads for seed in seeds
            for row in _seed_rows(workload, seed, args, recorder)]
    if args.save_curves is not None:
        recorder.save(args.save_curves)
    summary = _aggregate(rows)
    targets = _targets(rows, summary)
    print(f"pruners: {args.seeds} seeds x {args.trials} trials at {args.fraction:g} of the "
          f"full run; {machine()}; benchmark trained {recorder.runs} runs, {recorder.steps} steps")
    print(table(HEADER, summary))
    print()
    print(table(["workload", "plateau steps saved (≥ 60%)", "best-value gap (≤ 0.5%)",
                 "winner pruned (≤ 5%)", "best AUC (plateau)"], targets))
    write_csv(args.name, HEADER, summary, folder=args.out)
    keys = ["workload", "seed", "pruner", "trials", "proxy_steps", "steps", "pruned", "best",
            "winner_pruned", "auc"]
    write_csv(f"{args.name}_runs", keys, [[r[k] for k in keys] for r in rows], folder=args.out)
    _plot(rows, args.out / f"{args.name}.png")
    print(f"wrote {args.out / args.name}.csv, {args.name}_runs.csv, {args.name}.png")
    return rows


if __name__ == "__main__":
    main()
