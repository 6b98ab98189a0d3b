"""What a worker runs next, decided from the study's trials alone (pure functions).

Several workers share one study. Each, holding the study's lock, reads every trial and
asks :func:`decide` for its next run; the answer depends only on the trials, so any
worker reaches the same plan as :func:`~lradvisor.search.run_search` would in one
process:

1. the first rung until it holds ``n_trials`` trials, counting finished **and running**
   ones (so four workers never start a 41st trial of a 40-trial study);
2. then each longer rung, once every trial of the rungs below it has ended (running
   ones may still change who is promoted), with :func:`~lradvisor.search._rungs.next_runs`
   giving the promotions not yet taken;
3. ``"wait"`` while others' trials are running and nothing is free to take;
   ``"done"`` when nothing is running and nothing is left.

A trial cut off before it ended (its worker died, or Ctrl-C) does not count: its
configuration is queued again (Optuna's retry callback, or the next plan) and the
re-run counts instead. A trial whose training raised counts, or a broken trainable
would be retried for ever.

Example:
    >>> from lradvisor.search import Fidelity
    >>> goal = Goal(n_trials=2, fidelity=Fidelity(), full_steps=100)
    >>> decide([], goal).origin
    'sampled'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lradvisor.search._fidelity import Fidelity, rung_steps
from lradvisor.search._rungs import INTERRUPTED, Planned, Record, next_runs

__all__ = ["DONE", "WAIT", "Goal", "counts", "decide", "spent_steps"]

WAIT = "wait"
DONE = "done"
ACTIVE = ("RUNNING", "WAITING")


@dataclass(frozen=True)
class Goal:
    """What the study asked for, shared by all its workers.

    Attributes:
        n_trials: first-rung trials in the whole study.
        fidelity: the rungs (already fitted to the budget).
        full_steps: the full run's length.
        direction: ``minimize`` or ``maximize``.
        seed: the seed of first-rung runs (finalists use it and the next ones).
        budget: cap on the whole study's compute, in full-run equivalents (``None``: none).
    """

    n_trials: int
    fidelity: Fidelity
    full_steps: int
    direction: str = "minimize"
    seed: int = 0
    budget: float | None = None


def counts(record: Record) -> bool:
    """Whether ``record`` counts against the target: not a run cut off before its end."""
    return not (record.state == "FAIL" and record.error in (None, INTERRUPTED))


def spent_steps(records: Sequence[Record], goal: Goal) -> int:
    """Steps the study has used, plus the full length of every running trial."""
    out = 0
    for rec in records:
        if rec.state in ACTIVE:
            out += rung_steps(goal.fidelity.rungs[min(rec.rung, goal.fidelity.last)],
                              goal.full_steps)
        else:
            out += rec.steps_used
    return out


def affordable(records: Sequence[Record], rung: int, goal: Goal) -> bool:
    """Whether a run at ``rung`` fits the budget, keeping what later rungs need."""
    if goal.budget is None:
        return True
    fid = goal.fidelity
    steps = [rung_steps(r, goal.full_steps) for r in fid.rungs]
    reserve = 0.0
    for later in range(rung + 1, fid.last + 1):
        runs = fid.finalists * (fid.seeds if later == fid.last else 1)
        if later != fid.last:
            runs += len(fid.lr_factors)
        reserve += runs * steps[later]
    limit = goal.budget * goal.full_steps - reserve
    return spent_steps(records, goal) + steps[rung] <= limit + 1e-9


def decide(
    records: Sequence[Record],
    goal: Goal,
    rules: Sequence[Planned] = (),
) -> Planned | str:
    """The next run for a worker, or :data:`WAIT` / :data:`DONE`.

    Args:
        records: every trial of the study, running and waiting ones included.
        goal: what the study asked for.
        rules: the rules' first-rung picks not yet in the study, best first.
    """
    first = sum(1 for r in records if r.rung == 0 and counts(r))
    if first < goal.n_trials and affordable(records, 0, goal):
        return rules[0] if rules else Planned(None, 0, goal.seed, "sampled")
    for rung in range(1, goal.fidelity.last + 1):
        if any(r.rung < rung and r.state in ACTIVE for r in records):
            return WAIT
        plans = next_runs(records, rung, goal.fidelity, goal.direction, seed=goal.seed)
        if plans and affordable(records, rung, goal):
            return plans[0]
    if any(r.state in ACTIVE for r in records):
        return WAIT
    return DONE


def budget_left(records: Sequence[Record], goal: Goal) -> float:
    """Full-run equivalents left in the study's budget (``inf`` without one)."""
    if goal.budget is None:
        return math.inf
    return goal.budget - spent_steps(records, goal) / goal.full_steps
