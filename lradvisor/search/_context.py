"""``TrialContext``: what a user's training function receives for one proxy run.

A plain Optuna user recognises the shape: ``ctx.report(step, value)`` is
``trial.report`` plus ``trial.should_prune``. The context knows nothing of Optuna
itself; the search passes an ``on_report`` callback that reports to the trial and
raises ``optuna.TrialPruned`` when the pruner says so. Built without one (tests, the
LR range test, a quick manual run), it only records the curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lradvisor.schedules import ScheduleSpec

__all__ = ["TrialContext", "default_device"]


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class TrialContext:
    """One proxy training run: the schedule to follow, its length, where to report.

    Attributes:
        spec: the trial's schedule (relative lengths; its ``peak_lr`` is the trial's).
        total_steps: optimizer steps in this proxy run; the loop runs exactly this many
            and calls ``scheduler.step()`` after each ``optimizer.step()``.
        seed: seed for the model's initialisation and data order.
        epochs, steps_per_epoch: the run's shape where the profile gives one.
        device: ``"cuda"`` when a GPU is present, else ``"cpu"``.
        fidelity: this run's length as a fraction of the full run.
        on_report: called as ``on_report(step, value)`` by :meth:`report`; may raise
            ``optuna.TrialPruned``.
        curve: every ``(step, value)`` reported so far.
    """

    spec: ScheduleSpec
    total_steps: int
    seed: int = 0
    epochs: int | None = None
    steps_per_epoch: int | None = None
    device: str = "cpu"
    fidelity: float = 1.0
    on_report: Callable[[int, float], None] | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    _scheduler: Any = field(default=None, repr=False)

    @property
    def peak_lr(self) -> float:
        """The trial's peak LR."""
        if self.spec.peak_lr is None:
            raise ValueError("the trial's spec has no peak_lr")
        return self.spec.peak_lr

    def scheduler(self, optimizer: Any) -> Any:
        """Set ``optimizer``'s LR to the trial's peak and return the trial's scheduler.

        With param groups of different LRs the largest becomes the peak and the others
        keep their ratios to it (a head at 10x its backbone stays at 10x).

        Step it once per optimizer step, for every family: a ``plateau`` schedule gets
        its metric from :meth:`report`, so the loop needs no special case.
        """
        from lradvisor.schedules import build_scheduler

        self._scheduler = build_scheduler(optimizer, self.spec, self.total_steps)
        return self._scheduler

    def report(self, step: int, value: float) -> None:
        """Record the validation ``value`` at optimizer step ``step``.

        Feeds a ``plateau`` schedule its metric, then lets the pruner decide; raises
        ``optuna.TrialPruned`` when it stops the trial (NaN and inf count as diverged).
        """
        value = float(value)
        self.curve.append((int(step), value))
        observe = getattr(self._scheduler, "observe", None)
        if observe is not None and math.isfinite(value):
            observe(value)
        if self.on_report is not None:
            self.on_report(int(step), value)
