"""The search space: family first, then that family's parameters, then peak LR (log scale).

Derived from the rule engine's prior for the task profile, not hard-coded: the prior
names the families worth trying and may narrow or fix their parameters; every other
parameter with a ``search=`` range on its :class:`~lradvisor.schedules.Param` is
sampled over that range, the rest keep their defaults. The space is define-by-run:
Optuna sees ``family``, then ``<family>.<param>`` for the chosen family only, then
``peak_lr``; a trial becomes one :class:`~lradvisor.schedules.ScheduleSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lradvisor.errors import SpecError, StudyError
from lradvisor.schedules import FAMILY_NAMES, ScheduleSpec, get_family
from lradvisor.schedules._params import Param

__all__ = ["Dimension", "FamilySpace", "SearchSpace", "for_direction", "proxy_peak"]


@dataclass(frozen=True)
class Dimension:
    """One sampled parameter: a numeric range (``low``, ``high``, ``log``) or ``choices``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any, key: str) -> Any:
        """Ask ``trial`` for this parameter under the Optuna name ``key``."""
        if self.choices is not None:
            return trial.suggest_categorical(key, list(self.choices))
        assert self.low is not None and self.high is not None  # numbers have a range
        if self.kind == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(key, float(self.low), float(self.high), log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether Optuna can record ``value`` as a point of this dimension."""
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high  # type: ignore[operator]


@dataclass(frozen=True)
class FamilySpace:
    """A family's sampled dimensions and the parameters the prior fixes."""

    family: str
    dims: tuple[Dimension, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0


@dataclass(frozen=True)
class SearchSpace:
    """Families to try, each with its dimensions, and the peak-LR range.

    Peaks are the full run's. ``horizon`` (the profile's ``[[horizon]]`` exponent ``b``:
    best peak ~ length^-b) maps one to the peak a proxy at a fraction of the run trains
    with (:meth:`proxy_spec`); ``None``: every proxy trains at the full run's peak.
    ``total_steps``, the full run's length, restates a length the prior fixes in steps
    (a rule's ``decay_steps``) as a fraction of it in each sampled spec, as the rules'
    own trial is, so proxies keep its shape; ``None`` keeps it in steps.

    Example:
        >>> space = SearchSpace.build(["cosine", "wsd"], lr_low=1e-4, lr_high=1e-1)
        >>> [d.name for d in space.family("wsd").dims]
        ['decay_fraction', 'decay_shape', 'min_lr_ratio']
    """

    families: tuple[FamilySpace, ...]
    lr_low: float
    lr_high: float
    horizon: float | None = None
    total_steps: int | None = None

    def __post_init__(self) -> None:
        if not self.families:
            raise StudyError("the search space has no family to search.")
        if not (0 < self.lr_low <= self.lr_high and math.isfinite(self.lr_high)):
            raise StudyError(
                f"peak LR range must satisfy 0 < low <= high, but got "
                f"({self.lr_low!r}, {self.lr_high!r})."
            )

    @classmethod
    def build(
        cls,
        families: Iterable[str],
        *,
        lr_low: float,
        lr_high: float,
        ranges: Mapping[str, Mapping[str, Any]] | None = None,
        fixed: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Mapping[str, float] | None = None,
        horizon: float | None = None,
        direction: str = "minimize",
        total_steps: int | None = None,
    ) -> SearchSpace:
        """A space over ``families``; ``ranges``/``fixed`` per family override the Params.

        In a ``direction="maximize"`` search a family's metric ``mode`` (``plateau``'s)
        is ``max``: the value it is fed is the study's, and higher is better there. A
        length fixed in steps (``decay_steps``) is not sampled as a fraction too.
        """
        spaces = []
        for name in dict.fromkeys(families):
            fam = get_family(name)
            narrowed = dict((ranges or {}).get(name, {}))
            held = dict((fixed or {}).get(name, {}))
            if direction == "maximize" and any(p.name == _MODE for p in fam.all_params):
                held[_MODE] = "max"
            dims = tuple(
                _dimension(p, narrowed.get(p.name))
                for p in fam.all_params
                if p.name not in held and p.steps_name not in held
                and (p.search is not None or p.name in narrowed)
            )
            spaces.append(
                FamilySpace(name, dims, held, float((weights or {}).get(name, 1.0)))
            )
        return cls(tuple(spaces), float(lr_low), float(lr_high), horizon, total_steps)

    @classmethod
    def from_prior(cls, prior: Any, families: Iterable[str] | None = None, *,
                   direction: str = "minimize",
                   total_steps: int | None = None) -> SearchSpace:
        """The space the rule engine's ``SearchPrior`` describes, restricted to ``families``.

        A family in ``families`` that the prior does not name is searched over its own
        ``search=`` ranges (the user asked for it); an unknown name raises a
        :class:`SpecError` listing the valid ones.
        """
        by_family = {fp.family: fp for fp in prior.families if fp.weight > 0}
        names = list(by_family) if families is None else [get_family(f).name for f in families]
        if not names:
            raise StudyError(
                "the rules' prior names no family to search; pass --families "
                f"(any of {', '.join(FAMILY_NAMES)})."
            )
        ranges = {n: dict(by_family[n].ranges) for n in names if n in by_family}
        fixed = {n: dict(by_family[n].fixed) for n in names if n in by_family}
        weights = {n: by_family[n].weight for n in names if n in by_family}
        return cls.build(names, lr_low=prior.lr_low, lr_high=prior.lr_high,
                         ranges=ranges, fixed=fixed, weights=weights,
                         horizon=getattr(prior, "horizon", None), direction=direction,
                         total_steps=total_steps)

    def proxy_spec(self, spec: ScheduleSpec, fraction: float) -> ScheduleSpec:
        """The schedule a proxy at ``fraction`` of the run trains: ``spec``, the full
        run's, with its peak LR times ``fraction ** -horizon`` (short runs want higher
        peaks); ``spec`` itself at full length, without a horizon, or without a peak.

        Example:
            >>> space = SearchSpace.build(["cosine"], lr_low=0.01, lr_high=0.5, horizon=0.5)
            >>> space.proxy_spec(ScheduleSpec.create("cosine", peak_lr=0.05), 0.25).peak_lr
            0.1
        """
        if self.horizon is None or fraction >= 1 or spec.peak_lr is None:
            return spec
        return replace(spec, peak_lr=proxy_peak(spec.peak_lr, fraction, self.horizon))

    @property
    def names(self) -> tuple[str, ...]:
        """The family ids, in order."""
        return tuple(f.family for f in self.families)

    def family(self, name: str) -> FamilySpace:
        """The space of family ``name``; a :class:`StudyError` when it is not searched."""
        for space in self.families:
            if space.family == name:
                return space
        raise StudyError(
            f"family {name!r} is not in this search; searched: {', '.join(self.names)}."
        )

    def sample(self, trial: Any, fixed: ScheduleSpec | None = None) -> ScheduleSpec:
        """Sample a spec from ``trial`` (define-by-run), or replay ``fixed`` through it.

        With ``fixed``, every value Optuna can record is asked of the trial (the caller
        made the trial with :meth:`params_of` as its fixed values, as
        :func:`~lradvisor.storage.create_trial` does, so they come back unchanged) and
        the others are taken from ``fixed`` as they are. A sampled spec's lengths in
        steps are fractions of ``total_steps`` (when the space has it).

        Raises:
            SpecError: a length in steps does not fit the full run with the sampled
                warmup (the trial fails with this text).
        """
        if fixed is not None:
            return self._replay(trial, fixed)
        family = trial.suggest_categorical("family", list(self.names))
        space = self.family(family)
        params = dict(space.fixed)
        for dim in space.dims:
            params[dim.name] = dim.suggest(trial, f"{family}.{dim.name}")
        peak = self._suggest_lr(trial)
        spec = ScheduleSpec(family, params, peak)
        return spec if self.total_steps is None else spec.relative_to(self.total_steps)

    def params_of(self, spec: ScheduleSpec) -> dict[str, Any]:
        """Optuna parameters recording ``spec`` in this space (values it can hold only)."""
        if spec.family not in self.names:
            return {}
        out: dict[str, Any] = {"family": spec.family}
        for dim in self.family(spec.family).dims:
            if dim.contains(spec.params.get(dim.name)):
                out[f"{spec.family}.{dim.name}"] = spec.params[dim.name]
        if spec.peak_lr is not None and self.lr_low <= spec.peak_lr <= self.lr_high:
            out["peak_lr"] = spec.peak_lr
        return out

    def _replay(self, trial: Any, spec: ScheduleSpec) -> ScheduleSpec:
        recorded = self.params_of(spec)
        if "family" in recorded:
            trial.suggest_categorical("family", list(self.names))
            for dim in self.family(spec.family).dims:
                key = f"{spec.family}.{dim.name}"
                if key in recorded:
                    dim.suggest(trial, key)
            if "peak_lr" in recorded:
                self._suggest_lr(trial)
        return spec

    def _suggest_lr(self, trial: Any) -> float:
        if self.lr_low == self.lr_high:
            return self.lr_low
        return float(trial.suggest_float("peak_lr", self.lr_low, self.lr_high, log=True))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (stored with the study)."""
        return {
            "lr_low": self.lr_low,
            "lr_high": self.lr_high,
            "horizon": self.horizon,
            "families": {
                f.family: {
                    "weight": f.weight,
                    "fixed": dict(f.fixed),
                    "dims": {
                        d.name: list(d.choices) if d.choices is not None
                        else {"low": d.low, "high": d.high, "log": d.log}
                        for d in f.dims
                    },
                }
                for f in self.families
            },
        }


# The parameter of a metric-driven family saying whether lower or higher is better.
_MODE = "mode"


def for_direction(spec: ScheduleSpec, direction: str) -> ScheduleSpec:
    """``spec`` as a search in ``direction`` runs it: a metric ``mode`` of ``min`` (the
    guide's, written for losses) becomes ``max`` when the study maximises its value.

    Example:
        >>> for_direction(ScheduleSpec.create("plateau"), "maximize").params["mode"]
        'max'
    """
    if direction == "maximize" and spec.params.get(_MODE) == "min":
        return spec.replace(mode="max")
    return spec


def proxy_peak(peak: float, fraction: float, horizon: float) -> float:
    """The peak a proxy at ``fraction`` of the run trains at: ``peak`` (the full run's)
    times ``fraction ** -horizon``."""
    return peak * fraction ** -horizon


def _dimension(param: Param, narrowed: Any) -> Dimension:
    """The dimension of ``param``: the prior's range when given, else ``param.search``."""
    search = tuple(narrowed) if narrowed is not None else param.search
    if search is None:  # pragma: no cover - filtered by the caller
        raise SpecError(f"parameter {param.name!r} has no search range")
    if param.kind in ("str", "bool") or len(search) != 2 or any(
        isinstance(v, (str, bool)) for v in search
    ):
        return Dimension(param.name, param.kind, choices=tuple(search))
    low, high = sorted(float(v) for v in search)
    log = param.log and low > 0
    if param.kind == "int":
        return Dimension(param.name, "int", int(low), int(high), log)
    return Dimension(param.name, "float", low, high, log)
