"""``PlateauLR``: torch's ``ReduceLROnPlateau`` that also warms up linearly.

torch cannot chain a warmup with ``ReduceLROnPlateau`` (``SequentialLR`` rejects it,
pytorch issue 68978), so the warmup lives in the class. It stays a
``ReduceLROnPlateau`` subclass, so Lightning and HF's Trainer recognise it and feed it
the monitored metric.

This module imports torch at import time; it is only imported by ``build_scheduler``.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

from torch.optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["PlateauLR"]


class PlateauLR(ReduceLROnPlateau):
    """Linear warmup over ``warmup_steps`` scheduler steps, then ``ReduceLROnPlateau``.

    ``step()`` counts one scheduler step (call it once per optimizer step, as for any
    scheduler); ``step(metric)`` also applies the plateau logic once warmup is over.
    ``observe(metric)`` applies the plateau logic without counting a step, for a loop
    that steps every batch and evaluates now and then. Metrics seen during warmup are
    ignored. ``patience`` and ``cooldown`` count metrics, not steps.

    With ``warmup_steps=0`` and ``step(metric)`` on every call it is exactly
    ``ReduceLROnPlateau``. ``state_dict`` holds everything (warmup position included),
    so loading it into a scheduler built the same way resumes exactly.

    Args:
        optimizer: a ``torch.optim.Optimizer``; each group's ``initial_lr`` (or ``lr``)
            is its peak.
        warmup_steps: length of the warmup in scheduler steps (0: none).
        warmup_start_factor: LR at step 0 as a multiple of the peak.
        **plateau: ``ReduceLROnPlateau``'s arguments (``mode``, ``factor``,
            ``patience``, ``threshold``, ``threshold_mode``, ``cooldown``, ``min_lr``,
            ``eps``).

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = PlateauLR(opt, warmup_steps=2, patience=0, factor=0.5)
        >>> sched.get_last_lr(), (sched.step(), sched.get_last_lr())[1]
        ([0.0], [0.5])
        >>> sched.step(1.0); sched.step(2.0); sched.get_last_lr()
        [0.5]
    """

    def __init__(
        self,
        optimizer: Any,
        *,
        warmup_steps: int = 0,
        warmup_start_factor: float = 0.0,
        **plateau: Any,
    ) -> None:
        super().__init__(optimizer, **plateau)
        if warmup_steps < 0 or not 0.0 <= warmup_start_factor <= 1.0:
            raise ValueError(
                f"Expected warmup_steps >= 0 and 0 <= warmup_start_factor <= 1, but got "
                f"{warmup_steps=} and {warmup_start_factor=}."
            )
        self.warmup_steps = int(warmup_steps)
        self.warmup_start_factor = float(warmup_start_factor)
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.steps_done = 0
        if self.warmup_steps > 0:
            self._set_warmup_lr()

    @property
    def in_warmup(self) -> bool:
        """Whether warmup is still running (metrics are ignored until it ends)."""
        return self.steps_done < self.warmup_steps

    def step(  # type: ignore[override]
        self, metrics: SupportsFloat | None = None, epoch: int | None = None
    ) -> None:
        """Count one scheduler step; with ``metrics``, apply the plateau logic after warmup."""
        self.steps_done += 1
        if self.steps_done <= self.warmup_steps:
            self._set_warmup_lr()
        if metrics is not None:
            self.observe(metrics, epoch)

    def observe(self, metrics: SupportsFloat, epoch: int | None = None) -> None:
        """Apply ``ReduceLROnPlateau``'s logic to ``metrics`` without counting a step."""
        if not self.in_warmup:
            super().step(metrics, epoch)

    def _set_warmup_lr(self) -> None:
        progress = min(self.steps_done, self.warmup_steps) / self.warmup_steps
        factor = self.warmup_start_factor + (1.0 - self.warmup_start_factor) * progress
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
