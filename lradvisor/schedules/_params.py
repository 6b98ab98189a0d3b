"""Parameters of a schedule family: type, allowed range, default, and search range.

A family declares its parameters once, here, and everything else (validation, the
JSON form, the CLI's ``--param k=v``, the search space) is derived from that list.

Lengths are stated relative to the run: a parameter declared with ``length=True`` is
named ``<stem>_fraction`` and may be replaced by ``<stem>_steps``, an absolute step
count, where users think in steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lradvisor.errors import SpecError

__all__ = ["WARMUP_MOST", "Param", "length_steps", "length_within_run", "validate_params",
           "warmup_within_run"]

_KINDS = ("float", "int", "str", "bool", "floats")

#: The longest warmup, as a fraction of the run: ``warmup_fraction``'s upper bound, and
#: so ``warmup_steps``' (a search restates it as a fraction of the run).
WARMUP_MOST = 0.5


@dataclass(frozen=True)
class Param:
    """One parameter of a schedule family.

    Args:
        name: the parameter's name in specs, JSON and ``--param name=value``.
        kind: ``float``, ``int``, ``str``, ``bool`` or ``floats`` (a list of floats).
        default: the value used when a spec leaves it out (``None``: not set).
        doc: one line saying what it does.
        low, high: the allowed closed range for numbers (``None``: unbounded).
        low_open: whether ``low`` itself is excluded.
        choices: the allowed values for ``str`` parameters.
        search: the range (``(low, high)``) or choices the search samples from;
            ``None`` keeps the parameter at its default during a search.
        log: whether the search samples it on a log scale.
        length: a ``<stem>_fraction`` of the run that ``<stem>_steps`` may replace.
    """

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None
    search: tuple[Any, ...] | None = None
    log: bool = False
    length: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Param kind must be one of {_KINDS}, but got {self.kind!r}.")
        if self.length and not self.name.endswith("_fraction"):
            raise ValueError(f"A length parameter must end in '_fraction', got {self.name!r}.")

    @property
    def steps_name(self) -> str | None:
        """The name of the absolute-steps alternative of a length parameter."""
        return self.name[: -len("_fraction")] + "_steps" if self.length else None

    def allowed(self) -> str:
        """The allowed values, in words, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        lo = "(" if self.low_open else "["
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        what = {"int": "an integer", "floats": "a list of numbers"}.get(self.kind, "a number")
        return f"{what} in {lo}{low}, {high}]"

    def check(self, family: str, value: Any) -> Any:
        """Coerce ``value`` to this parameter's kind and check its range."""
        where = f"{family}.{self.name}"
        if value is None:
            return None
        if self.kind == "floats":
            if isinstance(value, str):
                value = [v for v in value.replace(";", ",").split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise SpecError(f"{where} must be {self.allowed()}, but got {value!r}.")
            return tuple(self._number(where, v, float) for v in value)
        if self.kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            if not isinstance(value, bool):
                raise SpecError(f"{where} must be true or false, but got {value!r}.")
            return value
        if self.kind == "str":
            if self.choices is not None and value not in self.choices:
                raise SpecError(f"{where} must be {self.allowed()}, but got {value!r}.")
            return str(value)
        return self._number(where, value, int if self.kind == "int" else float)

    def _number(self, where: str, value: Any, kind: type) -> Any:
        try:
            if isinstance(value, bool):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise SpecError(f"{where} must be {self.allowed()}, but got {value!r}.") from None
        if kind is int:
            if not number.is_integer():
                raise SpecError(f"{where} must be {self.allowed()}, but got {value!r}.")
            number = int(number)
        if not math.isfinite(number):
            raise SpecError(f"{where} must be {self.allowed()}, but got {value!r}.")
        too_low = self.low is not None and (
            number <= self.low if self.low_open else number < self.low
        )
        if too_low or (self.high is not None and number > self.high):
            raise SpecError(f"{where} must be {self.allowed()}, but got {value!r}.")
        return number


def validate_params(
    family: str, params: tuple[Param, ...], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``given`` against ``params``; return every parameter with defaults filled in.

    A length parameter given as ``<stem>_steps`` is kept in that form (and its
    ``_fraction`` left out) so a spec stated in steps round-trips unchanged. A parameter
    given as ``None`` (JSON ``null``) is one not given: it takes its default.
    """
    by_name = {p.name: p for p in params}
    steps_names = {p.steps_name: p for p in params if p.length}
    unknown = [k for k in given if k not in by_name and k not in steps_names]
    if unknown:
        allowed = sorted([*by_name, *(n for n in steps_names if n)])
        raise SpecError(
            f"unknown parameter {unknown[0]!r} for schedule {family!r}; "
            f"allowed: {', '.join(allowed) or '(none)'}."
        )
    out: dict[str, Any] = {}
    for p in params:
        steps_name = p.steps_name
        if steps_name and given.get(steps_name) is not None:
            if given.get(p.name) is not None:
                raise SpecError(
                    f"{family}: give {p.name} or {steps_name}, not both "
                    f"(got {given[p.name]!r} and {given[steps_name]!r})."
                )
            # 0 steps is allowed where the fraction may be 0 (no warmup), not for a
            # length whose fraction must be above 0 (a decay phase, a cycle).
            steps_param = Param(steps_name, "int", None, "", low=1 if p.low_open else 0)
            out[steps_name] = steps_param.check(family, given[steps_name])
            continue
        value = given.get(p.name)
        out[p.name] = p.check(family, p.default if value is None else value)
    return out


def length_steps(params: Mapping[str, Any], stem: str, total_steps: int) -> int:
    """Resolve the length ``<stem>`` of validated ``params`` to whole steps of this run.

    ``<stem>_steps`` wins when given; otherwise ``round(<stem>_fraction * total_steps)``.
    """
    steps = params.get(f"{stem}_steps")
    if steps is not None:
        return int(steps)
    fraction = params.get(f"{stem}_fraction")
    return 0 if fraction is None else int(round(fraction * total_steps))


def length_within_run(family: str, params: Mapping[str, Any], stem: str,
                      total_steps: int, *, after_warmup: bool = True) -> int:
    """The length ``<stem>`` in whole steps (at least 1), as :func:`length_steps`, for a
    length that must end within the run (a decay phase, the first drop, a first cycle,
    a half-cycle): given as ``<stem>_steps``, it must be in ``[1, total_steps]``, as its
    fraction is in (0, 1].

    ``total_steps`` is the length the family's ``decay`` sees: the run after warmup, or
    the whole run for a family without warmup (``after_warmup=False``, as the message
    then says).

    Raises:
        SpecError: ``<stem>_steps`` lies past the run's end; the message names the value
            and the range this run allows.

    Example:
        >>> length_within_run("wsd", {"decay_steps": 300}, "decay", 200)
        Traceback (most recent call last):
        ...
        lradvisor.errors.SpecError: wsd.decay_steps must be an integer in [1, 200] (the \
steps of this run after warmup), but got 300.
    """
    steps = length_steps(params, stem, total_steps)
    if params.get(f"{stem}_steps") is not None and steps > total_steps:
        part = "the steps of this run after warmup" if after_warmup else "the steps of this run"
        raise SpecError(
            f"{family}.{stem}_steps must be an integer in [1, {total_steps}] ({part}), "
            f"but got {steps}."
        )
    return max(1, steps)


def warmup_within_run(family: str, params: Mapping[str, Any], total_steps: int) -> int:
    """The warmup in whole steps, as :func:`length_steps`, in a run of ``total_steps``:
    given as ``warmup_steps``, it must be in ``[0, floor(total_steps / 2)]``, as its
    fraction is in ``[0, 0.5]`` (:data:`WARMUP_MOST`), so a longer warmup is refused
    alike where a spec is built and where a search restates it as a fraction.

    Raises:
        SpecError: ``warmup_steps`` longer than half the run; the message names the
            value and the range this run allows, as :func:`length_within_run`'s does.

    Example:
        >>> warmup_within_run("cosine", {"warmup_steps": 150}, 100)
        Traceback (most recent call last):
        ...
        lradvisor.errors.SpecError: cosine.warmup_steps must be an integer in [0, 50] (at \
most half the steps of this run), but got 150.
    """
    steps = length_steps(params, "warmup", total_steps)
    most = math.floor(total_steps * WARMUP_MOST)
    if params.get("warmup_steps") is not None and steps > most:
        raise SpecError(
            f"{family}.warmup_steps must be an integer in [0, {most}] (at most half the "
            f"steps of this run), but got {steps}."
        )
    return steps
