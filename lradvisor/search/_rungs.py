"""The rung logic as pure functions over trial records: who is promoted, who wins.

Nothing here touches Optuna or torch: a :class:`Record` is what a stored trial says
(its rung, spec, seed, state, value, lineage), and the functions answer

* :func:`leaderboard`: the configurations of one rung, best first, each judged by its
  worst seed (good across seeds, not lucky on one);
* :func:`next_runs`: what the next rung should run that it has not run yet (so a
  resumed search picks up where it stopped);
* :func:`choose`: the winner at the longest rung reached, preferring, among the tied,
  the lower peak LR (margin from divergence), and keeping the rules' configuration
  when a final short of full length beats it only narrowly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lradvisor.schedules import ScheduleSpec
from lradvisor.search._fidelity import Fidelity

__all__ = ["Choice", "Entry", "Planned", "Record", "choose", "failed_runs", "leaderboard",
           "next_runs", "rules_entry", "rules_lead"]

INTERRUPTED = "interrupted"
_LR_VARIANT = "lr x"  # origin prefix of a rung leader re-run at another peak LR


@dataclass(frozen=True)
class Record:
    """One stored trial, as the rung logic sees it."""

    number: int
    rung: int
    spec: ScheduleSpec | None
    seed: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: float | None
    origin: str = "sampled"
    parent: int | None = None
    steps_used: int = 0
    diverged: bool = False
    error: str | None = None

    @property
    def key(self) -> str | None:
        """The spec's JSON: equal configurations have equal keys."""
        return None if self.spec is None else self.spec.to_json()


@dataclass(frozen=True)
class Planned:
    """A run to make: ``spec`` (``None``: sampled) at ``rung`` with ``seed``."""

    spec: ScheduleSpec | None
    rung: int
    seed: int
    origin: str
    parent: int | None = None


@dataclass(frozen=True)
class Entry:
    """One configuration on a rung's leaderboard."""

    spec: ScheduleSpec
    score: float  # the worst of its seeds' values
    values: tuple[float, ...]
    records: tuple[Record, ...]

    @property
    def best(self) -> Record:
        """Its first record (the one promotions name as parent)."""
        return self.records[0]


@dataclass(frozen=True)
class Choice:
    """The configuration a search recommends, and what it rests on."""

    entry: Entry
    rung: int
    finalists: tuple[Entry, ...]
    tied: tuple[Entry, ...]
    reached: int  # trials that ran at this rung (completed or pruned)
    diverged_lr: float | None  # lowest peak LR seen diverging in the winner's family
    kept_rules: float | None = None  # the best finalist's lead over the rules' pick, kept
    # the winner's lead over the rules' pick when within the trust margin, but the
    # winner's peak LR is no higher than the rules' (the margin is not for it)
    waived: float | None = None


def _sign(direction: str) -> float:
    return 1.0 if direction == "minimize" else -1.0


def leaderboard(records: Iterable[Record], rung: int, direction: str) -> list[Entry]:
    """Completed configurations of ``rung``, best first, scored by their worst seed.

    A configuration with any diverged run at this rung is left out.
    """
    sign = _sign(direction)
    groups: dict[str, list[Record]] = {}
    diverged: set[str] = set()
    for rec in records:
        if rec.rung != rung or rec.key is None:
            continue
        if rec.diverged:
            diverged.add(rec.key)
        if rec.state == "COMPLETE" and rec.value is not None and math.isfinite(rec.value):
            groups.setdefault(rec.key, []).append(rec)
    entries = []
    for key, recs in groups.items():
        if key in diverged:
            continue
        values = tuple(float(r.value) for r in recs if r.value is not None)
        worst = max(values, key=lambda v: sign * v)
        entries.append(Entry(recs[0].spec, worst, values, tuple(recs)))  # type: ignore[arg-type]
    entries.sort(key=lambda e: (sign * e.score, e.best.number))
    return entries


def failed_runs(records: Iterable[Record]) -> list[Record]:
    """The failed ones of ``records``, a trial Ctrl-C cut aside (``interrupted``: a resume
    runs it again): what a search's and a worker's summaries name and judge."""
    return [r for r in records if r.state == "FAIL" and r.error != INTERRUPTED]


def finished_count(records: Iterable[Record], rung: int) -> int:
    """Trials that ran to an end (completed or pruned) at ``rung``."""
    return sum(1 for r in records if r.rung == rung and r.state in ("COMPLETE", "PRUNED"))


def next_runs(
    records: Sequence[Record],
    rung: int,
    fidelity: Fidelity,
    direction: str,
    *,
    seed: int = 0,
) -> list[Planned]:
    """The runs rung ``rung`` (>= 1) still needs, promoted from rung ``rung - 1``.

    The rules' best configuration on the rung below (a run of origin ``rules``) is the
    search's safety net: it climbs every rung, as a run of origin ``rules`` (which the
    runner never prunes), and is one of the finalists, so the final comparison always
    includes what the rules alone would have given.

    Middle rung: first the rules' configuration and the top :meth:`Fidelity.promoted`
    configurations; once they have run, this rung's leader at its peak LR times each
    ``lr_factors`` (peak LR does not transfer unchanged from the shorter run), once.
    Last rung: the top ``finalists`` (the last place going to the rules' configuration
    when it is not among them), each on ``seeds`` seeds. Runs already at ``rung`` (in
    any state but interrupted) are not repeated; every run names as parent the trial of
    rung ``rung - 1`` it comes from.
    """
    board = leaderboard(records, rung - 1, direction)
    if not board:
        return []
    rules = rules_entry(board)
    wanted: list[Planned] = []
    if rung == fidelity.last:
        finalists = board[: fidelity.finalists]
        if rules is not None and rules not in finalists:
            finalists = [*finalists[: fidelity.finalists - 1], rules]
        for entry in finalists:
            wanted += [
                Planned(entry.spec, rung, seed + i, "finalist", entry.best.number)
                for i in range(fidelity.seeds)
            ]
    else:
        chosen = board[: fidelity.promoted(finished_count(records, rung - 1))]
        if rules is not None:  # first, so a budget that runs short cuts a sampled one
            chosen = [rules, *(e for e in chosen if e is not rules)]
        wanted += [Planned(e.spec, rung, seed, "rules" if e is rules else "promoted",
                           e.best.number) for e in chosen]
        missing = _not_done(records, rung, wanted)
        return missing or _lr_variants(records, rung, fidelity, direction, seed)
    return _not_done(records, rung, wanted)


def _lr_variants(records: Sequence[Record], rung: int, fidelity: Fidelity, direction: str,
                 seed: int) -> list[Planned]:
    """The leader of ``rung`` at its peak LR times each factor, those not yet run.

    The leader is the rung's as it stood before any variant ran (its board without the
    ``lr x…`` runs), so the variants wanted stay the same however many of them have run:
    a worker that takes one at a time reaches every factor, as one wave does.
    """
    board = leaderboard([r for r in records if not r.origin.startswith(_LR_VARIANT)],
                        rung, direction)
    if not board or board[0].spec.peak_lr is None:
        return []
    leader = board[0]
    peak = board[0].spec.peak_lr
    wanted = [
        Planned(leader.spec.replace(peak_lr=peak * factor), rung, seed,
                f"{_LR_VARIANT}{factor:g}", leader.best.parent)
        for factor in fidelity.lr_factors
        if factor != 1.0
    ]
    return _not_done(records, rung, wanted)


def _not_done(records: Sequence[Record], rung: int, wanted: list[Planned]) -> list[Planned]:
    """``wanted`` without runs already made at ``rung`` (or planned twice)."""
    done = {
        (r.key, r.seed)
        for r in records
        if r.rung == rung and r.error != INTERRUPTED and r.state != "WAITING"
    }
    out: list[Planned] = []
    seen = set(done)
    for plan in wanted:
        key = (plan.spec.to_json() if plan.spec else None, plan.seed)
        if key not in seen:
            seen.add(key)
            out.append(plan)
    return out


def rules_entry(board: Sequence[Entry]) -> Entry | None:
    """The best configuration of a rung that ran as the rules' pick (origin ``rules``)."""
    return next((e for e in board if any(r.origin == "rules" for r in e.records)), None)


def choose(records: Sequence[Record], fidelity: Fidelity, direction: str) -> Choice | None:
    """The winner at the longest rung with a completed configuration; ``None``: none yet.

    Finalists are judged by their worst seed; those within ``fidelity.tie`` of the best
    count as tied, and among them the lowest peak LR wins (margin from divergence).
    When the last rung is shorter than the full run, the rules' configuration (the
    finalist promoted from a run of origin ``rules``) wins unless the best beats it by
    more than ``fidelity.trust``, or the winner's peak LR is no higher than the rules'
    (the margin guards against short runs' preference for higher peaks). When the
    margin holds the best back, the best finalist ahead of the rules' configuration at
    a peak no higher than its peak wins, if there is one (it needs only to lead).
    """
    sign = _sign(direction)
    for rung in range(fidelity.last, -1, -1):
        board = leaderboard(records, rung, direction)
        if rung == fidelity.last:
            full = [e for e in board if len(e.values) >= fidelity.seeds]
            board = full or board
        if not board:
            continue
        best = board[0].score
        margin = fidelity.tie * max(abs(best), 1e-12)
        tied = tuple(e for e in board if sign * (e.score - best) <= margin)
        winner = min(tied, key=lambda e: (e.spec.peak_lr or math.inf, sign * e.score))
        kept = waived = None
        rules = _rules_finalist(records, board, rung, fidelity, direction)
        if rules is not None and rules is not winner and rules is not board[0]:
            lead = rules_lead(rules.score, best, direction)
            if lead <= fidelity.trust:
                if higher_peak(winner.spec.peak_lr, rules.spec.peak_lr):
                    # held back; a finalist ahead of the rules' at no higher peak still wins
                    lower = next((e for e in board[: board.index(rules)]
                                  if not higher_peak(e.spec.peak_lr, rules.spec.peak_lr)), None)
                    if lower is not None:
                        winner = lower
                        waived = rules_lead(rules.score, winner.score, direction)
                    else:
                        winner, kept = rules, lead
                else:
                    waived = lead
        return Choice(
            entry=winner,
            rung=rung,
            finalists=tuple(board),
            tied=tied,
            reached=finished_count(records, rung),
            diverged_lr=_diverged_lr(records, winner.spec.family),
            kept_rules=kept,
            waived=waived,
        )
    return None


def _rules_finalist(records: Sequence[Record], board: Sequence[Entry], rung: int,
                    fidelity: Fidelity, direction: str) -> Entry | None:
    """The rules' configuration among a short last rung's finalists, when the trust
    margin applies there (a last rung shorter than the full run, ``trust`` > 0)."""
    if rung != fidelity.last or rung == 0 or fidelity.rungs[rung] >= 1.0 or not fidelity.trust:
        return None
    below = rules_entry(leaderboard(records, rung - 1, direction))
    key = None if below is None else below.spec.to_json()
    return next((e for e in board if e.spec.to_json() == key), None)


def higher_peak(peak: float | None, rules_peak: float | None) -> bool:
    """Whether ``peak`` is a higher peak LR than the rules' configuration's (the case the
    trust margin is for); ``False`` when either is unknown."""
    return peak is not None and rules_peak is not None and peak > rules_peak * (1 + 1e-9)


def rules_lead(rules_score: float, best_score: float, direction: str) -> float:
    """How far the best finalist leads the rules' configuration, relative to the best."""
    return _sign(direction) * (rules_score - best_score) / max(abs(best_score), 1e-12)


def _diverged_lr(records: Iterable[Record], family: str) -> float | None:
    lrs = [
        r.spec.peak_lr
        for r in records
        if r.diverged and r.spec is not None and r.spec.family == family and r.spec.peak_lr
    ]
    return min(lrs) if lrs else None


def lineage(records: Sequence[Record], number: int) -> list[int]:
    """Trial numbers from the first-rung ancestor down to trial ``number``."""
    by_number = {r.number: r for r in records}
    chain: list[int] = []
    current: Any = by_number.get(number)
    while current is not None and current.number not in chain:
        chain.append(current.number)
        current = by_number.get(current.parent) if current.parent is not None else None
    return chain[::-1]
