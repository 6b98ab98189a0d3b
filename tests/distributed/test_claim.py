"""decide(): what a worker runs next, as a decision table over trial records (no database)."""

from __future__ import annotations

import pytest

from lradvisor.schedules import ScheduleSpec
from lradvisor.search import Fidelity
from lradvisor.search._claim import DONE, WAIT, Goal, counts, decide, spent_steps
from lradvisor.search._rungs import INTERRUPTED, Planned, Record

FID = Fidelity(rungs=(0.1, 1.0))
GOAL = Goal(n_trials=3, fidelity=FID, full_steps=100)


def spec(lr: float) -> ScheduleSpec:
    return ScheduleSpec.from_dict({"family": "cosine", "params": {}, "peak_lr": lr})


def rec(number: int, state: str, *, rung: int = 0, lr: float = 0.1, value: float | None = 1.0,
        error: str | None = None, seed: int = 0, steps: int = 10) -> Record:
    return Record(number=number, rung=rung, spec=spec(lr), seed=seed, state=state,
                  value=value if state == "COMPLETE" else None, error=error, steps_used=steps)


def test_empty_study_starts_with_a_sampled_first_rung_trial():
    plan = decide([], GOAL)
    assert isinstance(plan, Planned)
    assert (plan.rung, plan.spec, plan.origin) == (0, None, "sampled")


def test_rules_picks_come_before_sampled_trials():
    pick = Planned(spec(0.05), 0, 0, "rules")
    assert decide([], GOAL, [pick]) is pick


def test_running_trials_count_against_the_target():
    records = [rec(0, "COMPLETE"), rec(1, "RUNNING", lr=0.2), rec(2, "RUNNING", lr=0.3)]
    assert decide(records, GOAL) == WAIT  # 3 of 3 taken, promotions must wait for them


def test_a_stale_or_interrupted_trial_does_not_count_but_a_raising_one_does():
    stale = rec(1, "FAIL", error=None)
    interrupted = rec(2, "FAIL", error=INTERRUPTED)
    raised = rec(3, "FAIL", error="ValueError: boom")
    assert not counts(stale) and not counts(interrupted) and counts(raised)
    plan = decide([rec(0, "COMPLETE"), stale, interrupted], GOAL)
    assert isinstance(plan, Planned) and plan.rung == 0
    after = decide([rec(0, "COMPLETE"), raised, rec(4, "PRUNED", lr=0.4)], GOAL)
    assert isinstance(after, Planned) and after.rung == 1  # 3 of 3 counted: promotions


def test_promotions_follow_once_the_first_rung_has_ended():
    records = [rec(0, "COMPLETE", value=1.0, lr=0.1), rec(1, "COMPLETE", value=2.0, lr=0.2),
               rec(2, "PRUNED", lr=0.3)]
    plan = decide(records, GOAL)
    assert isinstance(plan, Planned)
    assert (plan.rung, plan.spec.peak_lr, plan.origin, plan.parent) == (1, 0.1, "finalist", 0)


def test_a_promotion_taken_by_another_worker_is_not_taken_twice():
    records = [rec(0, "COMPLETE", value=1.0, lr=0.1), rec(1, "COMPLETE", value=2.0, lr=0.2),
               rec(2, "PRUNED", lr=0.3),
               rec(3, "RUNNING", rung=1, lr=0.1, seed=0)]
    plan = decide(records, GOAL)
    assert isinstance(plan, Planned) and (plan.rung, plan.spec.peak_lr, plan.seed) == (1, 0.1, 1)


def test_done_when_every_finalist_ran_and_nothing_runs():
    first = [rec(0, "COMPLETE", value=1.0, lr=0.1), rec(1, "COMPLETE", value=2.0, lr=0.2),
             rec(2, "PRUNED", lr=0.3)]
    finals = [rec(3 + i, "COMPLETE", rung=1, lr=lr, seed=s, steps=100)
              for i, (lr, s) in enumerate([(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)])]
    assert decide(first + finals, GOAL) == DONE
    assert decide(first + finals[:3] + [rec(6, "RUNNING", rung=1, lr=0.2, seed=1)], GOAL) == WAIT


def test_the_budget_counts_running_trials_at_their_full_length():
    goal = Goal(n_trials=10, fidelity=FID, full_steps=100, budget=4.5)
    # 4 finals of 100 steps are kept back: 50 steps left for first-rung trials of 10 each
    records = [rec(i, "COMPLETE", lr=0.1 * (i + 1)) for i in range(4)]
    assert spent_steps(records, goal) == 40
    assert isinstance(decide(records, goal), Planned)
    running = records + [rec(4, "RUNNING", lr=0.9)]
    assert spent_steps(running, goal) == 50
    assert decide(running, goal) == WAIT


@pytest.mark.parametrize("n", [1, 2, 5])
def test_never_more_first_rung_trials_than_asked(n):
    goal = Goal(n_trials=n, fidelity=FID, full_steps=100)
    records: list[Record] = []
    while True:
        plan = decide(records, goal)
        if not isinstance(plan, Planned) or plan.rung != 0:
            break
        records.append(rec(len(records), "RUNNING", lr=0.01 * (len(records) + 1)))
    assert len(records) == n


def _run_to_the_end(plan_next) -> list[tuple[int, str, str]]:
    """Run plans on a smooth value of the peak LR until none is left; what ran, in order."""
    import math

    records = [Record(n, 0, spec(lr), 0, "COMPLETE", (math.log10(lr) + 2.5) ** 2 + 0.1,
                      "rules" if n == 0 else "sampled", steps_used=10)
               for n, lr in enumerate((0.001, 0.0025, 0.006, 0.013, 0.03, 0.07))]
    while plans := plan_next(records):
        for plan in plans:
            lr = plan.spec.peak_lr
            value = (math.log10(lr) + 2.2 + 0.2 * plan.rung) ** 2 + 0.1 + 0.01 * plan.seed
            records.append(Record(len(records), plan.rung, plan.spec, plan.seed, "COMPLETE",
                                  value, plan.origin, plan.parent, steps_used=10))
    return [(r.rung, r.origin, r.spec.to_json()) for r in records if r.rung > 0]


def test_a_worker_taking_one_run_at_a_time_makes_the_runs_run_search_makes():
    """run_search runs a rung's LR variants as one wave; a worker takes one per decide().
    Both must run both variants (x0.5 and x2) of the middle rung's leader."""
    from lradvisor.search._rungs import next_runs

    fid = Fidelity(rungs=(0.1, 0.33, 1.0))
    goal = Goal(n_trials=6, fidelity=fid, full_steps=100)

    def worker(records):
        plan = decide(records, goal)
        assert plan != WAIT  # nothing runs in this simulation
        return [] if plan == DONE else [plan]

    def waves(records):  # run_search's loop: every plan of the lowest rung that has any
        for rung in range(1, fid.last + 1):
            if plans := next_runs(records, rung, fid, "minimize"):
                return plans
        return []

    by_worker, by_search = _run_to_the_end(worker), _run_to_the_end(waves)
    assert sorted(by_worker) == sorted(by_search)
    assert sorted(o for r, o, _ in by_worker if r == 1 and o.startswith("lr x")) == [
        "lr x0.5", "lr x2"]
