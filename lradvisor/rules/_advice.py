"""From a task profile to advice: ranked recommendations, a search prior, and a trace.

:func:`advise` reads the shipped guide (plus any ``--rules`` files), lets the engine
match and rank the rules, and turns each conclusion into a concrete, validated
:class:`~lradvisor.schedules.ScheduleSpec` for this run: epoch counts become fractions
of the run (or steps), absolute LR floors become multiples of the peak, and the
matching ``[[adjust]]`` rules add what they add (warmup, say). Then the lengths are
fitted to the run's whole steps: a length that may be zero (warmup) but that a rule
asks to be above zero lasts at least one step, and a first cycle marked
``whole_cycles`` is chosen so that whole cycles end with the run. One recommendation per
family: where two rules conclude the same family the higher-ranked one is kept and the
trace says which was dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lradvisor.errors import RulesError, SpecError
from lradvisor.rules._engine import Firing, Rule, match, merge_rules
from lradvisor.rules._fit import at_least_one_step, epoch_warmup_start, fit_cycles
from lradvisor.rules._load import load_rules, param_table
from lradvisor.rules._profile import TaskProfile
from lradvisor.schedules import Param, ScheduleSpec

__all__ = [
    "Advice",
    "FamilyPrior",
    "Recommendation",
    "SearchPrior",
    "advise",
    "shipped_rules",
    "suggest",
]

GUIDE = "guide.toml"


@dataclass(frozen=True)
class Recommendation:
    """One recommended schedule for one run.

    Attributes:
        spec: the schedule, ``peak_lr`` set, lengths relative to the run.
        total_steps: the run's length in scheduler steps; ``None`` when unknown.
        rationale: why, in plain words (the reasons of every rule that shaped it).
        rules: ids of the rules that fired for it: the schedule rule, adjustments, LR rule.
        score: the schedule rule's score.
        evidence: where it was measured (a study), ``None`` for the rules' advice.
    """

    spec: ScheduleSpec
    total_steps: int | None
    rationale: str
    rules: tuple[str, ...]
    score: float
    evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{family, params, peak_lr, total_steps, rationale, rules, score, evidence}``."""
        return {**self.spec.to_dict(), "total_steps": self.total_steps,
                "rationale": self.rationale, "rules": list(self.rules),
                "score": self.score, "evidence": self.evidence}


@dataclass(frozen=True)
class FamilyPrior:
    """Where the search starts within one family.

    Attributes:
        family: the family id.
        weight: its share of the search (the rules' scores, normalised to sum to 1).
        ranges: param -> ``(low, high)`` for numbers, a tuple of choices for str/bool.
        fixed: param -> value for everything not searched.
    """

    family: str
    weight: float
    ranges: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ranges as lists."""
        return {"family": self.family, "weight": self.weight,
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "fixed": {k: list(v) if isinstance(v, tuple) else v
                          for k, v in self.fixed.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FamilyPrior:
        """The inverse of :meth:`to_dict`."""
        return cls(str(data["family"]), float(data["weight"]),
                   {k: tuple(v) for k, v in dict(data.get("ranges") or {}).items()},
                   dict(data.get("fixed") or {}))


@dataclass(frozen=True)
class SearchPrior:
    """What the search starts from: families with ranges, and the peak-LR range.

    ``lr_low == lr_high`` when the profile fixes the peak LR: the search keeps it.
    ``horizon``: the exponent ``b`` of the ``[[horizon]]`` rule that fired (best peak
    ~ length^-b), with ``horizon_reason`` its id and reason; ``None`` when none did.
    """

    families: tuple[FamilyPrior, ...]
    lr_low: float
    lr_high: float
    lr_default: float
    horizon: float | None = None
    horizon_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{families: [...], lr_low, lr_high, lr_default, horizon, horizon_reason}``."""
        return {"families": [f.to_dict() for f in self.families], "lr_low": self.lr_low,
                "lr_high": self.lr_high, "lr_default": self.lr_default,
                "horizon": self.horizon, "horizon_reason": self.horizon_reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchPrior:
        """The inverse of :meth:`to_dict` (a study stored without ``horizon`` has none)."""
        horizon = data.get("horizon")
        return cls(tuple(FamilyPrior.from_dict(f) for f in data["families"]),
                   float(data["lr_low"]), float(data["lr_high"]), float(data["lr_default"]),
                   None if horizon is None else float(horizon), data.get("horizon_reason"))


@dataclass(frozen=True)
class Advice:
    """The rules' answer for one profile: recommendations best first, prior, trace."""

    recommendations: tuple[Recommendation, ...]
    prior: SearchPrior
    trace: tuple[str, ...]
    profile: TaskProfile

    @property
    def best(self) -> Recommendation:
        """The top recommendation."""
        return self.recommendations[0]

    def to_dict(self) -> dict[str, Any]:
        """The top recommendation's fields, then ``alternatives``, ``prior``, ``trace``,
        ``profile``."""
        return {**self.best.to_dict(),
                "alternatives": [r.to_dict() for r in self.recommendations[1:]],
                "prior": self.prior.to_dict(), "trace": list(self.trace),
                "profile": self.profile.to_dict()}


@cache
def shipped_rules() -> tuple[Rule, ...]:
    """The rules of the shipped guide (``lradvisor/rules/guide.toml``), read once."""
    text = Path(__file__).with_name(GUIDE).read_text(encoding="utf-8")
    return tuple(load_rules(text, source=GUIDE))


def suggest(profile: TaskProfile | Mapping[str, Any],
            rules_files: Iterable[str | os.PathLike[str]] = ()) -> list[Recommendation]:
    """The recommendations of :func:`advise`, best first."""
    return list(advise(profile, rules_files).recommendations)


def advise(profile: TaskProfile | Mapping[str, Any],
           rules_files: Iterable[str | os.PathLike[str]] = ()) -> Advice:
    """Recommend schedules for ``profile`` from the shipped guide and ``rules_files``.

    Args:
        profile: a :class:`TaskProfile`, or its dict form.
        rules_files: the user's rules files; their rules come before the shipped ones
            and replace any shipped rule of the same id.

    Raises:
        ProfileError: the profile dict is malformed.
        RulesError: a rules file is malformed, or no rule gives a schedule or a peak LR.

    Example:
        >>> advice = advise(TaskProfile("scratch", arch="cnn", epochs=30, steps_per_epoch=100))
        >>> advice.best.spec.family, advice.best.total_steps
        ('cosine', 3000)
    """
    if not isinstance(profile, TaskProfile):
        profile = TaskProfile.from_dict(profile)
    trace: list[str] = [f"profile: {profile.describe()}"]
    users = [load_rules(path) for path in rules_files]
    rules = merge_rules(shipped_rules(), *users, trace=trace)
    peak, lr_range, lr_rule = _peak_lr(rules, profile, trace)
    adjusts = match(rules, profile, trace, kind="adjust")
    firings = match(rules, profile, trace, kind="rule")
    recs: list[Recommendation] = []
    used: dict[str, str] = {}
    for firing in firings:
        family = firing.rule.family or ""
        if family in used:
            trace.append(f"rule {firing.rule.id} not used: {used[family]} already "
                         f"recommends {family} and ranks higher.")
            continue
        used[family] = firing.rule.id
        recs.append(_recommend(firing, profile, peak, lr_rule, adjusts, trace))
    if not recs:
        raise RulesError(f"no rule recommends a schedule for {profile.describe()}; add a "
                         "[[rule]] that matches it.")
    if not profile.known_length:
        trace.append("length unknown: only rules for runs of unknown length fired; the "
                     "lengths they set are in steps, or wait for the run's end.")
    prior = SearchPrior(_family_priors(recs, firings), *lr_range, peak,
                        *_horizon(rules, profile, trace))
    return Advice(tuple(recs), prior, tuple(dict.fromkeys(trace)), profile)


def _peak_lr(rules: Sequence[Rule], profile: TaskProfile,
             trace: list[str]) -> tuple[float, tuple[float, float], Rule | None]:
    firings = match(rules, profile, trace, kind="lr")
    if profile.peak_lr is not None:
        trace.append(f"peak LR fixed by the profile at {profile.peak_lr:g}; the search "
                     "keeps it.")
        return profile.peak_lr, (profile.peak_lr, profile.peak_lr), None
    if not firings:
        raise RulesError(f"no [[lr]] rule gives a peak LR for {profile.describe()}; add one "
                         "or give the peak LR.")
    rule = firings[0].rule
    assert rule.peak is not None and rule.lr_range is not None
    factor = _lr_factor(rule, profile, trace)
    peak, (low, high) = rule.peak, rule.lr_range
    if factor != 1.0:
        peak, low, high = (_sig(v * factor) for v in (peak, low, high))
    trace.append(f"peak LR {peak:g} in [{low:g}, {high:g}] from lr {rule.id}.")
    return peak, (low, high), rule


def _horizon(rules: Sequence[Rule], profile: TaskProfile,
             trace: list[str]) -> tuple[float | None, str | None]:
    """The top ``[[horizon]]`` rule's exponent and ``"id: reason"``; ``(None, None)``
    when none fires or the profile fixes the peak LR (every run trains at it then)."""
    firings = match(rules, profile, trace, kind="horizon")
    if profile.peak_lr is not None or not firings:
        return None, None
    rule = firings[0].rule
    assert rule.exponent is not None
    trace.append(f"horizon {rule.id}: a search's proxy at a fraction f of the run trains "
                 f"at the full run's peak LR times f^-{rule.exponent:g}.")
    return rule.exponent, f"{rule.id}: {rule.reason}"


def _lr_factor(rule: Rule, profile: TaskProfile, trace: list[str]) -> float:
    """``(profile.field / ref) ** exponent`` of an ``lr`` rule's ``scale``; else 1."""
    if rule.scale is None:
        return 1.0
    name, ref, exponent = rule.scale
    value = getattr(profile, name)  # a numeric field, or the derived steps
    if value is None:
        trace.append(f"lr {rule.id}: {name} not given, so its peak LR is not scaled.")
        return 1.0
    factor = float((value / ref) ** exponent)
    trace.append(f"lr {rule.id}: {name} {value:,} scales its peak LR {rule.peak:g} by "
                 f"({value:,} / {ref:g})^{exponent:g} = {factor:.3g}.")
    return factor


def _sig(value: float) -> float:
    """``value`` to 2 significant digits (a peak LR people can read and type)."""
    return float(f"{value:.2g}")


def _recommend(firing: Firing, profile: TaskProfile, peak: float, lr_rule: Rule | None,
               adjusts: Sequence[Firing], trace: list[str]) -> Recommendation:
    rule = firing.rule
    family = rule.family or ""
    table = param_table(family)
    params = {k: _resolve(rule.id, table[k], v, profile, peak, trace)
              for k, v in rule.params.items()}
    params = {k: v for k, v in params.items() if v is not None}
    reasons, ids = [rule.reason], [rule.id]
    for adjust in adjusts:
        taken = {_stem(p) for p in params}
        added = {k: v for k, v in adjust.rule.params.items()
                 if k in table and _stem(k) not in taken}
        kept = [k for k in adjust.rule.params if k in table and _stem(k) in taken]
        if kept:
            trace.append(f"adjust {adjust.rule.id} leaves {', '.join(kept)} of {family} "
                         f"(rule {rule.id}) as already set.")
        resolved = {k: _resolve(adjust.rule.id, table[k], v, profile, peak, trace)
                    for k, v in added.items()}
        resolved = {k: v for k, v in resolved.items() if v is not None}
        if resolved:
            params.update(resolved)
            reasons.append(adjust.rule.reason)
            ids.append(adjust.rule.id)
            trace.append(f"adjust {adjust.rule.id} sets {_kv(resolved)} on {family} "
                         f"(rule {rule.id}).")
    notes: list[str] = []
    params = at_least_one_step(rule.id, table, params, profile, trace, notes)
    params = epoch_warmup_start(rule.id, table, params, profile, trace, notes)
    params = fit_cycles(rule, table, params, profile, trace, notes)
    reasons.extend(notes)
    if lr_rule is not None:
        reasons.append(lr_rule.reason)
        ids.append(lr_rule.id)
        if lr_rule.scale is not None and peak != lr_rule.peak:
            name = lr_rule.scale[0]
            reasons.append(f"For {name} {getattr(profile, name):,}: peak LR {peak:g}.")
    else:
        reasons.append(f"Peak LR {peak:g}, as given.")
    try:
        spec = ScheduleSpec(family, params, peak)
        if profile.steps is not None:
            spec.multiplier_fn(profile.steps)  # lengths fit this run
    except SpecError as err:
        raise RulesError(f"{rule.source}: rule {rule.id!r} gives an invalid schedule for "
                         f"{profile.describe()}: {err}") from None
    if not profile.known_length and not _open_ended(spec):
        trace.append(f"{family} (rule {rule.id}) needs the run's end: build it with "
                     "total_steps once you decide when to stop.")
    return Recommendation(spec, profile.steps, " ".join(reasons), tuple(ids), rule.score)


def _open_ended(spec: ScheduleSpec) -> bool:
    try:
        spec.run_length(None)
    except SpecError:
        return False
    return True


def _stem(name: str) -> str:
    for suffix in ("_fraction", "_steps"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + "#length"
    return name


def _kv(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def _resolve(rule_id: str, param: Param, value: Any, profile: TaskProfile, peak: float,
             trace: list[str]) -> Any:
    """A rule's parameter value for this run: plain values as they are, ``{lr = X}`` as
    ``X / peak``, ``{epochs = N}`` as a fraction of the run's epochs or as steps."""
    if not isinstance(value, Mapping):
        return value
    name = param.name
    if "lr" in value:
        out = _clamp(param, value["lr"] / peak)
        trace.append(f"{rule_id}: {name} = {value['lr']:g} / peak {peak:g} = {out:.4g}"
                     f"{_capped(param, value['lr'] / peak, out)}.")
        return out
    if "whole_cycles" in value and profile.steps is not None:
        return value.get("default", param.default)  # fitted by fit_cycles
    epochs = value["epochs"]
    if name.endswith("_fraction") and profile.run_epochs is not None:
        out = _clamp(param, epochs / profile.run_epochs)
        trace.append(f"{rule_id}: {name} = {epochs:g} epochs / {profile.run_epochs:g} "
                     f"epochs = {out:.4g}{_capped(param, epochs / profile.run_epochs, out)}.")
        return out
    if name.endswith("_steps") and profile.epoch_steps is not None:
        out = max(1, round(epochs * profile.epoch_steps))
        trace.append(f"{rule_id}: {name} = {epochs:g} epochs x {profile.epoch_steps:g} "
                     f"steps = {out}.")
        return out
    default = value.get("default")
    trace.append(f"{rule_id}: {name}: {epochs:g} epochs cannot be converted (the profile "
                 f"does not give the epoch length); "
                 + (f"using {default:g}." if default is not None else "left at default."))
    return default


def _capped(param: Param, raw: float, out: float) -> str:
    return "" if out == float(f"{raw:.12g}") else f" (kept within {param.allowed()})"


def _clamp(param: Param, value: float) -> float:
    value = float(f"{value:.12g}")  # 1e-6 / 0.1 is 1e-05, not 9.999999999999999e-06
    if param.high is not None:
        value = min(value, param.high)
    if param.low is not None:
        value = max(value, param.low)
    return value


def _family_priors(recs: Sequence[Recommendation],
                   firings: Sequence[Firing]) -> tuple[FamilyPrior, ...]:
    by_id = {f.rule.id: f.rule for f in firings}
    total = sum(max(r.score, 0.0) for r in recs)
    out = []
    for rec in recs:
        rule = by_id[rec.rules[0]]
        weight = max(rec.score, 0.0) / total if total > 0 else 1.0 / len(recs)
        out.append(_family_prior(rec.spec, rule, round(weight, 6)))
    return tuple(out)


def _family_prior(spec: ScheduleSpec, rule: Rule, weight: float) -> FamilyPrior:
    """Ranges from each Param's ``search``, overridden by the rule's ``prior``, widened
    to take in the recommended value; everything else fixed at the recommended value."""
    ranges: dict[str, tuple[Any, ...]] = {
        p.name: tuple(p.search) for p in spec.definition.all_params if p.search is not None}
    pinned: dict[str, Any] = {}
    for name, value in rule.prior.items():
        if isinstance(value, tuple):
            ranges[name] = value
        else:
            ranges.pop(name, None)
            pinned[name] = value
    for name in list(ranges):
        value = spec.params.get(name)
        if value is None:  # stated in steps instead (e.g. warmup_steps): keep it fixed
            del ranges[name]
            continue
        low_high = ranges[name]
        numeric = not isinstance(value, (str, bool))
        if numeric and len(low_high) == 2 and not isinstance(low_high[0], (str, bool)):
            ranges[name] = (min(low_high[0], value), max(low_high[1], value))
        elif value not in low_high:
            ranges[name] = (*low_high, value)
    fixed = {k: v for k, v in spec.params.items() if k not in ranges and v is not None}
    fixed.update(pinned)
    return FamilyPrior(spec.family, weight, ranges, fixed)
