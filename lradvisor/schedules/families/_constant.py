"""``constant``: the peak LR throughout, after an optional linear warmup."""

from __future__ import annotations

from typing import Any

from lradvisor.schedules._family import Family, no_lengths


def decay(step: int, total_steps: int) -> float:
    """Always 1: the LR stays at its peak."""
    return 1.0


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``ConstantLR`` with factor 1: the LR is left as it is."""
    from torch.optim.lr_scheduler import ConstantLR

    return ConstantLR(optimizer, factor=1.0, total_iters=0)


FAMILY = Family(
    name="constant",
    summary="The peak LR throughout (HF constant / constant_with_warmup).",
    params=(),
    decay=decay,
    kwargs=no_lengths,
    native=native,
    torch_class="ConstantLR",
    open_ended=True,
    guide="A baseline; rarely best for a whole run.",
)
