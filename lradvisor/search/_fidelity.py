"""How a search spends its compute: rungs of growing proxy length, and the budget.

A trial trains for a fraction of the full run, with the schedule's shape compressed to
that length. One fixed short proxy misleads (a 10% proxy can rank schedules almost
opposite to full runs), so the search climbs rungs as successive halving does:

1. rung 0: ``n`` trials at ``rungs[0]`` of the run, the rules' top recommendations
   first, the sampler's after them; the plateau pruner stops hopeless ones early;
2. each middle rung: the top ``promote`` share of the rung below (at least
   ``finalists``, at most ``max_promoted``, the rules' best configuration always among
   them, and never pruned) is re-run at the longer length, plus the rung leader's peak
   LR times each of ``lr_factors`` (peak LR does not transfer unchanged between
   lengths);
3. the last rung: the top ``finalists`` of the rung below (the rules' configuration
   always among them), each on ``seeds`` seeds, at ``rungs[-1]`` (full length by
   default). When it is shorter than the full run, the rules' configuration stays the
   pick unless beaten by more than ``trust`` by a finalist at a higher peak LR (short
   runs favour higher peak LRs).

Compute is counted in optimizer steps; a budget is stated in full-run equivalents
(total steps / full-run steps). The budget is spent in order, each stage keeping back
what the later ones need at the least; when it cannot afford the full-length final,
the final rung runs at the longest length it can afford (see :meth:`Fidelity.fit`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from lradvisor.errors import StudyError

__all__ = ["Fidelity", "rung_steps"]


@dataclass(frozen=True)
class Fidelity:
    """The multi-fidelity settings of a search, validated on creation.

    Args:
        rungs: proxy lengths as fractions of the full run, strictly increasing in
            ``(0, 1]``, at least two.
        promote: share of a rung's finished trials promoted to the next middle rung.
        max_promoted: at most this many configurations promoted to a middle rung.
        lr_factors: the middle rungs also try the rung leader at its peak LR times each.
        finalists: configurations that reach the last rung.
        seeds: seeds each finalist is judged on (at least two).
        final_share: at most this share of a budget goes to the last rung.
        tie: relative gap within which finalists count as tied; the lower peak LR
            (more margin from divergence) is then preferred.
        trust: when the last rung is shorter than the full run, the rules'
            configuration stays the pick unless a finalist at a higher peak LR beats
            its score by more than this share: short runs favour higher peak LRs than
            full ones (short-horizon bias), so a small lead at a fraction of the run is
            not evidence enough for a higher peak. A finalist at a peak no higher than
            the rules' needs only to lead. ``0`` turns this off; it never applies at
            full length.

    Example:
        >>> Fidelity().rungs
        (0.1, 0.33, 1.0)
        >>> Fidelity().fit(budget=2.0).rungs  # too little for full-length finals
        (0.1, 0.25)
    """

    rungs: tuple[float, ...] = (0.1, 0.33, 1.0)
    promote: float = 1 / 3
    max_promoted: int = 6
    lr_factors: tuple[float, ...] = (0.5, 2.0)
    finalists: int = 2
    seeds: int = 2
    final_share: float = 0.5
    tie: float = 0.005
    trust: float = 0.05

    def __post_init__(self) -> None:
        rungs = tuple(float(r) for r in self.rungs)
        if len(rungs) < 2 or any(not (0 < r <= 1) for r in rungs):
            raise StudyError(
                "rungs must be at least two fractions of the run in (0, 1], "
                f"but got {self.rungs!r}."
            )
        if any(b <= a for a, b in zip(rungs, rungs[1:], strict=False)):
            raise StudyError(f"rungs must be strictly increasing, but got {self.rungs!r}.")
        object.__setattr__(self, "rungs", rungs)
        object.__setattr__(self, "lr_factors", tuple(float(f) for f in self.lr_factors))
        if not (0 < self.promote <= 1):
            raise StudyError(f"promote must be in (0, 1], but got {self.promote!r}.")
        if any(not (math.isfinite(f) and f > 0) for f in self.lr_factors):
            raise StudyError(f"lr_factors must be numbers > 0, but got {self.lr_factors!r}.")
        _at_least("finalists", self.finalists, 1)
        _at_least("seeds", self.seeds, 2)
        _at_least("max_promoted", self.max_promoted, self.finalists)
        if not (0 < self.final_share <= 1):
            raise StudyError(f"final_share must be in (0, 1], but got {self.final_share!r}.")
        if not (0 <= self.tie < 1):
            raise StudyError(f"tie must be in [0, 1), but got {self.tie!r}.")
        if not (0 <= self.trust < 1):
            raise StudyError(f"trust must be in [0, 1), but got {self.trust!r}.")

    @property
    def last(self) -> int:
        """Index of the last (finalists') rung."""
        return len(self.rungs) - 1

    def promoted(self, finished: int) -> int:
        """How many configurations a middle rung takes from ``finished`` trials below it."""
        share = math.ceil(self.promote * finished)
        return min(self.max_promoted, max(self.finalists, share))

    def runs(self, rung: int, n_trials: int) -> int:
        """Planned runs at ``rung`` (an upper bound) for ``n_trials`` first-rung trials."""
        count = n_trials
        for index in range(1, rung + 1):
            if index == self.last:
                return self.finalists * self.seeds
            count = self.promoted(count) + 1 + len(self.lr_factors)  # +1: the rules' pick
        return count

    def cost(self, n_trials: int) -> float:
        """Planned compute in full-run equivalents (upper bound: no trial pruned)."""
        return sum(self.runs(i, n_trials) * r for i, r in enumerate(self.rungs))

    def minimum_cost(self, first: int) -> float:
        """Full-run equivalents the plan needs at the least, with ``first`` rung-0 trials."""
        middle = sum((self.finalists + len(self.lr_factors)) * r for r in self.rungs[1:-1])
        return first * self.rungs[0] + middle + self.finalists * self.seeds * self.rungs[-1]

    def fit(self, budget: float | None, *, min_first: int = 3) -> Fidelity:
        """These settings cut to what ``budget`` full-run equivalents can afford.

        The last rung gets at most ``final_share`` of the budget; when that leaves it
        shorter than 1.5 times the middle rung below it, that middle rung is dropped (a
        final barely longer than the rung before it adds little evidence, and the two
        would leave the first rung only ``min_first`` trials). The last
        rung's length is then the longest the budget affords, never beyond
        ``rungs[-1]``. ``None`` means no cap.

        Raises:
            StudyError: not even ``min_first`` first-rung trials and a final longer
                than the first rung fit.
        """
        if budget is None:
            return self
        if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
            raise StudyError(f"budget must be a number of full runs > 0, but got {budget!r}.")
        finals = self.finalists * self.seeds
        mids = list(self.rungs[1:-1])
        while True:
            before = min_first * self.rungs[0] + sum(
                (self.finalists + len(self.lr_factors)) * r for r in mids
            )
            final = min(self.rungs[-1], self.final_share * budget / finals,
                        (budget - before) / finals)
            floor = mids[-1] * _MIN_STRETCH if mids else self.rungs[0]
            if final > floor:
                return replace(self, rungs=(self.rungs[0], *mids, round(final, 4)))
            if not mids:
                need = max(finals * floor / self.final_share, before + finals * floor)
                raise StudyError(
                    f"budget {budget:g} full runs is too small for this search; it needs "
                    f"more than {need:.3g} (raise --budget or shorten the rungs)."
                )
            mids.pop()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fidelity:
        """The inverse of :meth:`to_dict`; an unknown key raises a :class:`StudyError`."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise StudyError(
                f"unknown fidelity setting {unknown[0]!r}; allowed: {', '.join(sorted(known))}."
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)  # type: ignore[arg-type]  # each value checked on creation


# The last rung is at least this many times the middle rung before it (see fit).
_MIN_STRETCH = 1.5


def rung_steps(fraction: float, full_steps: int) -> int:
    """Optimizer steps of a proxy run at ``fraction`` of a ``full_steps`` run (at least 1)."""
    return max(1, int(round(fraction * full_steps)))


def _at_least(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise StudyError(f"{name} must be an integer >= {low}, but got {value!r}.")
