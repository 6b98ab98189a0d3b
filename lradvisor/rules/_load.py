"""Reading a rules file: TOML in, checked :class:`Rule` objects out.

Everything is checked where it is read, so a malformed file fails at once with a
:class:`~lradvisor.errors.RulesError` naming the file, the table's index and id, and
the bad key or value. A conclusion is checked only against what the family declares
(:mod:`lradvisor.schedules`): its parameter names, kinds and ranges.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lradvisor.errors import RulesError, SpecError
from lradvisor.rules._engine import FIELDS, KINDS, Rule
from lradvisor.schedules import FAMILY_NAMES, Param, ScheduleSpec, all_families, get_family

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["load_rules", "param_table"]

_KEYS = {
    "rule": {"id", "when", "reason", "score", "enabled", "family", "params", "prior"},
    "lr": {"id", "when", "reason", "score", "enabled", "peak", "range", "scale"},
    "adjust": {"id", "when", "reason", "score", "enabled", "params"},
    "horizon": {"id", "when", "reason", "score", "enabled", "exponent"},
}
_REQUIRED = {"rule": ("id", "reason", "family"), "lr": ("id", "reason", "peak", "range"),
             "adjust": ("id", "reason", "params"), "horizon": ("id", "reason", "exponent")}
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_VALUE_FORMS = {"epochs", "default", "lr", "whole_cycles"}


def load_rules(path_or_text: str | os.PathLike[str], *, source: str | None = None) -> list[Rule]:
    """Read and check a rules file (a path, or TOML text containing a newline or ``[``).

    Raises:
        RulesError: the file is missing or not TOML, or a rule is malformed; the
            message names the file, the rule's index and id, and the bad key or value.
    """
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
        and not path_or_text.lstrip().startswith("[")
    ):
        path = Path(path_or_text)
        source = source or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise RulesError(f"rules file {str(path)!r} cannot be read: {err.strerror}.") from None
        except UnicodeDecodeError as err:
            raise RulesError(f"rules file {str(path)!r} is not UTF-8 text (byte "
                             f"{err.object[err.start]:#04x} at offset {err.start}); save "
                             "it as UTF-8.") from None
    elif isinstance(path_or_text, str):
        text, source = path_or_text, source or "<text>"
    else:
        raise RulesError(f"rules must be a path or TOML text, but got {path_or_text!r}.")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RulesError(f"{source}: not valid TOML ({err}).") from None
    unknown = [k for k in data if k not in KINDS]
    if unknown:
        raise RulesError(f"{source}: unknown table {unknown[0]!r}; allowed: "
                         "[[rule]], [[lr]], [[adjust]], [[horizon]].")
    rules: list[Rule] = []
    ids: set[str] = set()
    for kind in KINDS:
        tables = data.get(kind, [])
        if not isinstance(tables, list):
            raise RulesError(f"{source}: {kind!r} must be an array of tables ([[{kind}]]).")
        for index, table in enumerate(tables, start=1):
            where = f"{source}: [[{kind}]] #{index}"
            rule = _read(kind, table, where, source, len(rules))
            if rule.id in ids:
                raise RulesError(f"{where} ({rule.id!r}): duplicate id; ids must be unique.")
            ids.add(rule.id)
            rules.append(rule)
    return rules


def _read(kind: str, table: Any, where: str, source: str, order: int) -> Rule:
    if not isinstance(table, Mapping):
        raise RulesError(f"{where}: must be a table, but got {table!r}.")
    rid = table.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise RulesError(f"{where}: needs an 'id' of letters, digits, '_', '-' or '.', "
                         f"but got {rid!r}.")
    where = f"{where} ({rid!r})"
    unknown = sorted(set(table) - _KEYS[kind])
    if unknown:
        raise RulesError(f"{where}: unknown key {unknown[0]!r}; allowed: "
                         f"{', '.join(sorted(_KEYS[kind]))}.")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RulesError(f"{where}: enabled must be true or false, but got {enabled!r}.")
    missing = [k for k in _REQUIRED[kind] if k not in table]
    if missing and enabled:
        raise RulesError(f"{where}: missing {missing[0]!r}.")
    reason = table.get("reason", "switched off")
    if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
        raise RulesError(f"{where}: reason must be one non-empty line, but got {reason!r}.")
    score = table.get("score", 0)
    if not _is_number(score):
        raise RulesError(f"{where}: score must be a finite number, but got {score!r}.")
    rule = Rule(id=rid, kind=kind, when=_when(table.get("when", {}), where),
                reason=reason.strip(), score=float(score), source=source, order=order,
                enabled=enabled)
    if not enabled:
        return rule
    if kind == "lr":
        return _read_lr(rule, table, where)
    if kind == "horizon":
        exponent = table["exponent"]
        if not (_is_number(exponent) and abs(exponent) <= 2):
            raise RulesError(f"{where}: exponent must be a number in [-2, 2], but got "
                             f"{exponent!r}.")
        return replace(rule, exponent=float(exponent))
    params = table.get("params", {})
    if kind == "adjust":
        return replace(rule, params=_adjust_params(params, where))
    family = table["family"]
    if family not in FAMILY_NAMES:
        raise RulesError(f"{where}: unknown family {family!r}; allowed: "
                         f"{', '.join(FAMILY_NAMES)}.")
    by_name = param_table(family)
    checked = _family_params(family, by_name, params, where)
    prior = _prior(by_name, table.get("prior", {}), where)
    return replace(rule, family=family, params=checked, prior=prior)


def _when(when: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(when, Mapping):
        raise RulesError(f"{where}: when must be a table of conditions, but got {when!r}.")
    out: dict[str, Any] = {}
    for name, cond in when.items():
        if name not in FIELDS:
            raise RulesError(f"{where}: unknown field {name!r} in when; allowed: "
                             f"{', '.join(FIELDS)}.")
        allowed = FIELDS[name]
        if isinstance(cond, Mapping):
            bad = [k for k in cond if k not in ("min", "max")]
            nums = all(_is_number(v) for v in cond.values())
            if (allowed is not None or bad or not cond or not nums
                    or cond.get("min", -math.inf) > cond.get("max", math.inf)):
                raise RulesError(f"{where}: when.{name} = {cond!r}: a range is "
                                 "{min = number, max = number} (min <= max) on a numeric "
                                 "field.")
            out[name] = MappingProxyType(dict(cond))
            continue
        values = cond if isinstance(cond, list) else [cond]
        if not values:
            raise RulesError(f"{where}: when.{name} = []: a list of values matches none; "
                             "give at least one.")
        for value in values:
            ok = value in allowed if allowed is not None else _is_number(value)
            if not ok:
                what = ", ".join(allowed) if allowed is not None else "a number"
                raise RulesError(f"{where}: when.{name} = {value!r} is not allowed; "
                                 f"allowed: {what}.")
        out[name] = tuple(values) if isinstance(cond, list) else cond
    return MappingProxyType(out)


def _is_number(value: Any) -> bool:
    """A finite int or float (TOML's ``inf`` and ``nan`` are not: nothing compares
    or searches well with them)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _read_lr(rule: Rule, table: Mapping[str, Any], where: str) -> Rule:
    peak, bounds = table["peak"], table["range"]
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_is_number, bounds))):
        raise RulesError(f"{where}: range must be [low, high] (finite numbers), but got "
                         f"{bounds!r}.")
    low, high = float(bounds[0]), float(bounds[1])
    if not (_is_number(peak) and 0 < low <= peak <= high):
        raise RulesError(f"{where}: needs 0 < low <= peak <= high, but got peak {peak!r} "
                         f"and range {bounds!r}.")
    scale = table.get("scale")
    if scale is not None:
        scale = _read_scale(scale, where)
    return replace(rule, peak=float(peak), lr_range=(low, high), scale=scale)


def _read_scale(scale: Any, where: str) -> tuple[str, float, float]:
    """``scale = {field = "model_params", ref = 3.5e8, exponent = -0.3}``, checked."""
    numeric = sorted(name for name, values in FIELDS.items() if values is None
                     and name != "peak_lr")
    form = "scale = {field = NAME, ref = X > 0, exponent = E}"
    if not isinstance(scale, Mapping) or set(scale) != {"field", "ref", "exponent"}:
        raise RulesError(f"{where}: {form}, but got {scale!r}.")
    name, ref, exponent = scale["field"], scale["ref"], scale["exponent"]
    if name not in numeric:
        raise RulesError(f"{where}: scale.field must be one of {', '.join(numeric)}, "
                         f"but got {name!r}.")
    if not (_is_number(ref) and 0 < ref < math.inf and _is_number(exponent)
            and abs(exponent) <= 4):
        raise RulesError(f"{where}: {form} with |E| <= 4, but got {scale!r}.")
    return str(name), float(ref), float(exponent)


def param_table(family: str) -> dict[str, Param]:
    """Every parameter name ``family`` takes, ``<stem>_steps`` forms included."""
    by_name: dict[str, Param] = {}
    for p in get_family(family).all_params:
        by_name[p.name] = p
        if p.steps_name:
            by_name[p.steps_name] = Param(p.steps_name, "int", None, "", low=0)
    return by_name


def _family_params(family: str, by_name: Mapping[str, Param], params: Any,
                   where: str) -> Mapping[str, Any]:
    if not isinstance(params, Mapping):
        raise RulesError(f"{where}: params must be a table, but got {params!r}.")
    checked = {k: _value(family, by_name.get(k), k, v, where, by_name)
               for k, v in params.items()}
    try:  # the plain values together (e.g. not both a _fraction and its _steps)
        ScheduleSpec(family, {k: v for k, v in checked.items() if not isinstance(v, Mapping)})
    except SpecError as err:
        raise RulesError(f"{where}: {err}") from None
    return MappingProxyType(checked)


def _value(family: str, param: Param | None, name: str, value: Any, where: str,
           by_name: Mapping[str, Param]) -> Any:
    if param is None:
        raise RulesError(f"{where}: unknown parameter {name!r} for {family}; allowed: "
                         f"{', '.join(sorted(by_name))}.")
    if isinstance(value, str) and param.kind != "str":
        raise RulesError(f"{where}: params.{family}.{name} must be {param.allowed()}, "
                         f"but got the text {value!r}.")
    if not isinstance(value, Mapping):
        try:
            return param.check(family, value)
        except SpecError as err:
            raise RulesError(f"{where}: params.{err}") from None
    bad = sorted(set(value) - _VALUE_FORMS)
    ok = not bad and (("epochs" in value) != ("lr" in value)) and all(
        _is_number(value[k]) and value[k] > 0 for k in ("epochs", "lr") if k in value)
    if not ok or ("lr" in value and "default" in value):
        raise RulesError(f"{where}: params.{name} = {dict(value)!r}: a value table is "
                         "{epochs = N > 0, default = value} (whole_cycles = P "
                         "optional) or {lr = X > 0}.")
    if "epochs" in value and not name.endswith(("_fraction", "_steps")):
        raise RulesError(f"{where}: params.{name}: {{epochs = N}} is for lengths only "
                         "(a *_fraction or *_steps parameter).")
    if "lr" in value and not name.endswith("_ratio"):
        raise RulesError(f"{where}: params.{name}: {{lr = X}} is for a multiple of the "
                         "peak LR only (a *_ratio parameter).")
    if "whole_cycles" in value:
        _whole_cycles(name, value["whole_cycles"], where, by_name)
    if "default" in value:
        try:
            param.check(family, value["default"])
        except SpecError as err:
            raise RulesError(f"{where}: params.{name} default: {err}") from None
    return MappingProxyType(dict(value))


def _whole_cycles(name: str, growth: Any, where: str, by_name: Mapping[str, Param]) -> None:
    """``whole_cycles = "P"`` on an ``{epochs = N}`` fraction: P names the family's
    number by which each cycle is longer than the one before (``t_mult``, say)."""
    param = by_name.get(growth) if isinstance(growth, str) else None
    if not name.endswith("_fraction"):
        raise RulesError(f"{where}: params.{name}: whole_cycles is for a *_fraction "
                         "length (the first cycle), given as {epochs = N, ...}.")
    if param is None or param.kind not in ("int", "float") or param.length:
        numbers = sorted(p.name for p in by_name.values()
                         if p.kind in ("int", "float") and not p.length
                         and not p.name.endswith("_steps"))
        raise RulesError(f"{where}: params.{name}: whole_cycles names the parameter by "
                         f"which each cycle grows, one of {', '.join(numbers)}, but got "
                         f"{growth!r}.")


def _prior(by_name: Mapping[str, Param], prior: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(prior, Mapping):
        raise RulesError(f"{where}: prior must be a table, but got {prior!r}.")
    out: dict[str, Any] = {}
    for name, value in prior.items():
        param = by_name.get(name)
        if param is None:
            raise RulesError(f"{where}: prior names unknown parameter {name!r}; allowed: "
                             f"{', '.join(sorted(by_name))}.")
        try:
            if isinstance(value, list):
                values = tuple(param.check("prior", v) for v in value)
                numeric = param.kind in ("float", "int")
                if not values or (numeric and (len(values) != 2 or values[0] > values[1])):
                    raise SpecError(f"prior.{name} must be [low, high] with low <= high, "
                                    f"but got {value!r}.")
                out[name] = values
            else:
                out[name] = param.check("prior", value)
        except SpecError as err:
            raise RulesError(f"{where}: {err}") from None
    return MappingProxyType(out)


def _adjust_params(params: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(params, Mapping) or not params:
        raise RulesError(f"{where}: params must be a non-empty table, but got {params!r}.")
    known: dict[str, tuple[str, dict[str, Param]]] = {}
    for fam in all_families():
        table = param_table(fam.name)
        for name in table:
            known.setdefault(name, (fam.name, table))
    out: dict[str, Any] = {}
    for name, value in params.items():
        family, table = known.get(name, ("any family", {}))
        if not table:
            raise RulesError(f"{where}: no family takes parameter {name!r}; allowed: "
                             f"{', '.join(sorted(known))}.")
        out[name] = _value(family, table[name], name, value, where, table)
    return MappingProxyType(out)
