"""``multistep``: the LR drops by ``gamma`` at each milestone (torch ``MultiStepLR``).

Milestones are fractions of the part of the run after warmup (of the whole run without
warmup): 0.5 with 10% warmup drops the LR at 0.1 + 0.5 x 0.9 = 0.55 of the run.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param


def decay(step: int, total_steps: int, *, milestones: tuple[int, ...], gamma: float) -> float:
    """``gamma ** (milestones passed)``: MultiStepLR's closed form (repeats count twice)."""
    return float(gamma ** bisect_right(milestones, step))


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """Milestones as sorted whole steps of this run, and ``gamma``."""
    steps = sorted(int(round(f * total_steps)) for f in params["milestones"])
    return {"milestones": tuple(steps), "gamma": params["gamma"]}


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``MultiStepLR``."""
    from torch.optim.lr_scheduler import MultiStepLR

    return MultiStepLR(optimizer, milestones=list(kwargs["milestones"]), gamma=kwargs["gamma"])


FAMILY = Family(
    name="multistep",
    summary="Multiply the LR by gamma at each milestone (fractions of the run after warmup; "
            "MultiStepLR).",
    params=(
        Param(
            "milestones", "floats", (0.5, 0.75),
            "where the LR drops, as fractions of the run after warmup",
            low=0.0, high=1.0, low_open=True,
        ),
        Param(
            "gamma", "float", 0.1, "factor applied to the LR at each milestone",
            low=0.0, high=1.0, low_open=True, search=(0.05, 0.5), log=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    native=native,
    torch_class="MultiStepLR",
    guide="CNNs on a known budget: drops at 50% and 75% of training.",
)
