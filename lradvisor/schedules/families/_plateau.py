"""``plateau``: cut the LR by ``factor`` when the metric stops improving (``ReduceLROnPlateau``).

Adaptive: the LR depends on the metric, so the pure curve is only its upper envelope
(warmup, then the peak: no plateau ever reached). The torch scheduler is
:class:`~lradvisor.schedules._plateau_lr.PlateauLR`, a ``ReduceLROnPlateau`` that also
warms up; it is built with or without warmup. The floor is ``min_lr_ratio`` times each
param group's peak (torch's ``min_lr`` is absolute).
"""

from __future__ import annotations

from typing import Any

from lradvisor.schedules._family import Family, no_lengths
from lradvisor.schedules._params import Param


def decay(step: int, total_steps: int, **plateau: Any) -> float:
    """Always 1: the envelope of a run that never plateaus."""
    return 1.0


def native(optimizer: Any, kwargs: dict[str, Any], total_steps: int, peak_lr: float) -> Any:
    """:class:`PlateauLR` with ``min_lr = min_lr_ratio * `` each group's peak."""
    from lradvisor.schedules._plateau_lr import PlateauLR

    ratio = kwargs["min_lr_ratio"]
    return PlateauLR(
        optimizer,
        mode=kwargs["mode"],
        factor=kwargs["factor"],
        patience=kwargs["patience"],
        threshold=kwargs["threshold"],
        threshold_mode=kwargs["threshold_mode"],
        cooldown=kwargs["cooldown"],
        min_lr=[ratio * g.get("initial_lr", g["lr"]) for g in optimizer.param_groups],
        warmup_steps=kwargs.get("warmup_steps", 0),
        warmup_start_factor=kwargs.get("warmup_start_factor", 0.0),
    )


FAMILY = Family(
    name="plateau",
    summary="Reduce the LR by factor when the metric plateaus (ReduceLROnPlateau), opt. warmup.",
    params=(
        Param("mode", "str", "min", "min: lower is better (loss); max: higher (accuracy)",
              choices=("min", "max")),
        Param(
            "factor", "float", 0.5, "the LR is multiplied by this at each plateau",
            low=0.0, high=0.99, low_open=True, search=(0.1, 0.7),
        ),
        Param(
            "patience", "int", 10, "metrics without improvement before a cut",
            low=0, high=10_000, search=(1, 20),
        ),
        Param(
            "threshold", "float", 1e-4, "smallest change that counts as an improvement",
            low=0.0, high=1.0,
        ),
        Param("threshold_mode", "str", "rel", "threshold relative to the best, or absolute",
              choices=("rel", "abs")),
        Param(
            "cooldown", "int", 0, "metrics to wait after a cut before counting again",
            low=0, high=10_000, search=(0, 5),
        ),
        Param(
            "min_lr_ratio", "float", 1e-4, "floor as a multiple of the peak LR",
            low=0.0, high=1.0, search=(1e-5, 1e-2), log=True,
        ),
    ),
    decay=decay,
    kwargs=no_lengths,
    native=native,
    torch_class="ReduceLROnPlateau",
    adaptive=True,
    open_ended=True,
    guide="Budget unknown and a validation metric at hand (factor 0.5, patience 10).",
)
