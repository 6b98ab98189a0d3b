"""``exponential``: the LR shrinks by the same factor every step (torch ``ExponentialLR``).

The spec states where it ends (``final_ratio``, the last LR over the peak), not the
per-step ``gamma``, so one spec means the same curve for a run of any length:
``gamma = final_ratio ** (1 / total_steps)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param


def decay(step: int, total_steps: int, *, gamma: float) -> float:
    """``gamma ** step``: ExponentialLR's closed form."""
    return float(gamma**step)


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """The per-step ``gamma`` that reaches ``final_ratio`` after ``total_steps`` steps."""
    return {"gamma": params["final_ratio"] ** (1.0 / total_steps)}


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``ExponentialLR``."""
    from torch.optim.lr_scheduler import ExponentialLR

    return ExponentialLR(optimizer, gamma=kwargs["gamma"])


FAMILY = Family(
    name="exponential",
    summary="Shrink the LR by a constant factor per step, to final_ratio at the end.",
    params=(
        Param(
            "final_ratio", "float", 0.01, "LR at the end of the run as a multiple of the peak",
            low=0.0, high=1.0, low_open=True, search=(1e-3, 0.3), log=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    native=native,
    torch_class="ExponentialLR",
    guide="Smooth decay when the budget is not known precisely.",
)
