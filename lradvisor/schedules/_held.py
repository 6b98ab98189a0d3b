"""``CosineAnnealingLR`` as the ``cosine`` family runs it: held at its floor past the end.

torch's ``CosineAnnealingLR`` is a cosine of period ``2 * T_max``: stepped past the
run's end (or resumed with a longer length while its saved ``T_max`` is kept) it climbs
back to the peak by step ``2 * T_max``, while the family's curve (``spec.lr``, and the
``LambdaLR`` used with warmup) stays at its floor.

This module imports torch at import time; the ``cosine`` family imports it lazily.
"""

from __future__ import annotations

from typing import Any

from torch.optim import lr_scheduler

__all__ = ["CosineAnnealingLR"]


class CosineAnnealingLR(lr_scheduler.CosineAnnealingLR):
    """torch's ``CosineAnnealingLR``, held at ``eta_min`` from step ``T_max`` on.

    Within the run it is torch's own class, step for step; its name and
    ``state_dict`` are torch's, so checkpoints of either load into the other.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = CosineAnnealingLR(opt, T_max=2)
        >>> for _ in range(4):
        ...     opt.step(); sched.step()
        >>> sched.get_last_lr()
        [0.0]
    """

    def get_lr(self) -> list[Any]:
        """torch's chainable form within the run; ``eta_min`` from ``T_max`` on."""
        if self.last_epoch >= self.T_max:
            return [self.eta_min for _ in self.optimizer.param_groups]
        return super().get_lr()

    def _get_closed_form_lr(self) -> list[Any]:
        if self.last_epoch >= self.T_max:
            return [self.eta_min for _ in self.base_lrs]
        return super()._get_closed_form_lr()
