"""``result_of``: what ``search --jobs N`` reports as this call's trials and steps."""

from __future__ import annotations

import optuna
import pytest

from lradvisor.search._jobs import result_of


def _study_with_trials(workers: list[str]) -> optuna.Study:
    """A study of completed trials of 80 steps each, one per name in ``workers``."""
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.set_user_attr("full_steps", 800)
    for i, worker in enumerate(workers):
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=1.0 - i / 100,
            user_attrs={"rung": 0, "steps_used": 80, "worker": worker}))
    return study


@pytest.mark.parametrize(("ran_by", "run", "steps"), [
    (set(), 0, 0),                     # a resume whose workers found nothing to do
    ({"vm:2"}, 2, 160),                # this call's worker ran the last two
    ({"vm:2", "vm:3"}, 3, 240),
])
def test_trials_and_steps_run_are_this_calls_workers_not_the_studys(ran_by, run, steps):
    study = _study_with_trials(["vm:1", "vm:1", "vm:1", "vm:2", "vm:2", "vm:3"])
    result = result_of(study, ran_by=ran_by)
    assert (result.trials_run, result.steps_used) == (run, steps)
    assert (len(result.records), result.study_steps) == (6, 480)
