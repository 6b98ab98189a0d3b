"""The training loop every built-in workload shares, and its batch samplers.

Imports torch at module level: only the workloads' ``train`` functions import it, on
first use. One loop for all workloads keeps the contract in one place: exactly
``ctx.total_steps`` optimizer steps, ``scheduler.step()`` after every one of them (for
every family, ``plateau`` included: it gets its metric through ``ctx.report``), and
about :data:`REPORTS` validation reports, the last one at the final step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from lradvisor.search._context import TrialContext

__all__ = ["REPORTS", "EpochSampler", "eval_steps", "fit", "torch_threads"]

REPORTS = 20
"""Validation reports per run, whatever its length (fewer when it has fewer steps)."""

THREADS_ENV = "LRADVISOR_TORCH_THREADS"


def eval_steps(total_steps: int, reports: int = REPORTS) -> frozenset[int]:
    """The steps after which a run of ``total_steps`` evaluates: evenly spread, last at the end.

    Example:
        >>> sorted(eval_steps(100, reports=4))
        [25, 50, 75, 100]
    """
    count = min(reports, total_steps)
    return frozenset(round(i * total_steps / count) for i in range(1, count + 1))


@contextmanager
def torch_threads(device: str) -> Iterator[None]:
    """Run CPU work on ``$LRADVISOR_TORCH_THREADS`` threads (default 1), then restore.

    The models are tiny: one thread is as fast as several for them, leaves the other
    cores to parallel search workers, and gives the same numbers on every machine.
    Nothing changes at import, and the caller's setting is restored afterwards.
    """
    wanted = int(os.environ.get(THREADS_ENV, "1")) if device == "cpu" else None
    before = torch.get_num_threads()
    if wanted is not None and wanted != before:
        torch.set_num_threads(max(1, wanted))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class EpochSampler:
    """Minibatches of a fixed data set, reshuffled every epoch by a seeded generator.

    Incomplete last batches are dropped, so an epoch is ``len(x) // batch_size`` steps.
    The permutation is drawn on the CPU (the same order on every device) and moved to
    the data's device once per epoch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.steps_per_epoch = len(x) // batch_size
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._position = self.steps_per_epoch

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._position >= self.steps_per_epoch:
            perm = torch.randperm(len(self.x), generator=self._generator)
            self._order, self._position = perm.to(self.x.device), 0
        start = self._position * self.batch_size
        index = self._order[start : start + self.batch_size]
        self._position += 1
        return self.x[index], self.y[index]


def fit(
    ctx: TrialContext,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    sample: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    evaluate: Callable[[nn.Module], float],
    *,
    clip_norm: float | None = None,
) -> float:
    """Train ``model`` for exactly ``ctx.total_steps`` steps under the trial's schedule.

    Args:
        ctx: the trial: schedule, length, where to report.
        model, optimizer: already on ``ctx.device``; the optimizer's LR is set to the
            trial's peak by ``ctx.scheduler``.
        sample: returns the next ``(inputs, targets)`` minibatch, on the device.
        loss_fn: ``loss_fn(model(inputs), targets)``, a scalar to minimise.
        evaluate: the validation value of ``model`` (lower is better), a Python float.
        clip_norm: clip the gradient's global norm to this before each step.

    Returns:
        The validation value after the last step, or ``inf`` as soon as a validation
        value is NaN or infinite: the run has diverged, that value is reported (the
        pruner counts it as diverged) and training stops there, since the weights
        are lost. ``inf`` rather than NaN so that a diverged trial completes as the
        worst value instead of failing.
    """
    scheduler = ctx.scheduler(optimizer)
    checkpoints = eval_steps(ctx.total_steps)
    value = math.nan
    for step in range(1, ctx.total_steps + 1):
        model.train()
        inputs, targets = sample()
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        scheduler.step()
        if step in checkpoints:
            model.eval()
            with torch.no_grad():
                value = float(evaluate(model))
            ctx.report(step, value)
            if not math.isfinite(value):
                return math.inf
    return value
