"""The rule engine: rules are data, read from TOML; matching and ranking are pure.

A rules file has four kinds of table, each with an ``id``, a ``when`` (conditions on
the task profile), a one-line ``reason`` and an optional ``score``:

* ``[[rule]]`` concludes a schedule: ``family``, ``params`` and an optional search
  ``prior`` (``{param = [low, high]}``, a list of choices, or a value to pin).
* ``[[lr]]`` concludes a peak LR: ``peak`` and ``range = [low, high]``, optionally
  scaled by a number the profile gives: ``scale = {field = "model_params", ref = R,
  exponent = E}`` multiplies both by ``(value / R) ** E``.
* ``[[adjust]]`` concludes parameters added to every recommended schedule that takes
  them and does not set them already (warmup for large batches, say).
* ``[[horizon]]`` concludes how the best peak LR moves with the run's length:
  ``exponent = b`` in "best peak ~ length^-b". The search's peaks are the full run's;
  its proxy at a fraction ``f`` of the run trains at the peak times ``f ** -b``.

A condition is a value (equality), a list (membership) or ``{min = , max = }`` (an
inclusive range); a field the profile leaves out matches nothing. The fields are those
of :meth:`TaskProfile.facts` (``interval`` included). A parameter value
may be ``{epochs = N, default = X}`` (a length in epochs; with ``whole_cycles = "P"``,
fitted so that whole cycles, each parameter ``P`` times the one before, end with the
run) or ``{lr = X}`` (an absolute LR); :mod:`._advice` resolves them.

The engine knows no particular schedule; files are read and checked by :mod:`._load`,
only against what each family declares. Ranking is deterministic: score (high first),
then specificity (more conditions first), then order (user files first, in the order
given, then the shipped guide; file order within each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lradvisor.errors import RulesError
from lradvisor.rules._profile import ARCHS, OPTIMIZERS, TASKS, TaskProfile

__all__ = ["FIELDS", "KINDS", "Firing", "Rule", "match", "merge_rules"]

KINDS = ("rule", "lr", "adjust", "horizon")
_LABEL = {"rule": "rule", "lr": "lr rule", "adjust": "adjust rule",
          "horizon": "horizon rule"}
# Every field a condition may name: None = a number (ranges allowed), else its values.
FIELDS: dict[str, tuple[str, ...] | None] = {
    "task": TASKS, "arch": ARCHS, "optimizer": OPTIMIZERS,
    "length": ("known", "unknown"), "batch": ("small", "large"),
    "interval": ("step", "epoch"),
    "total_steps": None, "epochs": None, "steps_per_epoch": None, "steps": None,
    "batch_size": None, "dataset_size": None, "model_params": None, "peak_lr": None,
}


@dataclass(frozen=True)
class Rule:
    """One rule, as read from a rules file.

    Attributes:
        id: unique name; a user file's rule with a shipped id replaces the shipped one.
        kind: ``rule``, ``lr``, ``adjust`` or ``horizon``.
        when: field -> condition (value, list, or ``{"min", "max"}``).
        reason: one line in plain words, shown in the rationale.
        score: priority; higher ranks first.
        family, params, prior: a ``rule``'s schedule, its parameters, its search prior.
        peak, lr_range: an ``lr`` rule's peak LR and search range.
        scale: an ``lr`` rule's ``(field, ref, exponent)``: peak and range are
            multiplied by ``(profile.field / ref) ** exponent`` (``None``: as written).
        exponent: a ``horizon`` rule's ``b`` in "the best peak LR goes as length^-b":
            a proxy at a fraction ``f`` of the run trains at the full run's peak times
            ``f ** -b``.
        source: the file (or ``<text>``) it came from; order: its place in that file.
        enabled: ``false`` in a user file switches a shipped rule of that id off.
    """

    id: str
    kind: str
    when: Mapping[str, Any]
    reason: str
    score: float = 0.0
    family: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    prior: Mapping[str, Any] = field(default_factory=dict)
    peak: float | None = None
    lr_range: tuple[float, float] | None = None
    scale: tuple[str, float, float] | None = None
    exponent: float | None = None
    source: str = "<text>"
    order: int = 0
    enabled: bool = True

    @property
    def specificity(self) -> int:
        """How many conditions the rule has: the more, the more specific."""
        return len(self.when)

    def miss(self, facts: Mapping[str, Any]) -> str | None:
        """The first condition ``facts`` fail, in words; ``None`` when all hold."""
        for name, cond in self.when.items():
            value = facts.get(name)
            if isinstance(cond, Mapping):
                ok = value is not None and cond.get("min", value) <= value <= cond.get(
                    "max", value)
            elif isinstance(cond, tuple):
                ok = value in cond
            else:
                ok = value == cond
            if not ok:
                return f"{name} is {value!r}, needs {_show(cond)}"
        return None


@dataclass(frozen=True)
class Firing:
    """A rule that fired: its place in the ranking and how it got there."""

    rule: Rule
    rank: int
    note: str


def _show(cond: Any) -> str:
    if isinstance(cond, Mapping):
        return " and ".join(f"{'>=' if k == 'min' else '<='} {v}" for k, v in cond.items())
    if isinstance(cond, tuple):
        return "one of " + ", ".join(map(str, cond))
    return repr(cond)


def _sort_key(rule: Rule) -> tuple[float, int, int]:
    return (-rule.score, -rule.specificity, rule.order)


def match(rules: Sequence[Rule], profile: TaskProfile, trace: list[str] | None = None,
          *, kind: str = "rule") -> list[Firing]:
    """The enabled rules of ``kind`` whose conditions ``profile`` meets, best first.

    Ranked by score (high first), then specificity (more conditions first), then
    ``order`` (the merged order: user files first, then the shipped guide). Each
    tie-break is written to ``trace`` in words, with every rule that fired.
    """
    known = profile.facts()
    fired = [r for r in rules if r.kind == kind and r.enabled and r.miss(known) is None]
    fired.sort(key=_sort_key)
    out: list[Firing] = []
    for rank, rule in enumerate(fired):
        note = f"score {rule.score:g}, {rule.specificity} condition(s)"
        if rank:
            prev = fired[rank - 1]
            if prev.score == rule.score and prev.specificity > rule.specificity:
                note += f"; below {prev.id} on the same score: {prev.id} is more specific"
            elif prev.score == rule.score and prev.specificity == rule.specificity:
                where = (f"earlier in {rule.source}" if prev.source == rule.source
                         else f"{prev.source} before {rule.source}")
                note += (f"; tied with {prev.id} on score and specificity, {prev.id} "
                         f"comes first in rule order ({where})")
        out.append(Firing(rule, rank, note))
        if trace is not None:
            trace.append(f"{_LABEL[kind]} {rule.id} fired ({note}): {rule.reason}")
    if trace is not None:
        missed = sum(1 for r in rules if r.kind == kind and r.enabled) - len(fired)
        trace.append(f"{missed} other {_LABEL[kind]}(s) did not match the profile.")
    return out


def merge_rules(shipped: Sequence[Rule], *users: Sequence[Rule],
                trace: list[str] | None = None) -> list[Rule]:
    """User rules first (in the order given), then the shipped rules they do not replace.

    A user rule with a shipped rule's id replaces it (and must be of the same kind);
    ``order`` is renumbered so that it gives the merged order. A rule switched off
    (``enabled = false``) that replaces none is refused: its id is likely mistyped.
    """
    merged: list[Rule] = []
    seen: dict[str, Rule] = {}
    replaced: set[str] = set()
    for rule in [r for rules in users for r in rules] + list(shipped):
        old = seen.get(rule.id)
        if old is None:
            seen[rule.id] = rule
            merged.append(rule)
            continue
        replaced.add(rule.id)
        if old.kind != rule.kind:
            raise RulesError(
                f"{old.source}: {old.kind} {old.id!r} would replace a {rule.kind} of the "
                f"same id in {rule.source}; an override must be of the same kind."
            )
        if trace is not None and old.source != rule.source:
            what = "switches off" if not old.enabled else "replaces"
            trace.append(f"{_LABEL[old.kind]} {old.id} from {old.source} {what} the one in "
                         f"{rule.source}.")
    idle = next((r for r in merged if not r.enabled and r.id not in replaced), None)
    if idle is not None:
        raise RulesError(f"{idle.source}: {idle.kind} {idle.id!r}: enabled = false switches "
                         "off no rule, as no other rule has that id; give the id of a "
                         "shipped rule (lradvisor/rules/guide.toml) or of a rule in a "
                         "later --rules file.")
    return [replace(rule, order=i) for i, rule in enumerate(merged)]
