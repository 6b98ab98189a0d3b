"""``linear``: straight-line decay from the peak to a floor, after an optional warmup.

HF transformers' ``linear`` schedule (``min_lr_ratio=0``); without warmup, torch's
``LinearLR(start_factor=1, end_factor=min_lr_ratio, total_iters=total_steps)``.
"""

from __future__ import annotations

from typing import Any

from lradvisor.schedules._family import Family, no_lengths
from lradvisor.schedules._params import Param


def decay(step: int, total_steps: int, *, min_lr_ratio: float) -> float:
    """``1 + (r - 1) * step / total``, held at the floor ``r`` after the end."""
    progress = min(step, total_steps) / total_steps
    return 1.0 + (min_lr_ratio - 1.0) * progress


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``LinearLR`` from factor 1 to ``min_lr_ratio`` over the run."""
    from torch.optim.lr_scheduler import LinearLR

    return LinearLR(
        optimizer, start_factor=1.0, end_factor=kwargs["min_lr_ratio"], total_iters=total_steps
    )


FAMILY = Family(
    name="linear",
    summary="Linear decay from the peak to a floor, optional warmup (HF linear).",
    params=(
        Param(
            "min_lr_ratio", "float", 0.0, "floor as a multiple of the peak LR (HF: 0)",
            low=0.0, high=1.0, search=(1e-4, 0.1), log=True,
        ),
    ),
    decay=decay,
    kwargs=no_lengths,
    native=native,
    torch_class="LinearLR",
    guide="Fine-tuning transformers (BERT-style): short warmup, then linear to zero.",
)
