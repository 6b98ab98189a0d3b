"""``step``: the LR drops by ``gamma`` every ``step_fraction`` (torch ``StepLR``).

``step_fraction`` is a fraction of the part of the run after warmup (of the whole run
without warmup): 0.5 with 10% warmup drops the LR at 0.1 + 0.5 x 0.9 = 0.55 of the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param, length_within_run


def decay(step: int, total_steps: int, *, step_size: int, gamma: float) -> float:
    """``gamma ** (step // step_size)``: StepLR's closed form."""
    return float(gamma ** (step // step_size))


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """The decay interval in whole steps (at least 1; ``step_steps`` past the run's end is
    refused, its first drop would never come) and ``gamma``."""
    return {
        "step_size": length_within_run("step", params, "step", total_steps),
        "gamma": params["gamma"],
    }


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``StepLR``."""
    from torch.optim.lr_scheduler import StepLR

    return StepLR(optimizer, step_size=kwargs["step_size"], gamma=kwargs["gamma"])


FAMILY = Family(
    name="step",
    summary="Multiply the LR by gamma every step_fraction of the run after warmup (StepLR).",
    params=(
        Param(
            "step_fraction", "float", 1 / 3,
            "interval between drops, as a fraction of the run after warmup",
            low=0.0, high=1.0, low_open=True, search=(0.1, 0.5), length=True,
        ),
        Param(
            "gamma", "float", 0.1, "factor applied to the LR at each drop",
            low=0.0, high=1.0, low_open=True, search=(0.05, 0.5), log=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    native=native,
    torch_class="StepLR",
    open_ended=True,
    guide="Classic CNN recipe: gamma 0.1 at every third of training.",
)
