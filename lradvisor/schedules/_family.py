"""What a schedule family is: its parameters, its pure multiplier, its native torch class.

A family is small and self-contained (one module under ``families/``): the parameters
it takes, a module-level ``decay(step, total_steps, **kwargs) -> float`` giving the LR
as a multiple of the peak, a ``kwargs`` function that resolves a spec's relative lengths
to steps for one run, and optionally the native torch scheduler with the same
semantics. Warmup is not written in any family: :mod:`._warmup` wraps any decay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lradvisor.schedules._params import WARMUP_MOST, Param

__all__ = ["Family", "WARMUP_PARAMS"]

WARMUP_PARAMS: tuple[Param, ...] = (
    Param(
        "warmup_fraction", "float", 0.0, "fraction of the run spent in linear warmup",
        low=0.0, high=WARMUP_MOST, length=True,
    ),
    Param(
        "warmup_start_factor", "float", 0.0,
        "LR at the first warmup step, as a multiple of the peak (0 as in HF transformers)",
        low=0.0, high=1.0,
    ),
)


@dataclass(frozen=True)
class Family:
    """One schedule family.

    Args:
        name: the family id used in specs, rules and the CLI.
        summary: one line saying what the schedule does.
        params: the family's own parameters (warmup parameters are added when
            ``warmup`` is true).
        decay: module-level ``decay(step, total_steps, **kwargs) -> float``, the LR as a
            multiple of the peak; for a family with warmup, ``step`` and
            ``total_steps`` count from the end of warmup.
        kwargs: ``kwargs(params, total_steps) -> dict`` resolving a validated spec's
            parameters to ``decay``'s keyword arguments for a run (lengths to steps);
            ``total_steps`` is the length ``decay`` sees (after warmup).
        native: ``native(optimizer, kwargs, total_steps, peak_lr)`` building the torch
            class with the same semantics, used when there is no warmup; it may return
            ``None`` where torch's class cannot express the parameters. ``None``:
            always ``LambdaLR`` over ``decay``.
        native_fits: ``native_fits(kwargs, total_steps) -> bool``, whether ``native``
            can express these parameters (it returns ``None`` where not); ``None``:
            always. Pure, so generated code can name the class without torch.
        torch_class: the torch class ``native`` builds, for docs and generated code.
        warmup: whether the family takes the shared warmup parameters.
        adaptive: whether the LR depends on a metric (``plateau``), so the pure curve
            is only its upper envelope (no plateau ever reached).
        open_ended: whether a run of unknown length can follow it (its LR never
            depends on the run's end), so ``total_steps=None`` is allowed.
        guide: when to use it, in the guide's words.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    decay: Callable[..., float]
    kwargs: Callable[[Mapping[str, Any], int], dict[str, Any]]
    native: Callable[..., Any] | None = None
    native_fits: Callable[[Mapping[str, Any], int], bool] | None = None
    torch_class: str = "LambdaLR"
    warmup: bool = True
    adaptive: bool = False
    open_ended: bool = False
    guide: str = ""

    @property
    def all_params(self) -> tuple[Param, ...]:
        """Own parameters, then the warmup parameters where the family takes them."""
        return self.params + (WARMUP_PARAMS if self.warmup else ())


def no_lengths(params: Mapping[str, Any], total_steps: int) -> dict[str, Any]:
    """``kwargs`` for a family whose parameters need no resolving: its own, unchanged."""
    return {k: v for k, v in params.items() if not k.startswith("warmup_")}
