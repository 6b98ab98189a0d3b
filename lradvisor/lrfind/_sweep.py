"""The sweep: the trainable run once under an exponential LR ramp, its reports watched
for divergence (:class:`SweepContext`), read into an :class:`LRFindResult`."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lradvisor.lrfind._curve import (
    MIN_POINTS,
    LRFindError,
    ramp_lr,
    ramp_multiplier,
    smooth,
    suggest_lr,
)
from lradvisor.lrfind._result import LRFindResult
from lradvisor.search._context import TrialContext

__all__ = ["SweepContext", "check_seed", "lr_find", "trainable_failure"]


class _StopSweep(Exception):
    """Raised from ``report`` to end the sweep (divergence); caught by :func:`lr_find`."""


@dataclass
class SweepContext(TrialContext):
    """A :class:`TrialContext` whose scheduler ramps the LR up and whose reports watch it.

    ``spec`` is a ``constant`` schedule at ``lr_min`` (so ``ctx.peak_lr`` is the LR the
    trainable builds its optimizer with); :meth:`scheduler` overrides it with the ramp.
    """

    lr_min: float = 1e-7
    lr_max: float = 10.0
    diverge: float = 4.0
    beta: float = 0.98
    reports: int = 0
    stopped_at: int | None = None
    _avg: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, math.inf])

    def scheduler(self, optimizer: Any) -> Any:
        """Set the largest param group's LR to ``lr_min`` (the others in their ratios to
        it, as the search's ``ctx.scheduler`` sets a peak) and return the exponential
        ramp: the LRs swept are the largest group's."""
        from torch.optim.lr_scheduler import LambdaLR

        from lradvisor.schedules import set_peak

        set_peak(optimizer, self.lr_min)
        ramp = partial(ramp_multiplier, ratio=self.lr_max / self.lr_min, steps=self.total_steps)
        self._scheduler = LambdaLR(optimizer, ramp)
        return self._scheduler

    def report(self, step: int, value: float) -> None:
        """Record the loss; stop the sweep when it is not finite or has diverged."""
        super().report(step, value)
        avg, weight, last, best = self._avg
        if not math.isfinite(value):
            self.stopped_at = int(step)
            raise _StopSweep
        b = self.beta ** max(1.0, step - last)
        avg, weight = b * avg + (1 - b) * value, b * weight + (1 - b)
        smoothed = avg / weight
        self._avg = [avg, weight, float(step), min(best, smoothed)]
        if smoothed > self.diverge * min(best, smoothed):
            self.stopped_at = int(step)
            raise _StopSweep


def lr_find(
    trainable: str | Callable[..., Any] | None = None,
    *,
    workload: str | None = None,
    lr_min: float = 1e-7,
    lr_max: float = 10.0,
    steps: int = 100,
    seed: int = 0,
    diverge: float = 4.0,
    beta: float = 0.98,
    device: str | None = None,
) -> LRFindResult:
    """Run the LR range test on a trainable (``train(ctx)``) or a built-in workload.

    Args:
        trainable: ``train(ctx)``, or ``"module:function"`` / ``"file.py:function"``.
        workload: a built-in workload name (checked), whose trainable is swept when
            ``trainable`` is not given.
        lr_min, lr_max: the sweep's first and last LR (fastai's defaults).
        steps: optimizer steps of the sweep.
        seed: the run's seed, in [0, 2**32 - 1] as a search's.
        diverge: stop once the smoothed loss exceeds this many times its best.
        beta: smoothing per optimizer step.
        device: for the context (``None``: a GPU when present).

    Raises:
        LRFindError: a bad range or seed, or too few reported losses to read.
        TrainableError: the trainable cannot be loaded.
        WorkloadError: ``workload`` names no built-in workload.
        Exception: whatever the trainable raises, unchanged (the CLI makes it one line
            with :func:`trainable_failure`).

    Example:
        >>> result = lr_find(workload="digits-cnn", steps=100)  # doctest: +SKIP
        >>> result.suggestion.peak_lr  # doctest: +SKIP
    """
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search import default_device, load_trainable

    _check(lr_min, lr_max, steps, diverge, beta, seed)
    if workload is not None:  # checked even beside a trainable, as a search does
        from lradvisor.workloads import get_workload

        work = get_workload(workload)
        trainable = work.trainable if trainable is None else trainable
    if trainable is None:
        raise LRFindError("lr_find needs a trainable (module:function) or a workload.")
    function = load_trainable(trainable)
    ctx = SweepContext(spec=ScheduleSpec.create("constant", peak_lr=lr_min), total_steps=steps,
                       seed=seed, device=device or default_device(), lr_min=lr_min,
                       lr_max=lr_max, diverge=diverge, beta=beta, reports=steps)
    _train(function, ctx)
    points = [(s, v) for s, v in ctx.curve if 1 <= s <= steps]
    got_steps = [s for s, _ in points]
    losses = [v for _, v in points]
    lrs = [ramp_lr(s, lr_min=lr_min, lr_max=lr_max, steps=steps) for s in got_steps]
    try:
        suggestion = suggest_lr(got_steps, lrs, losses, beta=beta)
    except LRFindError:
        if ctx.stopped_at is None:
            raise
        raise LRFindError(_stopped_early(ctx.stopped_at, losses, lr_min, lr_max, steps)) from None
    sm = smooth(got_steps, [v if math.isfinite(v) else math.nan for v in losses], beta)
    return LRFindResult(tuple(got_steps), tuple(lrs), tuple(losses), tuple(sm), suggestion,
                        lr_min, lr_max, steps, seed, ctx.stopped_at)


def _train(function: Callable[..., Any], ctx: SweepContext) -> None:
    """Run the trainable until it returns or the sweep stops it. Every frame under this
    one in a traceback is the trainable's (see :func:`trainable_failure`)."""
    with contextlib.suppress(_StopSweep):
        function(ctx)


def trainable_failure(err: BaseException) -> str | None:
    """``err`` in one line, with the innermost line of the trainable's own file it passed
    through, when it came out of the trainable :func:`lr_find` ran; ``None`` otherwise
    (the sweep's own errors, bad input). A search's failed trials say the same
    (:func:`~lradvisor.search._trainable.failure_line`).

    Example:
        >>> def train(ctx):
        ...     raise ValueError("no data")
        >>> try:
        ...     lr_find(train, steps=10)
        ... except ValueError as err:
        ...     print(trainable_failure(err))  # doctest: +ELLIPSIS
        ValueError: no data (at ...:2 in train)
    """
    from lradvisor.search._trainable import failure_line

    return failure_line(err, _train.__code__)


def _stopped_early(step: int, losses: Sequence[float], lr_min: float, lr_max: float,
                   steps: int) -> str:
    """Why a sweep that stopped before it had enough losses to read cannot be read (the
    advice to report more often does not help there)."""
    lr = ramp_lr(step, lr_min=lr_min, lr_max=lr_max, steps=steps)
    what = "was not finite" if losses and not math.isfinite(losses[-1]) else "diverged"
    return (f"the loss {what} at step {step} of {steps} (LR {lr:.3g}), before the range test "
            f"had {MIN_POINTS} losses to read: start the sweep lower (lr_min, got {lr_min!r}) "
            "or check the trainable's first losses.")


def _check(lr_min: Any, lr_max: Any, steps: Any, diverge: Any, beta: Any, seed: Any) -> None:
    for name, value in (("lr_min", lr_min), ("lr_max", lr_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise LRFindError(f"{name} must be a number > 0, but got {value!r}.")
    if lr_max <= lr_min:
        raise LRFindError(f"lr_max must be above lr_min, but got {lr_min!r} .. {lr_max!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < MIN_POINTS + 2:
        raise LRFindError(f"steps must be an integer >= {MIN_POINTS + 2}, but got {steps!r}.")
    if isinstance(diverge, bool) or not isinstance(diverge, (int, float)) or not diverge > 1:
        raise LRFindError(f"diverge must be a number > 1, but got {diverge!r}.")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
        raise LRFindError(f"beta must be in [0, 1), but got {beta!r}.")
    check_seed(seed)


def check_seed(seed: Any) -> None:
    """A seed as a search takes it: an integer in [0, 2**32 - 1], as numpy's."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise LRFindError(f"seed must be an integer in [0, 4294967295], but got {seed!r}.")
