"""Has a noisy validation curve stopped improving, or diverged? Pure Python, no numpy.

The detector judges a curve from its own values: it compares the *level* of the last
``window`` values (their median) with the best level the curve held earlier (the best
median of any earlier ``window`` consecutive values), and asks that an improvement
beat both a minimum size (``threshold``, as torch's ``ReduceLROnPlateau``) and what the
curve's own noise could produce by chance. Medians make one lucky or unlucky value
irrelevant, where a one-point comparison (a new best within ``patience`` steps, as
torch's ``ReduceLROnPlateau`` or Optuna's ``PatientPruner``) is decided by it.

Used by the search's plateau pruner (:mod:`lradvisor.search._pruner`) and by the
``plateau`` schedule's adaptive decay; it is a pure function of a list of floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from statistics import median
from typing import Any, Literal

from lradvisor.errors import PrunerError

__all__ = ["PlateauDetector", "Verdict"]

# MAD x 1.4826 estimates the standard deviation of normal noise.
_MAD_TO_SIGMA = 1.4826
# A median of n normal values has a standard error sqrt(pi / 2) times the mean's.
_MEDIAN_SE = math.sqrt(math.pi / 2)

State = Literal["improving", "plateau", "diverged"]


@dataclass(frozen=True)
class Verdict:
    """What a curve is doing, and why in one line.

    Attributes:
        state: ``improving``, ``plateau`` or ``diverged``. A curve too short to judge
            is ``improving`` (nothing says otherwise yet).
        reason: the numbers behind the state, for logs and the CLI.
    """

    state: State
    reason: str

    def __str__(self) -> str:
        return f"{self.state}: {self.reason}"


@dataclass(frozen=True)
class PlateauDetector:
    """Decides from a noisy curve whether it still improves, has plateaued, or diverged.

    *Plateau*: with ``L`` the median of the last ``window`` values and ``B`` the best
    median of any ``window`` consecutive values before them, the curve has plateaued
    when ``B - L`` (the improvement; mirrored for ``mode="max"``) is at most
    ``max(threshold part, noise part)``:

    - threshold part: ``threshold * |B|`` (``threshold_mode="rel"``) or ``threshold``
      (``"abs"``), the smallest improvement that counts, as in torch;
    - noise part: ``noise_sigmas`` standard errors of ``B - L`` under the curve's own
      noise ``sigma``, estimated robustly from the last ``2 * window`` values as
      ``1.4826 * MAD(first differences) / sqrt(2)`` (differences cancel a trend; the
      MAD ignores a single bump). The standard error is
      ``sqrt(pi / 2) * sigma * sqrt(2 / window)``.

    At least ``2 * window`` values are needed to judge a plateau; a shorter curve is
    reported as improving.

    *Diverged*: any value is NaN or infinite, or the last value is worse than the first
    by a factor: ``last > first + (divergence_factor - 1) * |first|`` (``mode="min"``;
    for a positive loss, ``last > divergence_factor * first``), mirrored for ``"max"``.

    NaN policy: a NaN or infinite value means the run diverged (its weights are
    poisoned; it does not come back). :meth:`plateaued` ignores such values, so a
    caller who asks for a plateau only gets an answer about the finite part;
    :meth:`verdict` reports divergence first.

    Args:
        window: values in each compared level (reports, not optimizer steps); >= 2.
            Larger is steadier and slower to call a plateau.
        threshold: smallest improvement that counts; >= 0.
        threshold_mode: ``"rel"`` (a fraction of the best level's size) or ``"abs"``.
        mode: ``"min"`` (lower is better: a loss) or ``"max"`` (an accuracy).
        noise_sigmas: how many noise standard errors an improvement must exceed to
            count; >= 0 (0: only the threshold counts).
        divergence_factor: blow-up factor relative to the first value; > 1, ``inf``
            turns the blow-up check off (NaN and inf still count).

    Example:
        >>> detector = PlateauDetector(window=3)
        >>> detector.verdict([3.0, 2.0, 1.5, 1.2, 1.0, 0.9]).state
        'improving'
        >>> detector.plateaued([3.0, 2.0, 1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0])
        True
        >>> detector.diverged([2.3, 1.9, float("nan")])
        True
    """

    window: int = 5
    _: KW_ONLY
    threshold: float = 1e-3
    threshold_mode: str = "rel"
    mode: str = "min"
    noise_sigmas: float = 1.0
    divergence_factor: float = 3.0

    def __post_init__(self) -> None:
        check_number("window", self.window, low=2, integer=True)
        check_number("threshold", self.threshold, low=0.0)
        check_choice("threshold_mode", self.threshold_mode, ("rel", "abs"))
        check_choice("mode", self.mode, ("min", "max"))
        check_number("noise_sigmas", self.noise_sigmas, low=0.0)
        check_number(
            "divergence_factor", self.divergence_factor, low=1.0, low_open=True, inf=True
        )

    # -- the three questions ----------------------------------------------------------
    def diverged(self, values: Iterable[float]) -> bool:
        """Whether the curve has a NaN or infinite value or has blown up from its start."""
        return self._divergence(self._oriented(values)) is not None

    def plateaued(self, values: Iterable[float]) -> bool:
        """Whether the finite part of the curve has stopped improving (see the class)."""
        finite = [v for v in self._oriented(values) if math.isfinite(v)]
        return self._plateau(finite)[0]

    def verdict(self, values: Iterable[float]) -> Verdict:
        """``diverged``, ``plateau`` or ``improving``, with the numbers behind it."""
        oriented = self._oriented(values)
        reason = self._divergence(oriented)
        if reason is not None:
            return Verdict("diverged", reason)
        flat, reason = self._plateau(oriented)
        return Verdict("plateau" if flat else "improving", reason)

    def level(self, values: Iterable[float]) -> float:
        """The curve's current level: the median of its last ``window`` finite values."""
        finite = [float(v) for v in values if math.isfinite(float(v))]
        if not finite:
            return math.nan
        return median(finite[-self.window :])

    def noise(self, values: Iterable[float]) -> float:
        """Robust noise (a standard deviation) of the last ``2 * window`` finite values."""
        finite = [float(v) for v in values if math.isfinite(float(v))]
        return _noise(finite[-2 * self.window :])

    # -- internals, on values oriented so that lower is better ------------------------
    def _oriented(self, values: Iterable[float]) -> list[float]:
        sign = -1.0 if self.mode == "max" else 1.0
        return [sign * float(v) for v in values]

    def _show(self, value: float) -> str:
        return f"{-value if self.mode == 'max' else value:.4g}"

    def _divergence(self, values: list[float]) -> str | None:
        for i, v in enumerate(values):
            if not math.isfinite(v):
                return f"value {i} is {self._show(v)}"
        if len(values) < 2 or math.isinf(self.divergence_factor):
            return None
        first, last = values[0], values[-1]
        limit = first + (self.divergence_factor - 1.0) * abs(first)
        if last > limit:
            return (
                f"last value {self._show(last)} is past {self.divergence_factor:g}x "
                f"the first {self._show(first)}"
            )
        return None

    def _plateau(self, values: list[float]) -> tuple[bool, str]:
        w = self.window
        if len(values) < 2 * w:
            return False, f"only {len(values)} values; judging a plateau needs {2 * w}"
        level = median(values[-w:])
        best = min(median(values[i - w : i]) for i in range(w, len(values) - w + 1))
        sigma = _noise(values[-2 * w :])
        rel = self.threshold_mode == "rel"
        by_threshold = self.threshold * abs(best) if rel else self.threshold
        by_noise = self.noise_sigmas * _MEDIAN_SE * sigma * math.sqrt(2.0 / w)
        needed = max(by_threshold, by_noise)
        gain = best - level
        return gain <= needed, (
            f"level {self._show(level)} (median of last {w}) improves on the best "
            f"earlier level {self._show(best)} by {gain:.3g}; needs > {needed:.3g} "
            f"(threshold {by_threshold:.3g}, noise {by_noise:.3g})"
        )


def _noise(values: list[float]) -> float:
    """``1.4826 * MAD(first differences) / sqrt(2)``: the noise of one value."""
    diffs = [b - a for a, b in zip(values, values[1:], strict=False)]
    if len(diffs) < 2:
        return 0.0
    center = median(diffs)
    mad = median(abs(d - center) for d in diffs)
    return _MAD_TO_SIGMA * mad / math.sqrt(2.0)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    inf: bool = False,
) -> None:
    """Raise :class:`PrunerError` unless ``value`` is a number in the allowed range.

    Shared by the detector and the pruners' constructors; ``inf`` allows ``+inf``
    (a setting that turns a check off).
    """
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    kind = "an integer" if integer else "a number"
    allowed = " and ".join(part for part in (lo, hi) if part)
    message = f"{name} must be {kind}{' ' + allowed if allowed else ''}, but got {name}={value!r}."
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PrunerError(message)
    if integer and not isinstance(value, int):
        raise PrunerError(message)
    if math.isnan(value) or (math.isinf(value) and not (inf and value > 0)):
        raise PrunerError(message)
    if low is not None and (value <= low if low_open else value < low):
        raise PrunerError(message)
    if high is not None and (value >= high if high_open else value > high):
        raise PrunerError(message)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise :class:`PrunerError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise PrunerError(
            f"{name} must be one of {', '.join(choices)}, but got {name}={value!r}."
        )
