"""Lengths fitted to a run's whole steps, after a rule's parameters are resolved.

* :func:`at_least_one_step`: a length that may be zero (0: none, as warmup) but that a
  rule asks to be above zero lasts at least one step, as the guide's
  ``max(1, int(0.1 * total_epochs))``;
* :func:`epoch_warmup_start`: a warmup stepped once per epoch starts above 0, so its
  first epoch trains;
* :func:`fit_cycles`: a first cycle written ``{epochs = N, whole_cycles = "P"}`` is
  chosen so that whole cycles, each ``P`` times the one before, end with the run at its
  floor (SGDR's ``T_0 = 10`` epochs, ``T_mult = 2`` fill only 10, 30, 70... epochs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lradvisor.errors import SpecError
from lradvisor.rules._engine import Rule
from lradvisor.rules._profile import TaskProfile
from lradvisor.schedules import Param, ScheduleSpec
from lradvisor.schedules._params import length_steps

__all__ = ["at_least_one_step", "epoch_warmup_start", "fit_cycles"]


def at_least_one_step(rule_id: str, table: Mapping[str, Param], params: dict[str, Any],
                       profile: TaskProfile, trace: list[str],
                       notes: list[str]) -> dict[str, Any]:
    """A length that may be zero (0: none, as warmup) but that is asked to be above zero
    lasts at least one step of a run of more than one step, as the guide's
    ``max(1, int(0.1 * total_epochs))``: a fraction rounding to no step becomes
    ``<stem>_steps = 1``."""
    total = profile.steps
    if total is None or total <= 1:
        return params
    out = dict(params)
    for name, value in params.items():
        param = table[name]
        if not (param.length and param.steps_name and not param.low_open
                and isinstance(value, (int, float)) and value > 0):
            continue
        stem = name[: -len("_fraction")]
        if length_steps(params, stem, total) > 0:
            continue
        del out[name]
        out[param.steps_name] = 1
        unit = "epoch" if profile.interval == "epoch" else "step"
        trace.append(f"{rule_id}: {name} {value:g} of {total} {unit}s rounds to no {unit}; "
                     f"{param.steps_name} = 1 instead.")
        notes.append(f"In this run of {total} {unit}s, {value:.0%} rounds to no {unit}, so "
                     f"{stem.replace('_', ' ')} lasts 1 {unit}.")
    return out


def epoch_warmup_start(rule_id: str, table: Mapping[str, Param], params: dict[str, Any],
                       profile: TaskProfile, trace: list[str],
                       notes: list[str]) -> dict[str, Any]:
    """A warmup stepped once per epoch starts at ``1 / (w + 1)`` of the peak, not at 0.

    From 0 (HF's per-step start, where it costs one optimizer step) a run stepped once
    per epoch would spend its whole first epoch at LR 0, training nothing: a third of a
    3-epoch fine-tune. Starting at ``1 / (w + 1)``, its ``w`` warmup epochs train at
    ``1/(w+1) ... w/(w+1)`` of the peak, the per-step ramp one step on. A start the rule
    sets is kept.
    """
    total = profile.steps
    if (profile.interval != "epoch" or total is None or "warmup_start_factor" not in table
            or "warmup_start_factor" in params):
        return params
    warmup = length_steps(params, "warmup", total)
    if warmup == 0:
        return params
    start = float(f"{1 / (warmup + 1):.12g}")
    trace.append(f"{rule_id}: warmup of {warmup} epoch(s) stepped once per epoch; "
                 f"warmup_start_factor = {start:.4g}, so its first epoch trains.")
    notes.append(f"Stepped once per epoch, the warmup starts at {start:.3g} x the peak "
                 "LR, not 0, so its first epoch trains.")
    return {**params, "warmup_start_factor": start}


def fit_cycles(rule: Rule, table: Mapping[str, Param], params: dict[str, Any],
                profile: TaskProfile, trace: list[str], notes: list[str]) -> dict[str, Any]:
    """The first cycle of each ``{epochs = N, whole_cycles = "P"}`` length, for this run:
    as many whole cycles (each P times the one before) as put the first nearest N epochs
    (nearest ``default`` of the run without epochs), ending with the run at its floor."""
    total, params = profile.steps, dict(params)
    for name, value in rule.params.items():
        if total is None or not (isinstance(value, Mapping) and "whole_cycles" in value):
            continue
        try:  # lengths other than warmup are parts of the steps after warmup
            length = total - ScheduleSpec(rule.family or "", params).warmup_steps(total)
        except SpecError:
            continue  # an invalid schedule: _recommend says why
        growth = params.get(value["whole_cycles"], table[value["whole_cycles"]].default)
        default = value.get("default", table[name].default) or 1.0
        per_epoch = profile.epoch_steps
        target = (value["epochs"] * per_epoch if per_epoch is not None
                  else default * length)
        cycles, first = _cycles(length, growth, target)
        params[name] = _fraction_of(first, cycles, growth, length, name, default)
        trace.append(f"{rule.id}: {name} = {params[name]:.4g}: {cycles} whole cycle(s), "
                     f"the first {first} of {length} steps, each x{growth:g}, end with the "
                     f"run (first cycle nearest {target:g} steps).")
        notes.append(_cycles_note(profile, cycles, first, length, growth, target))
    return params


def _cycles(length: int, growth: float, target: float) -> tuple[int, int]:
    """``(k, first)``: ``k`` cycles, the first ``first`` steps and each ``growth`` times
    the one before, that cover ``length`` steps, overrunning it by at most 1% of the
    last cycle (so where that cycle has 100 steps or more, the run's last step is within
    1e-3 of the peak above the floor), with ``first`` nearest ``target`` on a ratio
    scale; one cycle, the whole run, where no more fit."""
    best, k, span = (1, length), 1, 1.0  # span: the run in first cycles, 1 + g + g^2 ...
    while k < 10_000 and length / span > target:
        k, span = k + 1, span * growth + 1
        if span > length:
            break
        first = math.ceil(length / span - 1e-9)
        over, last = first * span - length, first * growth ** (k - 1)
        if over <= last / 100 and abs(math.log(first / target)) < abs(
                math.log(best[1] / target)):
            best = (k, first)
    return best


def _fraction_of(first: int, cycles: int, growth: float, length: int, name: str,
                 default: float) -> float:
    """The fraction of ``length`` that resolves to ``first`` whole steps: the exact part
    ``1 / (1 + g + ... + g^(k-1))`` (the rule's default where it is that) where that
    rounds to ``first``, else ``first / length``."""
    span = sum(growth ** i for i in range(cycles))
    stem = name[: -len("_fraction")]
    exact = default if abs(default * span - 1) < 1e-9 else float(f"{1 / span:.12g}")
    for fraction in (exact, float(f"{first / length:.12g}")):
        if length_steps({name: fraction}, stem, length) == first:
            return fraction
    return first / length


def _cycles_note(profile: TaskProfile, cycles: int, first: int, length: int,
                 growth: float, target: float) -> str:
    """The fitted cycles in words, in epochs where the profile tells them."""
    per_epoch = profile.epoch_steps

    def show(steps: float) -> str:
        count, unit = (steps, "step") if per_epoch is None else (steps / per_epoch, "epoch")
        return f"{count:.3g} {unit}{'' if count == 1 else 's'}"

    if cycles > 1:
        return (f"For this run: {cycles} cycles, the first {show(first)}, each {growth:g}x "
                f"the one before, the last ending with the run.")
    if target >= length:
        return (f"For this run: one cycle, the whole run ({show(length)}), as the run is "
                "shorter than the first cycle asked for.")
    why = (" (counted in epochs; with steps_per_epoch the cycles can restart within it)"
           if profile.total_steps is None else "")
    return (f"For this run: one cycle, the whole run ({show(length)}): no whole number of "
            f"cycles, each {growth:g}x the one before, ends with it in whole steps{why}.")
