"""``polynomial``: ``(1 - progress) ** power`` from the peak to ``end_ratio``.

HF's ``polynomial`` (``lr_end = end_ratio * peak``) and, with ``end_ratio=0`` and no
warmup, torch's ``PolynomialLR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family, no_lengths
from lradvisor.schedules._params import Param


def decay(step: int, total_steps: int, *, power: float, end_ratio: float) -> float:
    """``e + (1 - e) * (1 - step / total) ** power``, held at ``e`` after the end."""
    remaining = 1.0 - min(step, total_steps) / total_steps
    return end_ratio + (1.0 - end_ratio) * remaining**power


def native_fits(kwargs: Mapping[str, Any], total_steps: int) -> bool:
    """torch's ``PolynomialLR`` decays to zero only."""
    return bool(kwargs["end_ratio"] == 0.0)


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``PolynomialLR`` when it decays to zero; ``None`` (``LambdaLR``) otherwise."""
    if not native_fits(kwargs, total_steps):
        return None
    from torch.optim.lr_scheduler import PolynomialLR

    return PolynomialLR(optimizer, total_iters=total_steps, power=kwargs["power"])


FAMILY = Family(
    name="polynomial",
    summary="Polynomial decay (1 - t/T)^power to end_ratio, optional warmup.",
    params=(
        Param(
            "power", "float", 1.0, "exponent of the decay (1: linear)",
            low=0.0, high=10.0, low_open=True, search=(0.5, 3.0), log=True,
        ),
        Param(
            "end_ratio", "float", 0.0, "LR at the end as a multiple of the peak (HF lr_end/peak)",
            low=0.0, high=1.0,
        ),
    ),
    decay=decay,
    kwargs=no_lengths,
    native=native,
    native_fits=native_fits,
    torch_class="PolynomialLR",
    guide="BERT-style pretraining and segmentation (poly, power 0.9).",
)
