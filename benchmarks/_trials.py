"""Fixed trial sequences on the built-in workloads, and their recorded training curves.

The pruner and proxy-fidelity benchmarks compare methods on *identical* trials: the
specs are drawn once per seed by a seeded random sampler over the rules' search space
for the workload (the rules' top picks first, as ``run_search`` orders its first
rung), and each (spec, length, seed) is trained once. Training is deterministic on
the CPU (one torch thread, seeded initialisation and data order; checked by
:func:`check_deterministic`), so a recorded curve is exactly what a re-run would
report, and every method is judged on the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lradvisor.errors import LRAdvisorError
from lradvisor.schedules import ScheduleSpec

__all__ = ["Curve", "Recorder", "check_deterministic", "search_space", "spec_sequence"]


@dataclass(frozen=True)
class Curve:
    """One training run: its final value (``inf``: diverged) and its reports."""

    final: float
    points: tuple[tuple[int, float], ...]


def search_space(workload: str) -> tuple[Any, list[ScheduleSpec]]:
    """``(SearchSpace, rules' picks)`` that ``run_search`` would use for ``workload``."""
    from lradvisor.rules import TaskProfile, advise
    from lradvisor.search import SearchSpace
    from lradvisor.search._search import relative_spec
    from lradvisor.workloads import get_workload

    work = get_workload(workload)
    advice = advise(TaskProfile.from_dict(work.profile()))
    space = SearchSpace.from_prior(advice.prior)
    picks = [relative_spec(r.spec, work.total_steps) for r in advice.recommendations]
    return space, [p for p in picks if p is not None and p.family in space.names]


def spec_sequence(
    workload: str, count: int, seed: int, steps: int, *, rules_first: int = 3
) -> list[ScheduleSpec]:
    """``count`` distinct specs: the rules' first ``rules_first`` picks, then random draws.

    Draws come from Optuna's ``RandomSampler(seed)`` over the workload's search space;
    a draw that does not fit a run of ``steps`` steps is skipped.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, picks = search_space(workload)
    specs: list[ScheduleSpec] = []
    seen: set[str] = set()

    def add(spec: ScheduleSpec) -> None:
        try:
            spec.multiplier_fn(steps)
        except LRAdvisorError:
            return
        if spec.to_json() not in seen:
            seen.add(spec.to_json())
            specs.append(spec)

    for spec in picks[:rules_first]:
        add(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(20 * count):
        if len(specs) >= count:
            break
        add(space.sample(study.ask()))
    return specs[:count]


@dataclass
class Recorder:
    """Trains (workload, spec, steps, seed) once and remembers the curve.

    Attributes:
        runs, steps: training runs made and optimizer steps they took (the cost of
            the benchmark itself, not of any method it compares).
    """

    device: str = "cpu"
    runs: int = 0
    steps: int = 0
    _cache: dict[tuple[str, str, int, int], Curve] = field(default_factory=dict)

    def curve(self, workload: str, spec: ScheduleSpec, steps: int, seed: int) -> Curve:
        """The recorded run of ``spec`` for ``steps`` steps on ``seed`` (trained on a miss)."""
        from lradvisor.workloads import run

        key = (workload, spec.to_json(), steps, seed)
        if key not in self._cache:
            final, points = run(workload, spec, total_steps=steps, seed=seed, device=self.device)
            self.runs += 1
            self.steps += points[-1][0] if points else steps
            self._cache[key] = Curve(float(final), tuple(points))
        return self._cache[key]

    def save(self, path: Path) -> None:
        """Write every recorded curve to ``path`` as JSON (``inf`` and NaN as strings).

        Replaying saved curves (:meth:`load`) makes a sweep over pruner settings take
        seconds instead of re-training for minutes.
        """
        runs = [{"workload": w, "spec": s, "steps": n, "seed": seed,
                 "final": repr(c.final), "points": [[k, repr(v)] for k, v in c.points]}
                for (w, s, n, seed), c in self._cache.items()]
        Path(path).write_text(json.dumps({"runs": runs}))

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> Recorder:
        """A recorder holding the curves :meth:`save` wrote to ``path``.

        A curve asked for that is not in the file is trained as usual.
        """
        recorder = cls(device=device)
        for run in json.loads(Path(path).read_text())["runs"]:
            key = (run["workload"], run["spec"], int(run["steps"]), int(run["seed"]))
            points = tuple((int(k), float(v)) for k, v in run["points"])
            recorder._cache[key] = Curve(float(run["final"]), points)
        return recorder


def check_deterministic(workload: str, spec: ScheduleSpec, steps: int, seed: int = 0) -> bool:
    """Whether two runs of the same spec, length and seed report identical curves."""
    from lradvisor.workloads import run

    first = run(workload, spec, total_steps=steps, seed=seed, device="cpu")
    second = run(workload, spec, total_steps=steps, seed=seed, device="cpu")
    return first[1] == second[1] and (
        first[0] == second[0] or (math.isinf(first[0]) and math.isinf(second[0]))
    )
