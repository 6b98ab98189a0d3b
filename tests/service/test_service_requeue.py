"""A remote trial that stops reporting is failed and its configuration handed out again."""

from __future__ import annotations

import time

import optuna
import pytest

from lradvisor.client import Client, ServiceError
from lradvisor.rules import TaskProfile
from lradvisor.service._studies import create_study
from lradvisor.service._trials import RemoteTrials
from lradvisor.storage import open_storage
from tests.service.conftest import TOKEN, running_server

PROFILE = {"task": "scratch", "arch": "cnn", "total_steps": 1000}


def _wait_for(predicate, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_abandoned_trial_is_failed_by_the_server_and_requeued(tmp_path):
    with running_server(tmp_path, trial_timeout=1.5, reap_interval=0.3) as server, \
            Client(server.url, token=TOKEN) as client:
        client.create_study("gone", PROFILE)
        first = client.ask("gone")
        assert first.report(0, 1.0) is False
        # The job dies here. With no ask, the server's background sweep must notice.
        _wait_for(lambda: client.study("gone")["trials"].get("FAIL") == 1)
        with pytest.raises(ServiceError) as late:
            first.report(10, 0.9)
        assert late.value.status == 409 and "abandoned" in str(late.value)
        again = client.ask("gone")  # before the rules' picks still queued
        assert again.requeued_from == first.number and again.origin == "requeued"
        assert again.spec == first.spec and again.total_steps == first.total_steps
        assert again.complete(0.5) == "COMPLETE"
    study = optuna.load_study(study_name="gone", storage=server.storage)
    failed, done = study.trials[first.number], study.trials[again.number]
    assert failed.state == optuna.trial.TrialState.FAIL
    assert failed.user_attrs["error"].startswith("abandoned")
    assert done.params == failed.params
    assert done.user_attrs["requeues"] == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _remote(tmp_path, max_requeues: int = 2) -> tuple[RemoteTrials, _Clock]:
    clock = _Clock()
    trials = RemoteTrials(open_storage(f"sqlite:///{tmp_path / 'lazy.db'}"), trial_timeout=60,
                          max_requeues=max_requeues, clock=clock)
    create_study(trials, "lazy", TaskProfile(**PROFILE), direction="minimize", families=None,
                 sampler="random", rules_files=())
    return trials, clock


def test_an_ask_reaps_first_and_gets_the_abandoned_configuration(tmp_path):
    trials, clock = _remote(tmp_path)
    first = trials.ask("lazy")
    clock.now += 30
    second = trials.ask("lazy")  # 30 s of silence: not abandoned yet
    assert second["requeued_from"] is None
    trials.report("lazy", second["trial"], 0, 1.0)
    clock.now += 45  # first: 75 s silent; second: 45 s since its report
    third = trials.ask("lazy")
    assert third["requeued_from"] == first["trial"]
    assert third["spec"] == first["spec"]
    states = [t.state.name for t in trials.handle("lazy").study.get_trials()]
    # 0, 1: the rules' first picks; 2: the third, still queued; 3: 0 again, asked first
    assert states == ["FAIL", "RUNNING", "WAITING", "RUNNING"]


def test_a_configuration_is_requeued_at_most_max_requeues_times(tmp_path):
    trials, clock = _remote(tmp_path, max_requeues=1)
    first = trials.ask("lazy")
    clock.now += 61
    again = trials.ask("lazy")
    assert again["requeued_from"] == first["trial"]
    clock.now += 61
    fresh = trials.ask("lazy")  # abandoned twice: not handed out a third time
    assert fresh["requeued_from"] is None
    states = [t.state.name for t in trials.handle("lazy").study.get_trials()]
    # 3 was 0 again and was abandoned too; fresh is the rules' second pick, 1
    assert states == ["FAIL", "RUNNING", "WAITING", "FAIL"]
    assert fresh["trial"] == 1


def test_a_study_made_here_hands_out_the_rules_picks_first(tmp_path):
    from lradvisor.rules import advise

    trials, _ = _remote(tmp_path)
    expected = [r.spec.to_dict() for r in advise(TaskProfile(**PROFILE)).recommendations[:3]]
    asked = [trials.ask("lazy") for _ in range(4)]
    assert [a["spec"] for a in asked[:3]] == expected
    assert [a["origin"] for a in asked] == ["rules", "rules-alt", "rules-alt", "remote"]


def test_two_reapers_requeue_an_abandoned_trial_once(tmp_path):
    from lradvisor.service._reaper import reap_study

    trials, clock = _remote(tmp_path)
    trials.ask("lazy")
    clock.now += 61
    study = trials.handle("lazy").study
    first = reap_study(study, timeout=60, max_requeues=2, now=clock.now)
    second = reap_study(study, timeout=60, max_requeues=2, now=clock.now)
    assert (first, second) == ([0], [])
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.user_attrs.get("requeued_from") for t in waiting].count(0) == 1


def test_a_reaper_between_the_claims_writes_never_fails_the_claimed_trial(tmp_path):
    """A queued trial is claimed with a few writes; another ask's reaper (it runs outside
    the ask lock) may read the study between any two of them. It must never find the
    claimed trial remote and silent: that failed it under the asker, whose sampling then
    hit a finished trial (a 500 seen with two concurrent clients)."""
    from lradvisor.service._reaper import reap_study

    trials, clock = _remote(tmp_path)
    study = trials.handle("lazy").study
    storage = trials.storage
    reaped: list[int] = []
    inside: list[bool] = []  # the reaper's own writes do not reap again

    def reaping(write):
        def wrapped(*args, **kwargs):
            result = write(*args, **kwargs)
            if not inside:
                inside.append(True)
                try:
                    reaped.extend(reap_study(study, timeout=60, max_requeues=2,
                                             now=clock.now))
                finally:
                    inside.clear()
            return result
        return wrapped

    clock.now += 3600  # the queued picks were made an hour ago
    storage.set_trial_user_attr = reaping(storage.set_trial_user_attr)
    storage.set_trial_state_values = reaping(storage.set_trial_state_values)
    first = trials.ask("lazy")
    assert reaped == []
    assert study.trials[first["trial"]].state == optuna.trial.TrialState.RUNNING
