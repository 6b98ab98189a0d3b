"""``SpecLR``: any fixed schedule of a spec, as a lean closed-form torch scheduler.

What ``LambdaLR`` over the spec's multiplier does, without torch's generic step path:
the LR is ``base_lr * multiplier(step)`` from the spec's own pure function, written to
the optimizer only when it changes. Its ``state_dict`` is plain data (the spec's JSON
and the run's length), so it pickles, loads with ``weights_only=True``, and resumes
exactly. The policy uses it where torch has no native class with the same semantics.

This module imports torch at import time; :mod:`lradvisor.policy` imports it lazily.
"""

from __future__ import annotations

from typing import Any

from lradvisor.policy._base import MetricScheduler
from lradvisor.schedules import ScheduleSpec

__all__ = ["SpecLR"]


class SpecLR(MetricScheduler):
    """The fixed schedule ``spec`` over ``total_steps`` scheduler steps.

    Args:
        optimizer: a ``torch.optim.Optimizer``; each group's ``initial_lr`` (or ``lr``)
            is its peak.
        spec: the schedule (warmup included: the spec's multiplier has it).
        total_steps: the run's length in scheduler steps.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = SpecLR(opt, ScheduleSpec.create("linear", warmup_steps=2), 4)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.5]
    """

    _transient = ("optimizer", "curve", "_fn")

    def __init__(self, optimizer: Any, spec: ScheduleSpec, total_steps: int,
                 last_epoch: int = -1) -> None:
        self.spec_json = spec.to_json()
        self.total_steps = int(total_steps)
        self._fn = spec.multiplier_fn(self.total_steps)
        super().__init__(optimizer, last_epoch=last_epoch)

    def multiplier(self, step: int) -> float:
        """The spec's multiplier at ``step`` (warmup, then its decay)."""
        return self._fn(step)

    def observe(self, metric: Any) -> None:
        """A fixed schedule does not react to metrics."""

    def _rebuild(self) -> None:
        spec = ScheduleSpec.from_json(self.spec_json)
        self._fn = spec.multiplier_fn(self.total_steps)
