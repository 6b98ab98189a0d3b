"""``cyclic``: triangular cycles between ``base_ratio * peak`` and the peak (``CyclicLR``).

Momentum is not cycled (``cycle_momentum=False``), so any optimizer works. The cycles
are their own ramp: no shared warmup parameters. ``gamma`` (``exp_range``) is per step,
as in torch, so its effect depends on the run's length and the search leaves it alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param, length_within_run


def decay(
    step: int,
    total_steps: int,
    *,
    mode: str,
    base_ratio: float,
    step_size_up: int,
    step_size_down: int,
    gamma: float,
) -> float:
    """CyclicLR's LR at ``step`` over the peak; starts at ``base_ratio``."""
    total_size = float(step_size_up) + float(step_size_down)
    step_ratio = step_size_up / total_size
    cycle = math.floor(1 + step / total_size)
    x = 1.0 + step / total_size - cycle
    scale_factor = x / step_ratio if x <= step_ratio else (x - 1) / (step_ratio - 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1 / (2.0 ** (cycle - 1))
    else:
        scale = gamma**step
    return base_ratio + (1.0 - base_ratio) * scale_factor * scale


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """Half-cycle lengths in whole steps (at least 1; one in steps past the run's end is
    refused, as a fraction above 1 is: the LR would never reach the peak, or the base);
    down defaults to up."""
    up = length_within_run("cyclic", params, "step_up", total_steps, after_warmup=False)
    has_down = (
        params.get("step_down_fraction") is not None or params.get("step_down_steps") is not None
    )
    down = (length_within_run("cyclic", params, "step_down", total_steps, after_warmup=False)
            if has_down else up)
    return {
        "mode": params["mode"],
        "base_ratio": params["base_ratio"],
        "step_size_up": up,
        "step_size_down": down,
        "gamma": params["gamma"],
    }


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``CyclicLR`` with ``cycle_momentum=False``."""
    from torch.optim.lr_scheduler import CyclicLR

    base_lr = kwargs["base_ratio"] * peak_lr
    for group in optimizer.param_groups:
        # CyclicLR's first step starts from `initial_lr` when a group already has one
        # (build_scheduler sets it to the peak): make it the cycle's start, as torch
        # does for a fresh optimizer.
        group["initial_lr"] = base_lr
    return CyclicLR(
        optimizer,
        base_lr=base_lr,
        max_lr=peak_lr,
        step_size_up=kwargs["step_size_up"],
        step_size_down=kwargs["step_size_down"],
        mode=kwargs["mode"],
        gamma=kwargs["gamma"],
        cycle_momentum=False,
    )


FAMILY = Family(
    name="cyclic",
    summary="Cyclical LR between base_ratio * peak and the peak (CyclicLR).",
    params=(
        Param(
            "mode", "str", "triangular", "amplitude policy",
            choices=("triangular", "triangular2", "exp_range"),
            search=("triangular", "triangular2", "exp_range"),
        ),
        Param(
            "base_ratio", "float", 0.1, "lower bound of the cycle as a multiple of the peak",
            low=0.0, high=1.0, low_open=True, search=(0.01, 0.5), log=True,
        ),
        Param(
            "step_up_fraction", "float", 0.1, "rising half-cycle, as a fraction of the run",
            low=0.0, high=1.0, low_open=True, search=(0.02, 0.25), log=True, length=True,
        ),
        Param(
            "step_down_fraction", "float", None,
            "falling half-cycle, as a fraction of the run (unset: same as rising)",
            low=0.0, high=1.0, low_open=True, length=True,
        ),
        Param(
            "gamma", "float", 1.0, "exp_range: amplitude factor per step (1: no shrinking)",
            low=0.0, high=1.0, low_open=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    native=native,
    torch_class="CyclicLR",
    warmup=False,
    open_ended=True,
    guide="When the best LR is unknown or for escaping saddle points (Smith's CLR).",
)
