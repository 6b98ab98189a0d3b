"""``onecycle``: the 1cycle policy (torch ``OneCycleLR``), driving the LR only.

Ramps from ``peak / div_factor`` up to the peak over ``pct_start`` of the run, then
anneals to ``peak / (div_factor * final_div_factor)``; ``three_phase`` goes back down to
the start first, as in the original paper. Momentum is not cycled
(``cycle_momentum=False``), so the schedule works with any optimizer and changes
nothing but the LR. The ramp is its own warmup: no shared warmup parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family, no_lengths
from lradvisor.schedules._params import Param


def phases(total_steps: int, pct_start: float, three_phase: bool) -> list[tuple[float, str, str]]:
    """``(end_step, start, end)`` of each phase, exactly as ``OneCycleLR`` builds them."""
    if three_phase:
        return [
            (float(pct_start * total_steps) - 1, "initial", "max"),
            (float(2 * pct_start * total_steps) - 2, "max", "initial"),
            (total_steps - 1, "initial", "min"),
        ]
    return [
        (float(pct_start * total_steps) - 1, "initial", "max"),
        (total_steps - 1, "max", "min"),
    ]


def decay(
    step: int,
    total_steps: int,
    *,
    pct_start: float,
    anneal_strategy: str,
    div_factor: float,
    final_div_factor: float,
    three_phase: bool,
) -> float:
    """OneCycleLR's LR at ``step`` over the peak; held at its last value after the run.

    A phase of zero length (where torch would divide by zero) counts as finished.
    """
    step = min(step, total_steps - 1)
    initial = 1.0 / div_factor
    levels = {"initial": initial, "max": 1.0, "min": initial / final_div_factor}
    plan = phases(total_steps, pct_start, three_phase)
    start_step = 0.0
    for i, (end_step, start, end) in enumerate(plan):
        if step <= end_step or i == len(plan) - 1:
            span = end_step - start_step
            pct = (step - start_step) / span if span else 1.0
            return _anneal(anneal_strategy, levels[start], levels[end], pct)
        start_step = end_step
    raise AssertionError("unreachable: the last phase always matches")


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def native_fits(kwargs: Mapping[str, Any], total_steps: int) -> bool:
    """torch's ``OneCycleLR`` divides by zero where a phase is empty."""
    plan = phases(total_steps, kwargs["pct_start"], kwargs["three_phase"])
    ends = [0.0] + [end for end, _, _ in plan]
    return not any(a == b for a, b in zip(ends, ends[1:], strict=False))


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """torch's ``OneCycleLR`` (``cycle_momentum=False``); ``None`` where a phase is empty."""
    if not native_fits(kwargs, total_steps):
        return None
    from torch.optim.lr_scheduler import OneCycleLR

    return OneCycleLR(optimizer, max_lr=peak_lr, total_steps=total_steps, cycle_momentum=False,
                      **kwargs)


FAMILY = Family(
    name="onecycle",
    summary="1cycle: ramp up to the peak, then anneal far below the start (OneCycleLR).",
    params=(
        Param(
            "pct_start", "float", 0.3, "fraction of the run spent ramping up",
            low=0.0, high=0.95, low_open=True, search=(0.1, 0.5),
        ),
        Param(
            "anneal_strategy", "str", "cos", "shape of both ramps",
            choices=("cos", "linear"), search=("cos", "linear"),
        ),
        Param(
            "div_factor", "float", 25.0, "the LR starts at peak / div_factor",
            low=1.0, high=1e4, search=(5.0, 100.0), log=True,
        ),
        Param(
            "final_div_factor", "float", 1e4, "the LR ends at the start LR / final_div_factor",
            low=1.0, high=1e8, search=(1e2, 1e5), log=True,
        ),
        Param(
            "three_phase", "bool", False, "come back down to the start LR before annealing",
            search=(False, True),
        ),
    ),
    decay=decay,
    kwargs=no_lengths,
    native=native,
    native_fits=native_fits,
    torch_class="OneCycleLR",
    warmup=False,
    guide="Fast training on a fixed budget (super-convergence), CNNs and small models.",
)
