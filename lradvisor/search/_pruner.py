"""``PlateauPruner``: stop a trial that has plateaued worse than the best, or diverged.

A thin Optuna adapter around :class:`lradvisor.plateau.PlateauDetector`. What it adds
to the detector is context from the study:

- **relative progress**: a trial's steps are turned into a fraction of its run
  (``user_attrs["total_steps"]``), so trials of different lengths are compared at the
  same point of their runs, never at the same step;
- **the schedule's phase**: from ``user_attrs["spec"]`` it knows whether the LR is
  still high with a decay to come (the stable part of ``wsd``, the top of
  ``onecycle``, before a ``step`` drop, the first half of ``cosine``), or still warming
  up, or adaptive (``plateau``). A curve flattening then is not judged as if the run
  were over: those schedules win in their final decay;
- **rungs**: with ``user_attrs["rung"]`` set, a trial is compared only with completed
  trials of the same rung.

It reads nothing but the study, so it works across distributed workers.

Also :func:`make_pruner`, the one table from a pruner name to an Optuna pruner, used by
the search, the CLI and the benchmarks.
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from statistics import median
from typing import Any

import optuna
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    SuccessiveHalvingPruner,
    WilcoxonPruner,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lradvisor.errors import PrunerError
from lradvisor.plateau import PlateauDetector, check_number
from lradvisor.schedules import ScheduleSpec

__all__ = ["PRUNER_NAMES", "PROTECTED_PHASES", "PlateauPruner", "make_pruner", "schedule_phase"]

#: Phases in which a plateau is not judged (divergence and hopelessness still are).
PROTECTED_PHASES = ("warmup", "high", "adaptive")

# A completed trial's curve: progress (sorted), its oriented finite values, final level.
_Curve = tuple[list[float], list[float], float]


class PlateauPruner(BasePruner):
    """Prunes a trial that diverged, is hopeless, or plateaued worse than the best.

    At each report, with values oriented so that lower is better:

    1. no reports: keep. **Diverged** (NaN, inf, or a blow-up from the start; see
       :class:`~lradvisor.plateau.PlateauDetector`): prune, at once, also during startup
       and warmup, since it needs no comparison.
    2. fewer than ``n_startup_trials`` completed trials (of its rung): keep; before
       ``warmup_progress`` of its run: keep; not the first report of an interval: keep.
    3. **Hopeless**: prune when its level (median of its last ``window`` values), even
       improved by ``hopeless_margin`` times the most any completed trial improved
       from the same relative progress to its end, would still be worse than the best
       completed trial's final level. This holds in every phase.
    4. In a protected phase (LR warmup; LR still >= ``high_lr`` of the peak and going
       to fall to <= ``decay_ratio`` of its current value; an adaptive schedule):
       keep.
    5. **Plateaued** (the detector) and its level worse than the ``percentile``-th
       best level of completed trials at the same relative progress: prune.

    Levels of completed trials at a progress are medians of their values over the same
    span of progress as the trial's last ``window`` reports.

    The trial's run length is ``user_attrs["total_steps"]`` (default: the last step of
    the completed trials); progress is ``step / total_steps``. Its schedule is
    ``user_attrs["spec"]`` (a :class:`ScheduleSpec`, its JSON or dict); without one,
    every phase is judged. NaN policy: a NaN or inf in the trial's values prunes it;
    NaN and inf in completed trials' values are left out of their levels.

    Args:
        detector: the plateau and divergence test (default ``PlateauDetector()``); its
            ``mode`` is ignored, the study's direction decides.
        n_startup_trials: completed trials (of the same rung) needed before any
            comparison; >= 0.
        warmup_progress: fraction of a trial's run during which it is only pruned for
            divergence; in [0, 1).
        interval_steps: steps between checks, offset by the warmup, as Optuna's; >= 1.
        percentile: a plateaued trial must be at least this good (0: the best, 50: the
            median of completed trials at the same progress) to be kept; in [0, 100].
        hopeless_margin: how many times the largest improvement seen from the same
            progress a trial is granted before it is hopeless; >= 0, ``inf`` turns the
            check off.
        high_lr: LR multiplier (of the peak) at or above which the LR counts as high;
            > 0.
        decay_ratio: a decay is still to come when the LR will fall to at most this
            fraction of its current value before the end; in (0, 1).

    Example:
        >>> import optuna
        >>> study = optuna.create_study(pruner=PlateauPruner(n_startup_trials=1))
        >>> trial = study.ask()
        >>> trial.report(float("nan"), step=3)
        >>> trial.should_prune()
        True
    """

    def __init__(
        self,
        detector: PlateauDetector | None = None,
        n_startup_trials: int = 5,
        warmup_progress: float = 0.1,
        interval_steps: int = 1,
        *,
        percentile: float = 25.0,
        hopeless_margin: float = 1.5,
        high_lr: float = 0.5,
        decay_ratio: float = 0.5,
    ) -> None:
        if detector is not None and not isinstance(detector, PlateauDetector):
            raise PrunerError(
                f"detector must be a PlateauDetector or None, but got {detector=}."
            )
        check_number("n_startup_trials", n_startup_trials, low=0, integer=True)
        check_number("warmup_progress", warmup_progress, low=0.0, high=1.0, high_open=True)
        check_number("interval_steps", interval_steps, low=1, integer=True)
        check_number("percentile", percentile, low=0.0, high=100.0)
        check_number("hopeless_margin", hopeless_margin, low=0.0, inf=True)
        check_number("high_lr", high_lr, low=0.0, low_open=True)
        check_number("decay_ratio", decay_ratio, low=0.0, high=1.0, low_open=True, high_open=True)
        # The pruner orients values itself (lower is better), so the detector sees "min".
        self._detector = replace(detector or PlateauDetector(), mode="min")
        self._n_startup_trials = n_startup_trials
        self._warmup_progress = float(warmup_progress)
        self._interval_steps = interval_steps
        self._percentile = float(percentile)
        self._hopeless_margin = float(hopeless_margin)
        self._high_lr = float(high_lr)
        self._decay_ratio = float(decay_ratio)
        self._curves: dict[tuple[str, int, float], _Curve | None] = {}

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        """Whether to stop ``trial`` now; see the class docstring for the rule."""
        steps = sorted(trial.intermediate_values)
        if not steps:
            return False
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        values = [sign * trial.intermediate_values[s] for s in steps]
        if self._detector.diverged(values):
            return True
        reference = self._reference(study, trial, sign)
        if not reference or len(reference) < self._n_startup_trials:
            return False
        total = _total_steps(trial) or max(ref[3] for ref in reference)
        progress = [min(s / total, 1.0) for s in steps]
        if progress[-1] < self._warmup_progress:
            return False
        if not self._first_in_interval(steps, total):
            return False
        curves = [(ref[0], ref[1], ref[2]) for ref in reference]
        phase = _phase_of(trial, steps[-1], total, self._high_lr, self._decay_ratio)
        return self._decide(values, progress, curves, phase)

    def _decide(
        self, values: list[float], progress: list[float], curves: list[_Curve], phase: str
    ) -> bool:
        """Steps 3 to 5 of the rule, past every guard."""
        window = self._detector.window
        level = median(values[-window:])
        span = (progress[-min(window, len(progress))], progress[-1])
        pairs = [(lvl, final) for lvl, final in _levels_at(curves, *span) if lvl is not None]
        if not pairs:
            return False
        best_final = min(final for _, final in pairs)
        gain = max(max(lvl - final, 0.0) for lvl, final in pairs)
        if math.isfinite(self._hopeless_margin) and (
            level - self._hopeless_margin * gain > best_final
        ):
            return True
        if phase in PROTECTED_PHASES:
            return False
        if not self._detector.plateaued(values):
            return False
        return level > _percentile(sorted(lvl for lvl, _ in pairs), self._percentile)

    def _reference(
        self, study: optuna.study.Study, trial: FrozenTrial, sign: float
    ) -> list[tuple[list[float], list[float], float, int]]:
        """Completed trials of ``trial``'s rung with values: curve plus run length."""
        rung = trial.user_attrs.get("rung")
        out = []
        for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if done.user_attrs.get("rung") != rung:
                continue
            key = (study.study_name, done.number, sign)
            if key not in self._curves:  # a completed trial never changes: cache it
                self._curves[key] = _curve_of(done, sign, self._detector.window)
            curve = self._curves[key]
            if curve is not None:
                total = _total_steps(done) or max(done.intermediate_values)
                out.append((*curve, max(total, 1)))
        return out

    def _first_in_interval(self, steps: list[int], total: int) -> bool:
        """Optuna's interval rule: the first report at or after each check step."""
        if self._interval_steps == 1:
            return True
        offset = math.ceil(self._warmup_progress * total)
        step = steps[-1]
        check_step = (step - offset) // self._interval_steps * self._interval_steps + offset
        previous = steps[-2] if len(steps) > 1 else -1
        return previous < check_step


def schedule_phase(
    spec: ScheduleSpec,
    step: int,
    total_steps: int,
    *,
    high_lr: float = 0.5,
    decay_ratio: float = 0.5,
) -> str:
    """Where a run with schedule ``spec`` is at ``step`` of ``total_steps``.

    Returns one of:

    - ``"adaptive"``: the LR depends on the metric (``plateau``): a flat curve is
      what makes it decay, so no plateau is final;
    - ``"warmup"``: still in the spec's LR warmup;
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
    fn = spec.multiplier_fn(total_steps)
    last = total_steps - 1
    step = min(step, last)
    now = fn(step)
    ahead = min(fn(step + round(i * (last - step) / 32)) for i in range(33))
    return "high" if now >= high_lr and ahead <= decay_ratio * now else "final"


def _phase_of(
    trial: FrozenTrial, step: int, total: int, high_lr: float, decay_ratio: float
) -> str:
    """The phase of ``trial``'s schedule, or ``"unknown"`` when it carries no spec."""
    spec = _spec_of(trial.user_attrs.get("spec"))
    if spec is None:
        return "unknown"
    return schedule_phase(spec, step, total, high_lr=high_lr, decay_ratio=decay_ratio)


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


def _total_steps(trial: FrozenTrial) -> int | None:
    """``user_attrs["total_steps"]`` when it is a positive integer, else ``None``."""
    total = trial.user_attrs.get("total_steps")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        return None
    return total


def _curve_of(trial: FrozenTrial, sign: float, window: int) -> _Curve | None:
    """A completed trial's progress, oriented finite values and final level."""
    steps = sorted(s for s, v in trial.intermediate_values.items() if math.isfinite(v))
    if not steps:
        return None
    total = max(_total_steps(trial) or steps[-1], 1)
    values = [sign * trial.intermediate_values[s] for s in steps]
    return [min(s / total, 1.0) for s in steps], values, median(values[-window:])


def _levels_at(curves: list[_Curve], lo: float, hi: float) -> list[tuple[float | None, float]]:
    """Each curve's level over the progress span ``[lo, hi]``, with its final level.

    The median of its values inside the span; with none inside, its value interpolated
    at ``hi``; ``None`` when ``hi`` lies outside the curve.
    """
    out: list[tuple[float | None, float]] = []
    for progress, values, final in curves:
        i, j = bisect_left(progress, lo), bisect_right(progress, hi)
        if j > i:
            out.append((median(values[i:j]), final))
            continue
        k = bisect_left(progress, hi)
        if k == 0 or k == len(progress):
            out.append((None, final))
            continue
        p0, p1, v0, v1 = progress[k - 1], progress[k], values[k - 1], values[k]
        out.append((v0 + (v1 - v0) * (hi - p0) / (p1 - p0), final))
    return out


def _percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted values, linear as ``numpy.percentile``."""
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- the pruner table --------------------------------------------------------------------
def _patient(*, patience: int = 3, min_delta: float = 0.0, **median: Any) -> BasePruner:
    """``PatientPruner`` wrapping a ``MedianPruner`` (``median``: its arguments)."""
    return PatientPruner(MedianPruner(**median), patience=patience, min_delta=min_delta)


_BUILDERS: dict[str, Callable[..., BasePruner]] = {
    "none": NopPruner,
    "median": MedianPruner,
    "patient": _patient,
    "successive_halving": SuccessiveHalvingPruner,
    "hyperband": HyperbandPruner,
    "wilcoxon": WilcoxonPruner,
    "plateau": PlateauPruner,
}
PRUNER_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def make_pruner(name: str, **kwargs: Any) -> BasePruner:
    """The pruner called ``name``, built with ``kwargs``.

    Names: ``none`` (``NopPruner``), ``median``, ``patient`` (``PatientPruner`` around
    a ``MedianPruner``; ``patience`` defaults to 3, other arguments go to the median
    pruner), ``successive_halving``, ``hyperband``, ``wilcoxon``, ``plateau``
    (:class:`PlateauPruner`). Optuna's experimental warnings are silenced here.

    Raises:
        PrunerError: an unknown name (the valid ones are listed) or arguments the
            pruner does not take.

    Example:
        >>> type(make_pruner("median", n_startup_trials=3)).__name__
        'MedianPruner'
    """
    builder = _BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        raise PrunerError(f"unknown pruner {name!r}; allowed: {', '.join(PRUNER_NAMES)}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return builder(**kwargs)
    except PrunerError:
        raise
    except (TypeError, ValueError) as err:
        raise PrunerError(f"pruner {name!r}: {err}") from None
