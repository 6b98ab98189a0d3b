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

It reads nothing but the study, so it works across distributed workers. The pure parts
(the phase, reference curves in relative progress) are in :mod:`._reference`.

Also :func:`make_pruner`, the one table from a pruner name to an Optuna pruner, used by
the search, the CLI and the benchmarks.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
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
from lradvisor.search._reference import (
    _levels_at_lr,
    _levels_between,
    _percentile,
    _Ref,
    _spec_of,
    _total_steps,
    schedule_phase,
)

__all__ = ["PRUNER_NAMES", "PROTECTED_PHASES", "PlateauPruner", "make_pruner", "schedule_phase"]

# A hopeless trial is judged on its level less this many standard errors of its noise.
_HOPELESS_SIGMAS = 2.0
# A median of n normal values has a standard error sqrt(pi / 2) times the mean's.
_MEDIAN_SE = math.sqrt(math.pi / 2)

#: Phases in which a plateau is not judged (divergence and hopelessness still are).
PROTECTED_PHASES = ("warmup", "high", "adaptive")

# How many seconds a trial's reference set is reused before the study is read again.
_REFRESH_SECONDS = 1.0

class PlateauPruner(BasePruner):
    """Prunes a trial that diverged, is hopeless, or plateaued worse than the best.

    At each report, with values oriented so that lower is better:

    1. no reports: keep. **Diverged** (NaN, inf, or a blow-up from the start; see
       :class:`~lradvisor.plateau.PlateauDetector`): prune, at once, also during startup
       and warmup, since it needs no comparison.
    2. fewer than ``n_startup_trials`` completed trials (of its rung): keep; before
       ``warmup_progress`` of its run: keep; not the first report of an interval: keep.
    3. **Hopeless**: prune when its level (median of its last ``window`` values, less
       two standard errors of its own noise), improved by the gain it is granted,
       would still be worse than the best completed trial's final level. The gain
       granted is the larger of ``hopeless_margin`` times what the *best* completed
       trial improved from the same relative progress to its end, and, when specs are
       known, the most any completed trial improved from the last point (no later)
       where its LR was still as high as this trial's LR now: a ``wsd`` trial at its
       peak is granted what a ``cosine`` trial gained from its own peak LR, since the
       gain of the final decay is missing from a same-progress comparison. Every phase.
    4. **Behind**: outside an LR warmup (a rising LR counts, as ``onecycle``'s ramp),
       prune when its level, less two standard errors of its noise, is worse than the
       ``behind_percentile``-th of completed trials' levels: at its LR multiplier
       (their last point, no later, where their LR was as high) while its LR is high
       with a decay to come; at the same progress otherwise (no decay ahead, so its
       level is near what it will reach; or an adaptive schedule, whose LR depends on
       the metric).
       Comparing at equal LR is phase-aware by itself: a ``wsd`` trial in its stable
       phase is compared with the others' levels at their peak LR, not with decayed
       ones.
    5. In a protected phase (LR warmup; LR still >= ``high_lr`` of the peak and going
       to fall to <= ``decay_ratio`` of its current value; an LR that fell to <=
       ``decay_ratio`` of itself from one to the next of the last ``window`` reports,
       a drop whose effect they do not show yet, judged as before it; an adaptive
       schedule): keep.
    6. **Plateaued** (the detector) and its level worse than the ``percentile``-th
       best level of completed trials at the same relative progress: prune.

    Defaults were chosen on recorded curves of ``benchmarks/pruners.py --quick``
    (digits-cnn, tabular-mlp; seeds 0-2, checked on seeds 3-5): the most steps saved
    with the eventual winner never pruned; ``hopeless_margin=1`` saved more but
    pruned a winner on the held-out seeds. ``decay_ratio`` went from 0.5 to 0.6 on the
    full benchmark (four workloads, 40 trials, seeds 0-4, checked on 5-9): at 0.5 a
    ``cosine_restarts`` trial whose LR was to fall from 0.86 to 0.44 of its peak (to
    0.52 of its LR then) was judged as if no decay were left, and pruned; it was
    digits-cnn's winner. On seeds 5-9 a ``step`` winner was pruned at the report
    where its LR fell, on the level its last reports had at the old LR: that is why a
    drop within the window counts as a decay still to come.

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
        behind_percentile: any trial past its warmup must be at least this good
            among completed trials at its LR multiplier to be kept; in [0, 100], or
            ``None`` to turn the check off.
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
        n_startup_trials: int = 3,
        warmup_progress: float = 0.1,
        interval_steps: int = 1,
        *,
        percentile: float = 25.0,
        behind_percentile: float | None = 50.0,
        hopeless_margin: float = 1.5,
        high_lr: float = 0.5,
        decay_ratio: float = 0.6,
    ) -> None:
        if detector is not None and not isinstance(detector, PlateauDetector):
            raise PrunerError(
                f"detector must be a PlateauDetector or None, but got {detector=}."
            )
        check_number("n_startup_trials", n_startup_trials, low=0, integer=True)
        check_number("warmup_progress", warmup_progress, low=0.0, high=1.0, high_open=True)
        check_number("interval_steps", interval_steps, low=1, integer=True)
        check_number("percentile", percentile, low=0.0, high=100.0)
        if behind_percentile is not None:
            check_number("behind_percentile", behind_percentile, low=0.0, high=100.0)
        check_number("hopeless_margin", hopeless_margin, low=0.0, inf=True)
        check_number("high_lr", high_lr, low=0.0, low_open=True)
        check_number("decay_ratio", decay_ratio, low=0.0, high=1.0, low_open=True, high_open=True)
        # The pruner orients values itself (lower is better), so the detector sees "min".
        self._detector = replace(detector or PlateauDetector(), mode="min")
        self._n_startup_trials = n_startup_trials
        self._warmup_progress = float(warmup_progress)
        self._interval_steps = interval_steps
        self._percentile = float(percentile)
        self._behind_percentile = None if behind_percentile is None else float(behind_percentile)
        self._hopeless_margin = float(hopeless_margin)
        self._high_lr = float(high_lr)
        self._decay_ratio = float(decay_ratio)
        self._refs: dict[tuple[str, int, float], _Ref | None] = {}
        # The reference set of the trial being judged: on its first report, the trials
        # as the study read them since this trial was created (Optuna's per-trial
        # cache, which the sampler fills; read now when empty), then read again once
        # _REFRESH_SECONDS have passed. In a sequential search no trial completes while
        # another runs, so this is exact there and saves storage reads; across workers
        # the references are at most the time to the first report plus a second (and
        # one report) stale.
        self._current: tuple[tuple[str, int, float], float, list[_Ref]] | None = None
        # (trial number, spec, run length) -> its LR multiplier, memoised per step
        self._memo: tuple[tuple[int, ScheduleSpec, int], Callable[[int], float]] | None = None

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        """Whether to stop ``trial`` now; see the class docstring for the rule."""
        steps = sorted(trial.intermediate_values)
        if not steps:
            return False
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        values = [sign * trial.intermediate_values[s] for s in steps]
        if self._detector.diverged(values):
            return True
        refs = self._current_reference(study, trial, sign)
        if not refs or len(refs) < self._n_startup_trials:
            return False
        total = _total_steps(trial) or max(ref.total for ref in refs)
        progress = [min(s / total, 1.0) for s in steps]
        if progress[-1] < self._warmup_progress:
            return False
        if not self._first_in_interval(steps, total):
            return False
        spec = _spec_of(trial.user_attrs.get("spec"))
        lr_now, phase = None, "unknown"
        if spec is not None:
            multiplier = self._multiplier(trial.number, spec, total)
            lr_now = multiplier(min(max(steps[-1], 0), total - 1))
            phase = schedule_phase(spec, steps[-1], total, high_lr=self._high_lr,
                                   decay_ratio=self._decay_ratio, multiplier=multiplier)
            if phase == "final" and self._fell(multiplier, steps, total):
                # the LR fell between two of its last reports: their level is partly
                # the old LR's, the decay's effect yet to show; judged as before it
                phase = "high"
        return self._decide(values, progress, refs, phase, lr_now)

    def _fell(self, multiplier: Callable[[int], float], steps: list[int],
              total: int) -> bool:
        """Whether the LR fell to <= ``decay_ratio`` of itself from one to the next of
        the last ``window`` reports (a drop, as ``step``'s; a smooth decay falls so
        fast only near its end)."""
        window = steps[-min(self._detector.window, len(steps)):]
        lrs = [multiplier(min(max(s, 0), total - 1)) for s in window]
        return any(b <= self._decay_ratio * a for a, b in zip(lrs, lrs[1:], strict=False))

    def _multiplier(self, number: int, spec: ScheduleSpec,
                    total: int) -> Callable[[int], float]:
        """``spec``'s LR multiplier over ``total`` steps, each step's computed once
        while trial ``number`` is judged (its reports ask for overlapping steps)."""
        key = (number, spec, total)
        if self._memo is None or self._memo[0] != key:
            fn, seen = spec.multiplier_fn(total), {}

            def multiplier(step: int) -> float:
                if step not in seen:
                    seen[step] = fn(step)
                return seen[step]

            self._memo = (key, multiplier)
        return self._memo[1]

    def _decide(
        self,
        values: list[float],
        progress: list[float],
        refs: list[_Ref],
        phase: str,
        lr_now: float | None,
    ) -> bool:
        """Steps 3 to 6 of the rule, past every guard."""
        window = self._detector.window
        level = median(values[-window:])
        lo, now = progress[-min(window, len(progress))], progress[-1]
        seen = [ref for ref in refs if ref.progress[0] <= now]
        if not seen:
            return False
        # its level less two standard errors of its own noise: what the hopeless and
        # behind tests hold against the others
        sigma = self._detector.noise(values)
        hoped = level - _HOPELESS_SIGMAS * _MEDIAN_SE * sigma * math.sqrt(2.0 / window)
        # each reference's level where its LR was last at this trial's (None: no spec)
        at_lr: list[float | None] = (_levels_at_lr(seen, now, lr_now, window)
                                     if lr_now is not None else [None] * len(seen))
        if self._hopeless(hoped, now, seen, at_lr):
            return True
        between: list[float] | None = None  # each reference's level over [lo, now]
        # at equal LR while a decay is to come; otherwise (no decay ahead, or an adaptive
        # schedule whose LR depends on the metric) at the same progress
        if phase != "warmup" and self._behind_percentile is not None:
            if phase == "high":
                levels = [ref.level_between(lo, now) if at is None else at
                          for ref, at in zip(seen, at_lr, strict=True)]
            else:
                levels = between = _levels_between(seen, lo, now)
            if self._behind(hoped, levels):
                return True  # comparing at equal LR is phase-aware: no "high" protection
        if phase in PROTECTED_PHASES:
            return False
        if not self._detector.plateaued(values):
            return False
        levels = sorted(between if between is not None else _levels_between(seen, lo, now))
        return level > _percentile(levels, self._percentile)

    def _hopeless(
        self, hoped: float, now: float, refs: list[_Ref], at_lr: list[float | None],
    ) -> bool:
        """Whether even the most generous improvement leaves it worse than the best.

        ``hoped``: its level less two standard errors of its noise; ``at_lr``: each
        reference's level where its LR was last at this trial's."""
        if math.isinf(self._hopeless_margin):
            return False
        window = self._detector.window
        best = min(refs, key=lambda ref: ref.final)
        granted = self._hopeless_margin * (best.level_at_progress(now, window) - best.final)
        for ref, level_at_lr in zip(refs, at_lr, strict=True):
            if level_at_lr is not None and level_at_lr - ref.final > granted:
                granted = level_at_lr - ref.final
        return hoped - granted > best.final

    def _behind(self, hoped: float, levels: list[float]) -> bool:
        """Whether ``hoped`` (its level less two standard errors of its noise) is worse
        than the ``behind_percentile``-th of the completed trials' ``levels``: at its LR
        multiplier while a decay is to come (at the same progress for a reference
        without a spec), else at the same progress."""
        assert self._behind_percentile is not None
        return hoped > _percentile(sorted(levels), self._behind_percentile)

    def _current_reference(
        self, study: optuna.study.Study, trial: FrozenTrial, sign: float
    ) -> list[_Ref]:
        """:meth:`_reference` for ``trial``, re-read every ``_REFRESH_SECONDS``."""
        key = (study.study_name, trial.number, sign)
        now = time.monotonic()
        if self._current is not None:
            cached_key, read_at, refs = self._current
            if cached_key == key and now - read_at < _REFRESH_SECONDS:
                return refs
        first = self._current is None or self._current[0] != key
        refs = self._reference(study, trial, sign, fresh=not first)
        self._current = (key, now, refs)
        return refs

    def _reference(
        self, study: optuna.study.Study, trial: FrozenTrial, sign: float, *,
        fresh: bool = True,
    ) -> list[_Ref]:
        """The completed trials of ``trial``'s rung that reported finite values.

        ``fresh=False``: as the study read them since this trial was created, when it
        did (Optuna's per-trial cache, which the sampler fills), else read now."""
        rung = trial.user_attrs.get("rung")
        out = []
        every = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,),
                                  use_cache=not fresh)
        for done in every:
            if done.user_attrs.get("rung") != rung:
                continue
            key = (study.study_name, done.number, sign)
            if key not in self._refs:  # a completed trial never changes: cache it
                self._refs[key] = _Ref.of(done, sign, self._detector.window)
            ref = self._refs[key]
            if ref is not None:
                out.append(ref)
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
