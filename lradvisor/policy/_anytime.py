"""``AnytimeWSD``: warmup, hold the peak, and decay only when asked (or at a plateau).

Warmup-stable-decay for a run of unknown length: the LR stays at its peak until
:meth:`AnytimeWSD.begin_decay` says how many steps the decay takes, or, in ``auto``
mode, until the plateau detector says the metric has stopped improving. A run can be
extended (just keep stepping) or cut short (begin the decay now) without restarting
its schedule. The decay has the ``wsd`` family's shapes and floor, so a decay begun at
``total - decay_steps`` gives exactly the ``wsd`` curve of a run of ``total`` steps.

This module imports torch at import time; :mod:`lradvisor.policy` imports it lazily.
"""

from __future__ import annotations

from typing import Any

from lradvisor.plateau import PlateauDetector
from lradvisor.policy._base import MetricScheduler, check_count, warmup_factor
from lradvisor.policy._errors import PolicyError
from lradvisor.schedules.families._wsd import SHAPES
from lradvisor.schedules.families._wsd import decay as wsd_decay

__all__ = ["AnytimeWSD"]


class AnytimeWSD(MetricScheduler):
    """Warmup, the peak for as long as the run goes on, then a decay begun on request.

    Args:
        optimizer: a ``torch.optim.Optimizer``; each group's ``initial_lr`` (or ``lr``)
            is its peak.
        warmup_steps, warmup_start_factor: the linear warmup, as everywhere.
        decay_shape: ``linear``, ``cosine`` or ``1-sqrt`` (the ``wsd`` family's shapes).
        min_lr_ratio: the floor the decay ends at, as a multiple of the peak.
        decay_fraction: the share of the whole run a decay takes when its length is
            not given: begun after ``s`` steps, it lasts ``s * f / (1 - f)`` steps.
        decay_start: the step the decay begins at, planned ahead (``None``: not yet).
        decay_steps: its length in steps, with ``decay_start``.
        auto: begin the decay when the detector finds a plateau in the metrics fed by
            ``step(metric)`` / ``observe(metric)``.
        detector: the plateau detector for ``auto``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = AnytimeWSD(opt, decay_shape="linear")
        >>> lrs = []
        >>> for step in range(8):
        ...     if step == 3:
        ...         sched.begin_decay(4)
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    def __init__(
        self,
        optimizer: Any,
        *,
        warmup_steps: int = 0,
        warmup_start_factor: float = 0.0,
        decay_shape: str = "1-sqrt",
        min_lr_ratio: float = 0.0,
        decay_fraction: float = 0.2,
        decay_start: int | None = None,
        decay_steps: int | None = None,
        auto: bool = False,
        detector: PlateauDetector | None = None,
        last_epoch: int = -1,
    ) -> None:
        if decay_shape not in SHAPES:
            raise PolicyError(
                f"decay_shape must be one of {', '.join(SHAPES)}, but got {decay_shape!r}."
            )
        if not 0.0 <= float(min_lr_ratio) <= 1.0:
            raise PolicyError(f"min_lr_ratio must be in [0, 1], but got {min_lr_ratio!r}.")
        if not 0.0 < float(decay_fraction) < 1.0:
            raise PolicyError(f"decay_fraction must be in (0, 1), but got {decay_fraction!r}.")
        if (decay_start is None) != (decay_steps is None):
            raise PolicyError(
                "give decay_start and decay_steps together, but got "
                f"decay_start={decay_start!r}, decay_steps={decay_steps!r}."
            )
        self.decay_shape = decay_shape
        self.min_lr_ratio = float(min_lr_ratio)
        self.decay_fraction = float(decay_fraction)
        self.decay_start = None if decay_start is None else check_count("decay_start", decay_start)
        self.decay_steps = None if decay_steps is None else check_count(
            "decay_steps", decay_steps, low=1)
        self.auto = bool(auto)
        super().__init__(
            optimizer,
            warmup_steps=warmup_steps,
            warmup_start_factor=warmup_start_factor,
            detector=detector,
            last_epoch=last_epoch,
        )

    def multiplier(self, step: int) -> float:
        """Warmup, then 1 until ``decay_start``, then the decay shape down to the floor."""
        if step < self.warmup_steps:
            return warmup_factor(step, self.warmup_steps, self.warmup_start_factor)
        if self.decay_start is None or step < self.decay_start:
            return 1.0
        assert self.decay_steps is not None  # set together with decay_start
        return wsd_decay(
            step - self.decay_start,
            self.decay_steps,
            decay_steps=self.decay_steps,
            decay_shape=self.decay_shape,
            min_lr_ratio=self.min_lr_ratio,
        )

    @property
    def decaying(self) -> bool:
        """Whether the decay has begun (the current step is at or past its start)."""
        return self.decay_start is not None and self.last_epoch >= self.decay_start

    @property
    def decay_end(self) -> int | None:
        """The step at which the LR reaches its floor (``None`` before a decay is set)."""
        if self.decay_start is None or self.decay_steps is None:
            return None
        return self.decay_start + self.decay_steps

    def begin_decay(self, steps: int | None = None, *, at: int | None = None) -> None:
        """Decay over ``steps`` scheduler steps, starting now (or at step ``at``).

        The LR of the current step is unchanged (the decay's first value is the peak);
        the next ``step()`` lowers it. A decay planned for a later step can be moved
        (to extend or cut the run); one already under way cannot.

        Args:
            steps: the decay's length; ``None``: ``decay_fraction`` of the run so far,
                ``round(start * f / (1 - f))`` steps (at least 1).
            at: the step the decay begins at; default now (or the end of warmup).

        Raises:
            PolicyError: the decay has already begun, or ``steps``/``at`` are not
                valid counts (``at`` in the past).
        """
        if self.decaying:
            raise PolicyError(
                f"the decay already began at step {self.decay_start} (now step "
                f"{self.last_epoch}); a decay under way cannot be moved."
            )
        start = self.last_epoch if at is None else check_count("at", at)
        if start < self.last_epoch:
            raise PolicyError(f"at must be >= the current step {self.last_epoch}, but got {at}.")
        start = max(start, self.warmup_steps)
        if steps is None:
            f = self.decay_fraction
            steps = max(1, round(start * f / (1.0 - f)))
        self.decay_steps = check_count("steps", steps, low=1)
        self.decay_start = start
        self._apply()

    def _judge(self, value: float) -> None:
        if not self.auto or self.decaying:
            return
        self.curve.append(value)
        if self.curve.plateaued():
            self.begin_decay()
