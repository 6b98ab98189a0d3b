"""``wsd``: warmup, a long stable phase at the peak, then a short decay (warmup-stable-decay).

HF's ``warmup_stable_decay`` with ``num_decay_steps = decay_fraction * (run - warmup)``
and ``decay_type = decay_shape``. HF warms up from ``min_lr_ratio`` (ours from
``warmup_start_factor``: set it equal to match HF exactly). The default, a 20% ``1-sqrt``
cooldown, is the one Hägele et al. (2024) found to match cosine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param, length_within_run

SHAPES = ("linear", "cosine", "1-sqrt")


def decay(
    step: int, total_steps: int, *, decay_steps: int, decay_shape: str, min_lr_ratio: float
) -> float:
    """1 until the last ``decay_steps`` steps, then ``decay_shape`` down to the floor."""
    stable = total_steps - decay_steps
    if step < stable:
        return 1.0
    if step >= total_steps:
        return min_lr_ratio
    progress = (step - stable) / max(1, decay_steps)
    if decay_shape == "linear":
        factor = 1.0 - progress
    elif decay_shape == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        factor = 1.0 - math.sqrt(progress)
    return factor * (1.0 - min_lr_ratio) + min_lr_ratio


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """The decay phase in whole steps (at least one; ``decay_steps`` past the run's end
    is refused, it would never decay as stated), its shape and the floor."""
    return {
        "decay_steps": length_within_run("wsd", params, "decay", total_steps),
        "decay_shape": params["decay_shape"],
        "min_lr_ratio": params["min_lr_ratio"],
    }


FAMILY = Family(
    name="wsd",
    summary="Warmup, stable at the peak, then a short decay to a floor (WSD / trapezoid).",
    params=(
        Param(
            "decay_fraction", "float", 0.2, "final decay phase, as a fraction of the run",
            low=0.0, high=1.0, low_open=True, search=(0.05, 0.4), length=True,
        ),
        Param(
            "decay_shape", "str", "1-sqrt", "shape of the decay",
            choices=SHAPES, search=SHAPES,
        ),
        Param(
            "min_lr_ratio", "float", 0.0, "floor as a multiple of the peak LR",
            low=0.0, high=1.0, search=(1e-4, 0.1), log=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    guide="LLM pretraining with an open or extendable budget: branch a decay off any point.",
)
