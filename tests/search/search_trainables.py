"""Tiny real trainables for the search tests (torch SGD on a noisy quadratic).

Loaded by path (``tests/search/search_trainables.py:quadratic``), as users load theirs.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

TARGET = (1.0, -2.0, 0.5, 3.0)


def quadratic(ctx):
    """SGD on ``|w - target|^2`` with gradient noise; reports 5 times; returns the error."""
    import torch

    torch.manual_seed(ctx.seed)
    w = torch.nn.Parameter(torch.randn(4) * 3)
    opt = torch.optim.SGD([w], lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    target = torch.tensor(TARGET)
    every = max(1, ctx.total_steps // 5)
    value = math.nan
    for step in range(1, ctx.total_steps + 1):
        loss = ((w - target + 0.3 * torch.randn(4)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % every == 0 or step == ctx.total_steps:
            with torch.no_grad():
                value = float(((w - target) ** 2).sum())
            ctx.report(step, value)
    return value


def returns_peak(ctx):
    """No training: reports and returns the peak LR it was handed (lower wins)."""
    ctx.report(ctx.total_steps, ctx.peak_lr)
    return ctx.peak_lr


def fails_on_onecycle(ctx):
    """Raises for the ``onecycle`` family, trains the quadratic otherwise."""
    if ctx.spec.family == "onecycle":
        raise RuntimeError(f"boom: onecycle at peak {ctx.peak_lr:g}")
    return quadratic(ctx)


def nan_on_plateau(ctx):
    """Reports NaN for the ``plateau`` family (a diverged run), quadratic otherwise."""
    if ctx.spec.family == "plateau":
        ctx.report(1, float("nan"))
        return float("nan")
    return quadratic(ctx)


def slow(ctx):
    """The quadratic, slowed down so a test can interrupt the search mid-trial."""
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0.3")))
    return quadratic(ctx)


def swallows_ctrl_c(ctx):
    """The slow quadratic, catching Ctrl-C itself (as a loop that saves a checkpoint on
    it might) and returning as if nothing happened."""
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0.3")))
    return quadratic(ctx)


NOT_CALLABLE = 3


def frozen_objects(ctx):
    """Returns how many objects the cyclic garbage collector has frozen (``gc.freeze``)."""
    import gc

    return float(gc.get_freeze_count())


def cycle_collected(ctx):
    """Makes a reference cycle, drops it, collects: 1.0 if it was freed, else 0.0."""
    import gc
    import weakref

    class Node:
        pass

    node = Node()
    node.self = node
    alive = weakref.ref(node)
    del node
    gc.collect()
    return 1.0 if alive() is None else 0.0


def interrupted(ctx):
    """Ctrl-C arriving during the first trial (the rules' pick)."""
    raise KeyboardInterrupt


def exits_on_onecycle(ctx):
    """The quadratic, but ``sys.exit(3)`` for onecycle (an argparse in the loop, say)."""
    if ctx.spec.family == "onecycle":
        sys.exit(3)
    return quadratic(ctx)


def always_fails(ctx):
    """Raises on every trial, as a trainable whose data is missing."""
    batches = []
    if not batches:
        raise ValueError(f"no batches for {ctx.total_steps} steps")
    return quadratic(ctx)


_CALLS = [0]


def fails_first_call(ctx):
    """Raises on the first trial of its process only (data not downloaded yet, say)."""
    _CALLS[0] += 1
    if _CALLS[0] == 1:
        raise RuntimeError("data not ready on the first call")
    return quadratic(ctx)


def fails_in_one_process(ctx):
    """Every trial of one process fails (the first to get here: a machine without its
    data), once the other has completed one; the quadratic elsewhere. ``MARKS`` is a
    folder the processes share."""
    from pathlib import Path

    marks = Path(os.environ["MARKS"])
    mine = str(os.getpid())
    with contextlib.suppress(FileExistsError), (marks / "failing").open("x") as first:
        first.write(mine)
    if (marks / "failing").read_text() == mine:
        deadline = time.monotonic() + 60
        while not (marks / "completed").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # so that the other process completes a trial first
        raise RuntimeError("no data on this machine")
    value = quadratic(ctx)
    (marks / "completed").touch()
    return value
