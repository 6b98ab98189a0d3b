"""``AdaptiveDecayLR``: linear warmup, then cut the LR whenever the metric plateaus.

What torch cannot chain (``SequentialLR`` rejects ``ReduceLROnPlateau``; pytorch issue
68978), in one scheduler. The plateau decision is the
:class:`~lradvisor.plateau.PlateauDetector`'s, the one the search's pruner uses: the
median level of the last ``window`` metrics against the best earlier level, beyond
the curve's own noise, rather than torch's comparison of one value with the best one.

This module imports torch at import time; :mod:`lradvisor.policy` imports it lazily.
"""

from __future__ import annotations

from typing import Any

from lradvisor.plateau import PlateauDetector
from lradvisor.policy._base import MetricScheduler, check_count, warmup_factor
from lradvisor.policy._errors import PolicyError

__all__ = ["AdaptiveDecayLR"]


class AdaptiveDecayLR(MetricScheduler):
    """Warmup over ``warmup_steps`` steps, then the LR times ``factor`` at each plateau.

    Step it once per optimizer step (or once per epoch, if that is how its lengths were
    counted). Give it the validation metric with ``step(metric)`` when each step has
    one, or ``observe(metric)`` after each evaluation in a loop that steps every batch.
    After a cut the curve starts afresh (the detector needs ``2 * window`` new values
    before it can call the next plateau), then ``cooldown`` more metrics are skipped.
    The LR never goes below ``min_lr_ratio`` times its peak.

    Args:
        optimizer: a ``torch.optim.Optimizer``; each group's ``initial_lr`` (or ``lr``)
            is its peak.
        warmup_steps: warmup length in scheduler steps (0: none).
        warmup_start_factor: the LR at step 0 as a multiple of the peak.
        factor: the LR is multiplied by this at each plateau; in (0, 1).
        min_lr_ratio: floor, as a multiple of the peak; in [0, 1].
        cooldown: metrics skipped after a cut before the curve is judged again.
        detector: the plateau detector (its ``mode`` says whether lower is better).

    Attributes:
        scale: the product of the cuts so far (1 before the first).
        cuts: the scheduler steps at which the LR was cut.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = AdaptiveDecayLR(opt, warmup_steps=2, factor=0.5,
        ...                         detector=PlateauDetector(window=2))
        >>> for loss in [1.0, 0.5, 0.5, 0.5, 0.5]:
        ...     opt.step()
        ...     sched.step(loss)
        >>> sched.get_last_lr(), sched.cuts
        ([0.5], [5])
    """

    def __init__(
        self,
        optimizer: Any,
        *,
        warmup_steps: int = 0,
        warmup_start_factor: float = 0.0,
        factor: float = 0.5,
        min_lr_ratio: float = 0.0,
        cooldown: int = 0,
        detector: PlateauDetector | None = None,
        last_epoch: int = -1,
    ) -> None:
        if not 0.0 < float(factor) < 1.0:
            raise PolicyError(f"factor must be in (0, 1), but got factor={factor!r}.")
        if not 0.0 <= float(min_lr_ratio) <= 1.0:
            raise PolicyError(f"min_lr_ratio must be in [0, 1], but got {min_lr_ratio!r}.")
        self.factor = float(factor)
        self.min_lr_ratio = float(min_lr_ratio)
        self.cooldown = check_count("cooldown", cooldown)
        self.cooldown_left = 0
        self.scale = 1.0
        self.cuts: list[int] = []
        super().__init__(
            optimizer,
            warmup_steps=warmup_steps,
            warmup_start_factor=warmup_start_factor,
            detector=detector,
            last_epoch=last_epoch,
        )

    _caller_depth = 3  # step() below calls MetricScheduler.step

    def step(self, metrics: Any = None) -> None:  # type: ignore[override]
        """Count one step; with ``metrics``, observe it. After warmup, without a metric,
        the LR cannot change, so the step is only counted (the common per-batch call)."""
        if (metrics is None and self._step_count > 1 and self.last_epoch >= self.warmup_steps
                and self._factor is not None):  # None: just loaded, the LR is yet to write
            self._step_count += 1
            self.last_epoch += 1
            return
        super().step(metrics)

    def multiplier(self, step: int) -> float:
        """Warmup, then the product of the cuts so far."""
        if step < self.warmup_steps:
            return warmup_factor(step, self.warmup_steps, self.warmup_start_factor)
        return self.scale

    def _judge(self, value: float) -> None:
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            return
        self.curve.append(value)
        if not self.curve.plateaued():
            return
        self.curve.clear()
        scale = max(self.scale * self.factor, self.min_lr_ratio)
        if scale < self.scale:
            self.scale = scale
            self.cuts.append(self.last_epoch)
            self.cooldown_left = self.cooldown
            self._apply()
