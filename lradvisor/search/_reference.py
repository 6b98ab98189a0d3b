"""What the plateau pruner reads of a run: the schedule's phase, and completed trials as
reference curves.

Pure functions of a spec and a trial's reports (no study is read here):
:func:`schedule_phase` says whether a run's LR is still warming up, still high with a
decay to come, adaptive, or final; :class:`_Ref` holds a completed trial's curve in
relative progress (step / its run's length) with its LR multiplier at each report, so
trials of different lengths are compared at the same point of their runs.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import median
from typing import Any

from optuna.trial import FrozenTrial

from lradvisor.errors import PrunerError, SpecError
from lradvisor.schedules import ScheduleSpec

__all__ = ["schedule_phase"]


@dataclass(frozen=True)
class _Ref:
    """A completed trial as a reference: its curve in relative progress and its LR.

    Attributes:
        progress: ``step / total`` of each finite report, ascending.
        values: the reports, oriented so that lower is better.
        final: the median of its last ``window`` values: where it ended.
        total: its run length (``user_attrs["total_steps"]`` or its last step).
        lrs: its LR multiplier at each report, when it carries a spec that fits its run
            (one stored by an older version may not: it is then compared without it).
    """

    progress: list[float]
    values: list[float]
    final: float
    total: int
    lrs: list[float] | None
    # window -> the median of the ``window`` values ending at each report (made once)
    _levels: dict[int, list[float]] = field(default_factory=dict, init=False,
                                            compare=False, repr=False)

    def _levels_of(self, window: int) -> list[float]:
        """The median of its ``window`` values ending at each report (made once)."""
        levels = self._levels.get(window)
        if levels is None:
            values = self.values
            levels = [median(values[max(0, i - window + 1) : i + 1])
                      for i in range(len(values))]
            self._levels[window] = levels
        return levels

    @classmethod
    def of(cls, trial: FrozenTrial, sign: float, window: int) -> _Ref | None:
        """``trial`` as a reference, or ``None`` when it has no finite report."""
        steps = sorted(s for s, v in trial.intermediate_values.items() if math.isfinite(v))
        if not steps:
            return None
        total = max(_total_steps(trial) or steps[-1], 1)
        values = [sign * trial.intermediate_values[s] for s in steps]
        spec = _spec_of(trial.user_attrs.get("spec"))
        lrs = None if spec is None else _multipliers(spec, steps, total)
        progress = [min(s / total, 1.0) for s in steps]
        return cls(progress, values, median(values[-window:]), total, lrs)

    def level_between(self, lo: float, hi: float) -> float:
        """Its level over the progress span ``[lo, hi]``: the median of its values there,
        or, with none inside, its value interpolated at ``hi`` (held after its end)."""
        i, j = bisect_left(self.progress, lo), bisect_right(self.progress, hi)
        if j > i:
            return median(self.values[i:j])
        k = bisect_left(self.progress, hi)
        if k == len(self.progress):
            return self.values[-1]
        p0, p1, v0, v1 = self.progress[k - 1], self.progress[k], self.values[k - 1], self.values[k]
        return v0 + (v1 - v0) * (hi - p0) / (p1 - p0)

    def level_at_progress(self, progress: float, window: int) -> float:
        """The median of its ``window`` values up to ``progress``."""
        return self._levels_of(window)[max(bisect_right(self.progress, progress) - 1, 0)]

    def level_at_lr(self, progress: float, lr: float, window: int) -> float | None:
        """Its level at the last point no later than ``progress`` where its LR was >= ``lr``.

        ``None`` without a spec. The median of the ``window`` values ending there.
        """
        return _levels_at_lr([self], progress, lr, window)[0]


def _levels_at_lr(refs: list[_Ref], progress: float, lr: float,
                  window: int) -> list[float | None]:
    """Each reference's :meth:`_Ref.level_at_lr` (one loop: the pruner's hot path)."""
    floor = lr * (1.0 - 1e-9)
    out: list[float | None] = []
    for ref in refs:
        lrs = ref.lrs
        if lrs is None:
            out.append(None)
            continue
        k = bisect_right(ref.progress, progress) - 1
        while k > 0 and lrs[k] < floor:
            k -= 1
        levels = ref._levels.get(window) or ref._levels_of(window)
        out.append(levels[k if k > 0 else 0])
    return out


def _levels_between(refs: list[_Ref], lo: float, hi: float) -> list[float]:
    """Each reference's :meth:`_Ref.level_between` ``lo`` and ``hi``."""
    return [ref.level_between(lo, hi) for ref in refs]


def schedule_phase(
    spec: ScheduleSpec,
    step: int,
    total_steps: int,
    *,
    high_lr: float = 0.5,
    decay_ratio: float = 0.6,
    multiplier: Callable[[int], float] | None = None,
) -> str:
    """Where a run with schedule ``spec`` is at ``step`` of ``total_steps``.

    ``multiplier``: ``spec.multiplier_fn(total_steps)``, or a memo of it, when the
    caller has one.

    Returns one of:

    - ``"adaptive"``: the LR depends on the metric (``plateau``): a flat curve is
      what makes it decay, so no plateau is final;
    - ``"warmup"``: still in the spec's LR warmup, or the LR still rising to its
      peak (``onecycle``'s ramp);
    - ``"high"``: the multiplier is >= ``high_lr`` and will fall to <= ``decay_ratio``
      times its current value before the end (sampled at 33 points ahead);
    - ``"final"``: otherwise: the LR will not fall much more, so the curve's level is
      close to what the run will reach.

    Example:
        >>> cosine = ScheduleSpec.create("cosine")
        >>> schedule_phase(cosine, 30, 100), schedule_phase(cosine, 70, 100)
        ('high', 'final')
        >>> schedule_phase(ScheduleSpec.create("wsd"), 70, 100)
        'high'
    """
    if spec.definition.adaptive:
        return "adaptive"
    if step < spec.warmup_steps(total_steps):
        return "warmup"
    fn = multiplier or spec.multiplier_fn(total_steps)
    last = total_steps - 1
    step = min(step, last)
    now = fn(step)
    future = [fn(step + round(i * (last - step) / 32)) for i in range(33)]
    if max(future) > now * (1.0 + 1e-6):  # still rising to its peak, as onecycle's ramp
        return "warmup"
    ahead = min(future)
    return "high" if now >= high_lr and ahead <= decay_ratio * now else "final"


def _spec_of(raw: Any) -> ScheduleSpec | None:
    """``user_attrs["spec"]`` as a spec: a :class:`ScheduleSpec`, its JSON or its dict."""
    if raw is None or isinstance(raw, ScheduleSpec):
        return raw
    if isinstance(raw, str):
        return _parse_spec(raw)
    if isinstance(raw, Mapping):
        return ScheduleSpec.from_dict(raw)
    raise PrunerError(f"user_attrs['spec'] must be a ScheduleSpec's JSON, but got {raw!r}.")


@lru_cache(maxsize=256)
def _parse_spec(text: str) -> ScheduleSpec:
    return ScheduleSpec.from_json(text)


def _multipliers(spec: ScheduleSpec, steps: list[int], total: int) -> list[float] | None:
    """``spec``'s LR multiplier at each of ``steps`` (clipped to the run); ``None`` when
    the spec does not fit its run by today's checks: a trial an older version stored
    (a rule's ``warmup_steps = 20`` kept in steps in a 30-step proxy) is a reference
    without its LR, not an error in every trial judged against it."""
    try:
        fn = spec.multiplier_fn(total)
    except SpecError:
        return None
    return [fn(min(max(step, 0), total - 1)) for step in steps]


def _total_steps(trial: FrozenTrial) -> int | None:
    """``user_attrs["total_steps"]`` when it is a positive integer, else ``None``."""
    total = trial.user_attrs.get("total_steps")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        return None
    return total


def _percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted values, linear as ``numpy.percentile``."""
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
