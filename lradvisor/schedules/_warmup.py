"""Linear warmup, written once, as a wrapper any decay composes with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["with_warmup"]


def with_warmup(
    step: int,
    *,
    decay: Callable[..., float],
    total_steps: int,
    warmup_steps: int,
    start_factor: float,
    **kwargs: Any,
) -> float:
    """LR multiplier at ``step``: linear warmup, then ``decay`` over the rest of the run.

    During the first ``warmup_steps`` steps the multiplier rises linearly from
    ``start_factor`` to 1 (HF transformers' ``step / warmup_steps`` when
    ``start_factor`` is 0). After that, ``decay`` sees the step and length counted from
    the end of warmup, as HF's schedules compute their progress.

    Example:
        >>> from functools import partial
        >>> flat = lambda step, total_steps: 1.0
        >>> [with_warmup(s, decay=flat, total_steps=10, warmup_steps=4, start_factor=0.0)
        ...  for s in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    if step < warmup_steps:
        return start_factor + (1.0 - start_factor) * step / warmup_steps
    return decay(step - warmup_steps, total_steps - warmup_steps, **kwargs)
