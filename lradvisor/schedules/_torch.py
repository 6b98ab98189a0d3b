"""The thin torch shell around a spec: ``build_scheduler``.

torch is imported here, inside the functions, never at package import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lradvisor.errors import SpecError
from lradvisor.schedules._spec import ScheduleSpec, check_peak_lr

__all__ = ["as_spec", "build_scheduler", "set_peak"]


def as_spec(spec: ScheduleSpec | Mapping[str, Any] | str) -> ScheduleSpec:
    """A :class:`ScheduleSpec` from a spec, its dict form, its JSON, or a bare family id."""
    if isinstance(spec, ScheduleSpec):
        return spec
    if isinstance(spec, Mapping):
        return ScheduleSpec.from_dict(spec)
    if isinstance(spec, str):
        text = spec.strip()
        return ScheduleSpec.from_json(text) if text.startswith("{") else ScheduleSpec(text)
    raise SpecError(f"expected a ScheduleSpec, dict or JSON string, but got {spec!r}.")


def build_scheduler(
    optimizer: Any,
    spec: ScheduleSpec | Mapping[str, Any] | str,
    total_steps: int | None,
    *,
    peak_lr: float | None = None,
) -> Any:
    """A real torch LR scheduler running ``spec`` over ``total_steps`` scheduler steps.

    The native torch class is returned where torch has one with the same semantics
    (``CosineAnnealingLR`` for ``cosine`` without warmup, ``OneCycleLR``, ...), and
    ``LambdaLR`` over the spec's pure multiplier otherwise. ``plateau`` gives a
    :class:`~lradvisor.schedules.PlateauLR` (a ``ReduceLROnPlateau`` that also warms
    up). Call ``scheduler.step()`` once per unit ``total_steps`` counts (usually one
    optimizer step); resume by loading ``state_dict()`` into a scheduler built the same
    way.

    Args:
        optimizer: a ``torch.optim.Optimizer``.
        spec: what to run (a spec, its dict or JSON form, or a family id).
        total_steps: how many times ``scheduler.step()`` will be called; ``None`` for a
            run of unknown length (open-ended specs only: ``constant``, ``plateau``).
        peak_lr: sets the param groups' LRs (and ``initial_lr``) first, the largest to
            the peak and the others in their ratios to it (:func:`set_peak`); defaults
            to ``spec.peak_lr``, and without either the optimizer's own LRs are kept.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = build_scheduler(opt, ScheduleSpec.create("cosine"), total_steps=100)
        >>> type(sched).__name__
        'CosineAnnealingLR'
    """
    spec = as_spec(spec)
    total = spec.run_length(total_steps)
    fn = spec.multiplier_fn(total)  # validates lengths against this run
    peak = peak_lr if peak_lr is not None else spec.peak_lr
    if peak is not None:
        set_peak(optimizer, peak)  # validates it: a float > 0 ("0.5" too)
    bases = {group.get("initial_lr", group["lr"]) for group in optimizer.param_groups}
    family = spec.definition
    warmup = spec.warmup_steps(total)
    if family.adaptive and family.native is not None:
        kwargs = family.kwargs(spec.params, total)
        kwargs["warmup_steps"] = warmup
        kwargs["warmup_start_factor"] = spec.params.get("warmup_start_factor", 0.0)
        return family.native(optimizer, kwargs, total, min(bases))
    if family.native is not None and warmup == 0 and len(bases) == 1:
        native = family.native(optimizer, family.kwargs(spec.params, total), total, bases.pop())
        if native is not None:  # None: no torch class for these parameters
            return native
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, fn)


def set_peak(optimizer: Any, peak: float) -> None:
    """Set ``optimizer``'s LRs for a schedule peaking at ``peak``: the largest param
    group's LR becomes ``peak`` and the others keep their ratios to it (a head at 10x
    its backbone stays at 10x), each group's ``initial_lr`` with it, so the schedule
    scales every group alike. Ratios are read from ``initial_lr`` where a scheduler set
    one (the LRs it started from), else from ``lr``; a tensor LR is filled in place.

    Raises:
        SpecError: ``peak`` is not a finite number > 0 (nothing is written then).

    Example:
        >>> import torch
        >>> a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        >>> opt = torch.optim.SGD([{"params": [a], "lr": 0.01}, {"params": [b]}], lr=0.1)
        >>> set_peak(opt, 0.5)
        >>> [round(g["lr"], 6) for g in opt.param_groups]
        [0.05, 0.5]
    """
    peak = check_peak_lr(peak)  # a bad one would reach the optimizer's LRs unchecked
    groups = optimizer.param_groups
    bases = [float(g.get("initial_lr", g["lr"])) for g in groups]
    top = max(bases, default=0.0)
    for group, base in zip(groups, bases, strict=True):
        lr = peak * (base / top) if top > 0 else peak  # the largest: exactly the peak
        if hasattr(group["lr"], "fill_"):  # a tensor LR (torch.compile's optimizers)
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
        group["initial_lr"] = lr
