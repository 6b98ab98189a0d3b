"""A metric curve kept short enough to judge every step, with the detector's exact answer.

:class:`~lradvisor.plateau.PlateauDetector` judges a whole curve: the best earlier level
is the best median of *every* earlier window. Passing it the full history on every
report costs time in proportion to the run, which a scheduler fed a metric each step
cannot afford. :class:`Curve` keeps only the recent values plus the best level of the
windows it has dropped, and hands the detector a short curve with the same answer.

Pure Python; no torch.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Any

from lradvisor.plateau import PlateauDetector

__all__ = ["Curve"]

# Finite stand-in for "worse than anything": pads the short curve so that the windows
# joining the dropped part's best level and the kept values never look better.
_WORSE = 1e300


class Curve:
    """Recent metric values, and the best window median among those dropped.

    The short curve handed to the detector is ``[best] * w + [worse] * w + kept``: its
    best earlier window median is ``min(best, medians of the windows within kept)``
    because a window that mixes padding and kept values is never better than the real
    window it stands for (replacing values with worse ones cannot improve a median), and
    that real window started before ``kept`` so its median is already in ``best``.
    The last ``2 * window`` values (the level and the noise) are always real.

    Args:
        detector: the detector whose answers this curve reproduces.
        keep: recent values kept (at least ``2 * window``, the level and its noise);
            each older value is folded into ``best`` as it drops out, so the detector
            sees at most ``keep + 2 * window`` values whatever the run's length.
    """

    def __init__(self, detector: PlateauDetector, keep: int | None = None) -> None:
        self.detector = detector
        self.keep = max(2 * detector.window, keep or 2 * detector.window)
        self.values: list[float] = []
        self.best: float | None = None  # best dropped window median, oriented: lower is better
        self.seen = 0

    def append(self, value: float) -> None:
        """Add one finite value (non-finite values are ignored, as the detector does)."""
        value = float(value)
        if not math.isfinite(value):
            return
        self.values.append(value)
        self.seen += 1
        if len(self.values) > self.keep:
            self._drop(len(self.values) - self.keep)

    def _drop(self, count: int) -> None:
        """Drop the oldest ``count`` values, folding the windows that start there into best."""
        w = self.detector.window
        sign = -1.0 if self.detector.mode == "max" else 1.0
        medians = [sign * median(self.values[i : i + w]) for i in range(count)]
        best = min(medians)
        self.best = best if self.best is None else min(self.best, best)
        del self.values[:count]

    def short(self) -> list[float]:
        """The curve the detector sees: same plateau answer as the full history."""
        if self.best is None:
            return list(self.values)
        w = self.detector.window
        sign = -1.0 if self.detector.mode == "max" else 1.0
        return [sign * self.best] * w + [sign * _WORSE] * w + self.values

    def plateaued(self) -> bool:
        """The detector's :meth:`~lradvisor.plateau.PlateauDetector.plateaued` answer."""
        return self.detector.plateaued(self.short())

    def clear(self) -> None:
        """Forget everything (after the LR was cut, the curve starts again)."""
        self.values = []
        self.best = None
        self.seen = 0

    def state(self) -> dict[str, Any]:
        """Plain data for a ``state_dict``."""
        return {"values": list(self.values), "best": self.best, "seen": self.seen}

    def load(self, state: dict[str, Any]) -> None:
        """The inverse of :meth:`state`."""
        self.values = [float(v) for v in state["values"]]
        self.best = state["best"]
        self.seen = int(state["seen"])
