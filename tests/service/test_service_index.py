"""The study index (``GET /v1/studies``) and the stale-trial sweep (``reap_all``) read no
trial they do not need: the index in a fixed number of queries, the sweep only the
studies with running remote trials. What they answer is what they answered when they
read every trial of every study through Optuna's study summaries. Real SQLite files,
PostgreSQL and Optuna's in-memory storage, in-process (statements counted), and the
index over real HTTP."""

from __future__ import annotations

import json

import optuna
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from lradvisor.rules import TaskProfile
from lradvisor.service._reaper import reap_all
from lradvisor.service._studies import create_study, list_view
from lradvisor.service._trials import LAST_REPORT, REMOTE, RemoteTrials
from lradvisor.storage import get_study, open_storage
from tests.distributed.conftest import (  # noqa: F401 (fixtures)
    fresh_pg_url,
    pg,
    pg_database,
    storage_of_kind,
)

SPEC = json.dumps({"family": "cosine", "params": {}, "peak_lr": 0.1})
STATES = optuna.trial.TrialState
NOW = 1_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return fresh_pg_url(request.getfixturevalue("pg"), request.getfixturevalue("pg_database"))


def _expected(storage, prefix=""):
    """The index as it was computed: from Optuna's summaries, every trial read."""
    out = []
    for s in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if s.study_name.startswith(prefix):
            out.append({
                "name": s.study_name, "n_trials": s.n_trials,
                "direction": "/".join(d.name.lower() for d in s.directions),
                "full_steps": s.user_attrs.get("full_steps"),
                "task": (s.user_attrs.get("profile") or {}).get("task"),
                "created": s.datetime_start.isoformat() if s.datetime_start else None})
    return sorted(out, key=lambda e: e["name"])


def _fill(storage, prefix="", trials=24, several=True):
    """Ours (many trials in every state, one running, one waiting), plain Optuna's, one
    with no trial, one with a waiting trial only, one of two objectives (``several``)."""
    ours = get_study(storage, f"{prefix}ours")
    ours.set_user_attr("full_steps", 400)
    ours.set_user_attr("profile", {"task": "finetune", "total_steps": 400})
    states = (STATES.COMPLETE, STATES.PRUNED, STATES.FAIL)
    ours.add_trials([optuna.trial.create_trial(
        state=states[i % 3], value=float(i) if i % 3 == 0 else None,
        intermediate_values={10: 1.0, 20: 0.5},
        user_attrs={"spec": SPEC, "steps_used": 20}) for i in range(trials)])
    ours.ask()
    ours.enqueue_trial({})
    optuna.create_study(study_name=f"{prefix}plain", storage=storage,
                        direction="maximize").optimize(lambda t: t.suggest_float("x", 0, 1),
                                                       n_trials=3)
    get_study(storage, f"{prefix}empty").set_user_attr("profile", {})
    get_study(storage, f"{prefix}waiting").enqueue_trial({})
    if not several:
        return
    two = optuna.create_study(study_name=f"{prefix}two", storage=storage,
                              directions=["minimize", "maximize"])
    two.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "memory"])
def test_the_index_is_what_optuna_s_summaries_give(kind, tmp_path, request):
    """Name, direction, trial count (every state), run length, task and ``created`` (the
    earliest trial start: none for a study whose only trial waits). A study of two
    objectives was a RuntimeError from Optuna's summary (a 500); now its directions."""
    storage = storage_of_kind(kind, tmp_path, request)
    _fill(storage)
    index = list_view(RemoteTrials(storage))
    assert index == _expected(storage)
    shown = {e["name"]: e for e in index}
    assert shown["ours"]["n_trials"] == 26 and shown["ours"]["task"] == "finetune"
    assert shown["two"]["direction"] == "minimize/maximize"
    assert shown["waiting"]["created"] is None and shown["empty"]["created"] is None
    assert shown["plain"]["created"] is not None


def _statements(call):
    sent = []

    def count(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        answer = call()
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return sent, answer


def test_the_index_sends_as_many_queries_for_14_studies_as_for_4(url):
    """It read every trial of every study (Optuna's summaries): 27 statements for these
    4 studies and 97 for 14, on SQLite and PostgreSQL alike; 4.9 s for 100 studies of 20
    trials on SQLite. Now 6 (``study_overviews``), 10 ms."""
    storage = open_storage(url)
    trials = RemoteTrials(storage)
    _fill(storage, "a-", trials=6, several=False)  # the old way's error aside
    few, index = _statements(lambda: list_view(trials))
    assert len(index) == 4
    _idle(storage, [f"b-{i}" for i in range(10)])
    many, index = _statements(lambda: list_view(trials))
    assert index == _expected(storage)
    assert len(many) == len(few), (len(few), len(many))
    storage.engine.dispose()


class _Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


def _running(storage, name, **attrs):
    """A plain study with one running trial of ``attrs`` and two finished ones."""
    study = get_study(storage, name)
    study.add_trials([optuna.trial.create_trial(value=1.0, user_attrs={"spec": SPEC}),
                      optuna.trial.create_trial(state=STATES.FAIL)])
    trial = study.ask()
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _idle(storage, names):
    for name in names:
        optuna.create_study(study_name=name, storage=storage).add_trial(
            optuna.trial.create_trial(value=1.0, user_attrs={"spec": SPEC}))


def test_the_sweep_reads_only_studies_with_running_remote_trials(url):
    """It fails the silent remote trial and leaves the others as they were: a remote
    trial that reported lately, a silent one not marked remote (a local search's) or
    marked False, idle studies. The idle studies cost it nothing: it read every trial of
    every study, 110 statements with 3 idle studies and 180 with 10 (SQLite and
    PostgreSQL); now 41 with either, all for the two studies with remote trials."""
    storage = open_storage(url)
    clock = _Clock()
    trials = RemoteTrials(storage, trial_timeout=60, clock=clock)
    create_study(trials, "stale", TaskProfile(task="scratch", total_steps=1000),
                 direction="minimize", families=None, sampler="random", rules_files=())
    asked = trials.ask("stale")["trial"]
    _running(storage, "fresh", **{REMOTE: True, LAST_REPORT: NOW + 30})
    _running(storage, "local", **{LAST_REPORT: NOW - 600})
    _running(storage, "unmarked", **{REMOTE: False, LAST_REPORT: NOW - 600})
    _idle(storage, [f"idle-{i}" for i in range(3)])
    assert reap_all(trials) == {}  # loads the studies it reaps (each later sweep reuses them)
    few, reaped = _statements(lambda: reap_all(trials))
    assert reaped == {}
    _idle(storage, [f"idle-{i}" for i in range(3, 10)])
    many, reaped = _statements(lambda: reap_all(trials))
    assert reaped == {} and len(many) == len(few), (len(few), len(many))
    clock.now = NOW + 61  # 'stale' silent for 61 s, 'fresh' for 31
    assert reap_all(trials) == {"stale": [asked]}
    assert reap_all(trials) == {}
    study = optuna.load_study(study_name="stale", storage=storage)
    assert study.trials[asked].state == STATES.FAIL
    assert [t.user_attrs.get("requeued_from") for t in study.trials].count(asked) == 1
    running = {name: [t.state.name for t in optuna.load_study(study_name=name,
                                                              storage=storage).trials]
               for name in ("fresh", "local", "unmarked")}
    assert running == dict.fromkeys(running, ["COMPLETE", "FAIL", "RUNNING"])
    storage.engine.dispose()


def test_the_index_over_http(server):
    """``GET /v1/studies`` of the session's service, with a plain and a two-objective
    study among its own (a 500 before)."""
    storage = open_storage(server.storage)
    try:
        _fill(storage, "index-")
        with server.client() as http:
            answer = http.get("/v1/studies")
        assert answer.status_code == 200, answer.text
        mine = [e for e in answer.json() if e["name"].startswith("index-")]
        assert mine == _expected(storage, "index-")
        assert [e["name"] for e in answer.json()] == sorted(e["name"] for e in answer.json())
    finally:
        for name in optuna.get_all_study_names(storage):
            if name.startswith("index-"):
                optuna.delete_study(study_name=name, storage=storage)
        storage.engine.dispose()
