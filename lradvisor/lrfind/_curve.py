"""The range test's pure maths: the ramp, smoothing, fastai's three methods and the
suggestion read off a swept curve. No torch; tested on plain numbers."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lradvisor.errors import LRAdvisorError

__all__ = ["MIN_POINTS", "LRFindError", "LRSuggestion", "minimum", "ramp_lr",
           "ramp_multiplier", "smooth", "steep", "suggest_lr", "valley"]

MIN_POINTS = 5


class LRFindError(LRAdvisorError):
    """The range test cannot be run or read as asked (bad range, too few losses)."""


def ramp_multiplier(step: int, *, ratio: float, steps: int) -> float:
    """LR multiple of ``lr_min`` for scheduler step ``step``: ``ratio ** (step / (steps-1))``.

    Module-level so the ``LambdaLR`` holding it pickles.
    """
    return float(ratio ** (min(step, steps - 1) / max(1, steps - 1)))


def ramp_lr(step: int, *, lr_min: float, lr_max: float, steps: int) -> float:
    """The LR of optimizer step ``step`` (1-based) in a sweep of ``steps`` steps."""
    return lr_min * ramp_multiplier(step - 1, ratio=lr_max / lr_min, steps=steps)


def smooth(steps: Sequence[int], values: Sequence[float], beta: float = 0.98) -> list[float]:
    """Debiased exponential moving average of ``values`` reported at ``steps``.

    ``beta`` is per optimizer step, so a trainable reporting every ``k`` steps is
    smoothed over the same stretch of steps (``beta ** k`` per report). With every
    step reported this is fastai's ``AvgSmoothLoss``.
    """
    out, avg, weight, last = [], 0.0, 0.0, 0
    for step, value in zip(steps, values, strict=False):
        b = beta ** max(1, step - last)
        avg = b * avg + (1 - b) * value
        weight = b * weight + (1 - b)
        out.append(avg / weight if weight > 0 else value)
        last = step
    return out


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``valley``: about 2/3 down the longest strictly descending subsequence."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def steep(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``steep``: the LR where the loss falls fastest per unit of ``log(lr)``."""
    grads = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(len(lrs) - 1)
    ]
    return float(lrs[min(range(len(grads)), key=grads.__getitem__)])


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``minimum``: a tenth of the LR at the lowest loss."""
    return float(lrs[min(range(len(losses)), key=losses.__getitem__)]) / 10


@dataclass(frozen=True)
class LRSuggestion:
    """A peak LR read off a range test, with the range to search and how sure it is.

    Attributes:
        peak_lr: the geometric mean of the three methods' LRs.
        low, high: the range to search: the lowest method's LR to the highest
            (never narrower than ``peak_lr / 2 .. peak_lr * 2``). The LR of the lowest
            loss is not in it: there the sweep is at the edge of divergence, which is
            why fastai's ``minimum`` takes a tenth of it, and a peak that close wins
            short runs and fails long ones.
        methods: ``valley``, ``steep``, ``minimum`` -> LR.
        disagreement: the highest method LR over the lowest (1 = they agree).
        lr_at_min_loss: the LR where the smoothed loss was lowest.
    """

    peak_lr: float
    low: float
    high: float
    methods: Mapping[str, float]
    disagreement: float
    lr_at_min_loss: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"peak_lr": self.peak_lr, "low": self.low, "high": self.high,
                "methods": dict(self.methods), "disagreement": self.disagreement,
                "lr_at_min_loss": self.lr_at_min_loss}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LRSuggestion:
        """The inverse of :meth:`to_dict`."""
        return cls(float(data["peak_lr"]), float(data["low"]), float(data["high"]),
                   {k: float(v) for k, v in data["methods"].items()},
                   float(data["disagreement"]), float(data["lr_at_min_loss"]))

    def describe(self) -> str:
        """One line: peak, range, and the three methods."""
        shown = ", ".join(f"{k} {v:.3g}" for k, v in self.methods.items())
        return (f"peak LR {self.peak_lr:.3g} (range {self.low:.3g} .. {self.high:.3g}; "
                f"{shown}; methods disagree by {self.disagreement:.2f}x)")


def suggest_lr(steps: Sequence[int], lrs: Sequence[float], losses: Sequence[float],
               *, beta: float = 0.98) -> LRSuggestion:
    """The suggestion from a sweep's reported ``(step, lr, loss)`` points.

    As fastai does, the first tenth of the points and the last ``min(5, n // 10)`` are
    left out (start-up noise; the blow-up), and everything from the first non-finite
    loss on.

    Raises:
        LRFindError: fewer than 5 usable points.
    """
    finite = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    end = finite[0] if finite else len(losses)
    sm = smooth(steps[:end], losses[:end], beta)
    n = len(sm)
    cut_lrs, cut = list(lrs[n // 10: n - min(5, n // 10)]), sm[n // 10: n - min(5, n // 10)]
    if len(cut) < MIN_POINTS:  # so n < MIN_POINTS: below 10 points none is cut
        before = ", before the first non-finite one" if finite else ""
        raise LRFindError(
            f"the range test got {len(losses)} loss report(s) ({len(cut)} usable{before}); "
            f"it needs at least {MIN_POINTS}: report the training loss more often (every "
            "step) or sweep more steps."
        )
    methods = {"valley": valley(cut_lrs, cut), "steep": steep(cut_lrs, cut),
               "minimum": minimum(cut_lrs, cut)}
    ordered = sorted(methods.values())
    peak = math.exp(statistics.fmean(math.log(v) for v in ordered))
    at_min = float(cut_lrs[min(range(len(cut)), key=cut.__getitem__)])
    low, high = min(ordered[0], peak / 2), max(ordered[-1], peak * 2)
    return LRSuggestion(peak, low, high, methods, ordered[-1] / ordered[0], at_min)
