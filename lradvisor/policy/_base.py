"""What the policy's two schedulers share: a closed-form LR, warmup, a metric curve.

Both are real ``torch.optim.lr_scheduler.LRScheduler`` subclasses, so code written for
torch's schedulers (``step()``, ``get_last_lr()``, ``state_dict()``, Lightning, HF's
``Trainer``) takes them unchanged. Their LR is a closed form of the step count and a
little state (a scale, a decay start), never a product of past updates, so a resumed
run continues the identical sequence.

This module imports torch at import time; :mod:`lradvisor.policy` imports it lazily.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import asdict
from typing import Any

from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler

from lradvisor.plateau import PlateauDetector
from lradvisor.policy._curve import Curve
from lradvisor.policy._errors import PolicyError

__all__ = ["MetricScheduler", "check_count", "warmup_factor"]


def warmup_factor(step: int, warmup_steps: int, start_factor: float) -> float:
    """Linear warmup from ``start_factor`` to 1 over ``warmup_steps`` steps, then 1.

    The same line as :func:`lradvisor.schedules._warmup.with_warmup` (HF's
    ``step / warmup_steps`` when ``start_factor`` is 0).
    """
    if step >= warmup_steps:
        return 1.0
    return start_factor + (1.0 - start_factor) * step / warmup_steps


def check_count(name: str, value: Any, *, low: int = 0) -> int:
    """``value`` as an int ``>= low`` (numpy's integers too), or a :class:`PolicyError`
    naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise PolicyError(f"{name} must be an integer >= {low}, but got {name}={value!r}.")
    return int(value)


class MetricScheduler(LRScheduler):
    """An ``LRScheduler`` whose LR is ``base_lr * multiplier(step)``, fed a metric curve.

    Subclasses write :meth:`multiplier` (a closed form of ``last_epoch`` and their own
    plain attributes) and :meth:`_judge` (what a new metric value changes).
    ``step(metric)`` counts one step, then observes ``metric``; ``observe(metric)``
    observes without counting. Metrics seen during warmup are ignored.

    ``state_dict()`` is plain data (numbers, lists, dicts), so a checkpoint holding it
    loads with ``torch.load(..., weights_only=True)``.
    """

    def __init__(
        self,
        optimizer: Any,
        *,
        warmup_steps: int = 0,
        warmup_start_factor: float = 0.0,
        detector: PlateauDetector | None = None,
        last_epoch: int = -1,
    ) -> None:
        self.warmup_steps = check_count("warmup_steps", warmup_steps)
        if not 0.0 <= float(warmup_start_factor) <= 1.0:
            raise PolicyError(
                f"warmup_start_factor must be in [0, 1], but got {warmup_start_factor!r}."
            )
        self.warmup_start_factor = float(warmup_start_factor)
        self.curve = Curve(detector or PlateauDetector())
        self._factor: float | None = None  # the multiplier last written to the optimizer
        super().__init__(optimizer, last_epoch)

    @property
    def detector(self) -> PlateauDetector:
        """The plateau detector judging the metric curve."""
        return self.curve.detector

    @property
    def in_warmup(self) -> bool:
        """Whether warmup is still running (metrics are ignored until it ends)."""
        return self.last_epoch < self.warmup_steps

    def multiplier(self, step: int) -> float:
        """The LR at ``step`` as a multiple of each group's base LR."""
        raise NotImplementedError

    def get_lr(self) -> list[Any]:
        """``base_lr * multiplier(last_epoch)`` for every param group (closed form)."""
        factor = self.multiplier(self.last_epoch)
        return [base * factor for base in self.base_lrs]

    _get_closed_form_lr = get_lr

    # frames from the warning in step() up to the caller's step() call (a subclass whose
    # step() calls this one adds one), so the warning names the caller's line as torch's
    _caller_depth = 2

    def step(self, metrics: Any = None) -> None:  # type: ignore[override]
        """Count one scheduler step; with ``metrics``, then observe it (after warmup).

        The LR is written to the optimizer only when it changes, or when something else
        changed it since (``SequentialLR`` resetting it to ``initial_lr``, a neighbour
        in a ``ChainedScheduler``), as ``LambdaLR`` would overwrite it. A flat stretch
        costs a counter increment and a comparison, cheaper than torch's generic path.
        """
        opt = self.optimizer
        if (self._step_count == 1 and hasattr(opt.step, "_wrapped_by_lr_sched")
                and not getattr(opt, "_opt_called", False)):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`: the "
                "schedule's first LR is skipped. Call optimizer.step() first.",
                UserWarning,
                stacklevel=self._caller_depth,
            )
        self._step_count += 1
        self.last_epoch += 1
        factor = self.multiplier(self.last_epoch)
        if factor != self._factor or self._overwritten():
            self._apply(factor)
        if metrics is not None:
            self.observe(metrics)

    def _update_lr(self, epoch: int | None = None) -> None:
        """torch's own path (``SequentialLR`` calls ``_update_lr(0)`` at a milestone)."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        self._apply()

    def _overwritten(self) -> bool:
        """Whether a group's LR is no longer the one this scheduler last wrote."""
        groups, last = self.optimizer.param_groups, self._last_lr
        if hasattr(groups[0]["lr"], "fill_"):
            return True  # a tensor LR is filled in place every step, as LambdaLR does:
            # comparing a GPU tensor would make the CPU wait for the GPU each step
        if len(groups) == 1:  # the common case, on every step: no loop
            return bool(groups[0]["lr"] != last[0])
        return any(group["lr"] != lr for group, lr in zip(groups, last, strict=True))

    def observe(self, metric: Any) -> None:
        """Feed one metric value without counting a step (ignored during warmup)."""
        if self.in_warmup:
            return
        self._judge(float(metric))

    def _judge(self, value: float) -> None:
        raise NotImplementedError

    def _rebuild(self) -> None:
        """Recreate the transient attributes after a load (none by default)."""

    def _apply(self, factor: float | None = None) -> None:
        """Set the optimizer's LRs for the current step now (after a decision)."""
        if factor is None:
            factor = self.multiplier(self.last_epoch)
        self._factor = factor
        self._last_lr = [base * factor for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            if isinstance(group["lr"], Tensor):  # filled in place, as torch's schedulers do,
                group["lr"].fill_(lr)  # so a compiled optimizer step keeps its tensor
            else:
                group["lr"] = lr

    # -- resume -------------------------------------------------------------------------
    # attributes rebuilt rather than saved (not plain data)
    _transient: tuple[str, ...] = ("optimizer", "curve")

    def state_dict(self) -> dict[str, Any]:
        """``__dict__`` minus the optimizer, as torch's; the curve as plain data."""
        state = {k: v for k, v in self.__dict__.items() if k not in self._transient}
        state["curve"] = self.curve.state()
        state["detector"] = asdict(self.curve.detector)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load :meth:`state_dict` output; the LR sequence continues exactly (load the
        optimizer's state too, as with any torch scheduler)."""
        state = dict(state_dict)
        missing = {"curve", "detector", "last_epoch"} - set(state)
        if missing:
            raise PolicyError(
                f"not a {type(self).__name__} state: missing {sorted(missing)}; "
                f"got keys {sorted(state)[:8]}."
            )
        curve = Curve(PlateauDetector(**state.pop("detector")))
        curve.load(state.pop("curve"))
        self.__dict__.update(state)
        self.curve = curve
        self._rebuild()
        # As torch's: loading leaves the optimizer alone (its own state holds the LR, and a
        # SequentialLR or ChainedScheduler around this one may own it now); the next
        # step() writes the LR (a fresh optimizer is at its peak until then).
        self._factor = None
