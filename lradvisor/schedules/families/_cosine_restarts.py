"""``cosine_restarts``: SGDR, cosine cycles restarting at the peak (torch's
``CosineAnnealingWarmRestarts``).

The first cycle lasts ``t0_fraction`` of the run, each later one ``t_mult`` times the
one before; the default (1/7, 2) fills the run with cycles of 1/7, 2/7 and 4/7, the
guide's T_0=10, T_mult=2 over 70 epochs. HF's ``cosine_with_restarts`` (hard
restarts, ``num_cycles`` equal cycles) is ``t_mult=1, t0_fraction=1/num_cycles``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param, length_within_run


def position(step: int, t0: int, t_mult: int) -> tuple[int, int]:
    """``(T_cur, T_i)`` at ``step``: steps into the current cycle, and its length.

    torch's ``CosineAnnealingWarmRestarts`` arithmetic: a cycle of ``T_i`` steps ends
    when ``T_cur`` reaches ``T_i``; the next one is ``T_i * T_mult`` long.
    """
    if t_mult == 1:
        return step % t0, t0
    cur, length = step, t0
    while cur >= length:  # cycles grow geometrically: few iterations
        cur -= length
        length *= t_mult
    return cur, length


def decay(step: int, total_steps: int, *, t0: int, t_mult: int, min_lr_ratio: float) -> float:
    """``r + (1 - r) * (1 + cos(pi * T_cur / T_i)) / 2``."""
    cur, length = position(step, t0, t_mult)
    return min_lr_ratio + (1.0 - min_lr_ratio) * (1 + math.cos(math.pi * cur / length)) / 2


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """The first cycle in whole steps (at least 1; ``t0_steps`` past the run's end is
    refused, as ``t0_fraction`` above 1 is: the run would end inside it), ``t_mult`` and
    the floor."""
    return {
        "t0": length_within_run("cosine_restarts", params, "t0", total_steps),
        "t_mult": params["t_mult"],
        "min_lr_ratio": params["min_lr_ratio"],
    }


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``CosineAnnealingWarmRestarts``, ``eta_min`` the floor."""
    from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

    return CosineAnnealingWarmRestarts(
        optimizer, T_0=kwargs["t0"], T_mult=kwargs["t_mult"],
        eta_min=kwargs["min_lr_ratio"] * peak_lr,
    )


FAMILY = Family(
    name="cosine_restarts",
    summary="Cosine cycles with warm restarts (SGDR: T_0, T_mult, floor).",
    params=(
        Param(
            "t0_fraction", "float", 1 / 7, "first cycle as a fraction of the run",
            low=0.0, high=1.0, low_open=True, search=(0.05, 0.5), log=True, length=True,
        ),
        Param(
            "t_mult", "int", 2, "each cycle is this many times longer than the one before",
            low=1, high=8, search=(1, 3),
        ),
        Param(
            "min_lr_ratio", "float", 0.0, "floor as a multiple of the peak LR",
            low=0.0, high=1.0, search=(1e-4, 0.1), log=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    native=native,
    torch_class="CosineAnnealingWarmRestarts",
    guide="SGDR: snapshot ensembles, or escaping sharp minima (T_0=10, T_mult=2).",
)
