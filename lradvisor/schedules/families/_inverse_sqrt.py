"""``inverse_sqrt``: ``1 / sqrt(1 + t / timescale)`` after an optional warmup.

HF's ``inverse_sqrt`` (``timescale`` in steps). HF's default timescale is the warmup
length; here it is its own length (``timescale_fraction`` of the part after warmup, 0.1
by default) so that a search can tune warmup and decay independently. HF's
``timescale=k`` is ``timescale_steps=k``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param, length_steps


def decay(step: int, total_steps: int, *, timescale: int) -> float:
    """``1 / sqrt((step + timescale) / timescale)``: 1 at the start, never 0."""
    return 1.0 / math.sqrt((step + timescale) / timescale)


def kwargs(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """The timescale in whole steps (at least 1)."""
    return {"timescale": max(1, length_steps(params, "timescale", total_steps))}


FAMILY = Family(
    name="inverse_sqrt",
    summary="Inverse square-root decay after warmup (original Transformer, HF inverse_sqrt).",
    params=(
        Param(
            "timescale_fraction", "float", 0.1,
            "steps over which the LR falls to 1/sqrt(2), as a fraction of the run",
            low=0.0, high=10.0, low_open=True, search=(0.01, 1.0), log=True, length=True,
        ),
    ),
    decay=decay,
    kwargs=kwargs,
    open_ended=True,
    guide="Transformers trained for an open-ended number of steps.",
)
