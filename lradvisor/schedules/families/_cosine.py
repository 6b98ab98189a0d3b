"""``cosine``: half a cosine from the peak down to a floor, after an optional warmup.

Covers torch's ``CosineAnnealingLR`` (no warmup, ``eta_min = min_lr_ratio * peak``) and
HF's ``cosine`` / ``cosine_with_min_lr`` (``min_lr_rate = min_lr_ratio``).
"""

from __future__ import annotations

import math
from typing import Any

from lradvisor.schedules._family import Family, no_lengths
from lradvisor.schedules._params import Param


def decay(step: int, total_steps: int, *, min_lr_ratio: float) -> float:
    """``r + (1 - r) * (1 + cos(pi * step / total)) / 2``, held at the floor after the end."""
    progress = min(step / total_steps, 1.0)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``CosineAnnealingLR`` over the whole run, ``eta_min`` the floor, held
    there past the end as :func:`decay` is (torch's climbs back to the peak)."""
    from lradvisor.schedules._held import CosineAnnealingLR

    return CosineAnnealingLR(
        optimizer, T_max=total_steps, eta_min=kwargs["min_lr_ratio"] * peak_lr
    )


FAMILY = Family(
    name="cosine",
    summary="Cosine annealing from the peak to a floor, optional linear warmup.",
    params=(
        Param(
            "min_lr_ratio", "float", 0.0, "floor as a multiple of the peak LR",
            low=0.0, high=1.0, search=(1e-4, 0.1), log=True,
        ),
    ),
    decay=decay,
    kwargs=no_lengths,
    native=native,
    torch_class="CosineAnnealingLR",
    guide="Training from scratch (CNNs); with warmup, transformer pretraining.",
)
