"""Helpers for the schedule tests: a real optimizer and a loop that drives a scheduler.

Imported by the test modules as ``schedule_helpers`` (pytest puts this folder on the path).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

REL = 1e-9


def make_optimizer(lr: float = 0.1, groups: int = 1) -> torch.optim.Optimizer:
    """A real SGD optimizer over ``groups`` param groups, each a one-element tensor."""
    params = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=lr)


def drive(
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    steps: int,
    metrics: Sequence[float] | None = None,
) -> list[float]:
    """The LR of group 0 at each of ``steps`` steps: read it, ``optimizer.step()``,
    ``scheduler.step()`` (with ``metrics[i]`` when given), as a training loop does."""
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's epoch deprecation
        for i in range(steps):
            lrs.append(float(optimizer.param_groups[0]["lr"]))
            optimizer.step()
            if metrics is None:
                scheduler.step()
            else:
                scheduler.step(metrics[i])
    return lrs


def assert_close(ours: Sequence[float], theirs: Sequence[float], rel: float = REL) -> None:
    """Equal length and every value within ``rel`` relative (exactly equal at 0)."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        assert math.isclose(a, b, rel_tol=rel, abs_tol=0.0), f"step {i}: ours {a!r}, ref {b!r}"


def reference_lrs(
    factory: Callable[[torch.optim.Optimizer], Any],
    steps: int,
    lr: float,
    metrics: Sequence[float] | None = None,
) -> list[float]:
    """The LR sequence of the scheduler ``factory(optimizer)`` builds on a fresh optimizer."""
    opt = make_optimizer(lr)
    return drive(opt, factory(opt), steps, metrics)


def built_lrs(
    spec: Any, total: int, lr: float, metrics: Sequence[float] | None = None
) -> tuple[str, list[float]]:
    """Our built scheduler's class name and LR sequence over ``total`` steps."""
    from lradvisor.schedules import build_scheduler

    opt = make_optimizer(lr)
    sched = build_scheduler(opt, spec, total)
    return type(sched).__name__, drive(opt, sched, total, metrics)
