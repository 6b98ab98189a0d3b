"""A trial created but never beaten (its worker's connection died in between) is failed
and re-queued, where Optuna's ``fail_stale_trials`` would leave it running for ever."""

from __future__ import annotations

import datetime

import optuna
import sqlalchemy
from optuna.trial import TrialState

from lradvisor.search._shared import open_shared_storage
from lradvisor.search._worker import fail_beatless_trials


def _backdate(storage, trial_id: int, seconds: float) -> None:
    start = datetime.datetime.now() - datetime.timedelta(seconds=seconds)
    with storage.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE trials SET datetime_start = :s WHERE trial_id = :t"),
                     {"s": start, "t": trial_id})


def test_a_trial_without_heartbeat_is_failed_and_queued_again(tmp_path):
    storage = open_shared_storage(f"sqlite:///{tmp_path}/beat.db", heartbeat_interval=1,
                                  grace_period=2)
    study = optuna.create_study(study_name="orphans", storage=storage)
    fresh = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    orphan = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    beating = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    storage.record_heartbeat(beating._trial_id)  # Optuna's own stale check owns this one
    for trial in (orphan, beating):
        _backdate(storage, trial._trial_id, 60)

    failed = fail_beatless_trials(study, grace_period=2)

    assert failed == [orphan._trial_id]
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[orphan.number] == TrialState.FAIL
    assert states[fresh.number] == TrialState.RUNNING  # too young to judge
    assert states[beating.number] == TrialState.RUNNING
    retried = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    assert len(retried) == 1 and retried[0].params == orphan.params
    assert fail_beatless_trials(study, grace_period=2) == []  # once only
