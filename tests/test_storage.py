"""The study database: SQLite files, bad URLs, direction checks, PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from lradvisor.errors import StudyError
from lradvisor.storage import (
    DEFAULT_STORAGE,
    buffered_params,
    create_trial,
    delete_study,
    finish_trial,
    get_study,
    list_studies,
    load_study,
    open_storage,
    require_storage,
    resolve_url,
    study_identity,
    write_trial_batch,
)
from tests.distributed.conftest import (  # noqa: F401 (fixtures)
    fresh_pg_url,
    pg,
    pg_database,
    storage_of_kind,
)


def test_default_url_and_env(monkeypatch):
    monkeypatch.delenv("LRADVISOR_STORAGE", raising=False)
    assert resolve_url() == DEFAULT_STORAGE == "sqlite:///studies/lradvisor.db"
    monkeypatch.setenv("LRADVISOR_STORAGE", "sqlite:///x.db")
    assert resolve_url() == "sqlite:///x.db"
    assert resolve_url("sqlite:///y.db") == "sqlite:///y.db"


def test_relative_sqlite_creates_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = open_storage("sqlite:///studies/lradvisor.db")
    get_study(storage, "a")
    assert (tmp_path / "studies" / "lradvisor.db").stat().st_size > 0


def test_study_resumes_and_direction_is_checked(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = get_study(open_storage(url), "s", direction="maximize")
    study.add_trial(__import__("optuna").trial.create_trial(value=1.0))
    again = get_study(open_storage(url), "s", direction="maximize")
    assert len(again.trials) == 1
    with pytest.raises(StudyError, match="exists with direction maximize, but minimize"):
        get_study(open_storage(url), "s", direction="minimize")
    with pytest.raises(StudyError, match="direction must be minimize or maximize"):
        get_study(open_storage(url), "t", direction="up")


def test_list_load_delete(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    get_study(storage, "b")
    get_study(storage, "a")
    assert [s.study_name for s in list_studies(storage)] == ["a", "b"]
    delete_study(storage, "a")
    with pytest.raises(StudyError, match="no study named 'a' in this storage; stored: b"):
        load_study(storage, "a")


def test_a_study_made_again_has_another_identity_with_the_same_id(tmp_path):
    """SQLite hands the freed id of the last study to the next one; the uid differs."""
    import optuna

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    get_study(storage, "a")
    first = study_identity(storage, "a")
    delete_study(storage, "a")
    assert study_identity(storage, "a") is None
    get_study(storage, "a")
    again = study_identity(storage, "a")
    assert first is not None and again is not None
    assert again[0] == first[0] and again[1] != first[1]
    plain = optuna.create_study(study_name="plain", storage=storage)  # made without lradvisor
    assert study_identity(storage, "plain") == (plain._study_id, None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("nosuchdialect://x/y", "cannot open study storage"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open study storage"),
    ],
)
def test_bad_storage_is_one_clear_error(url, message):
    with pytest.raises(StudyError, match=message) as err:
        open_storage(url)
    assert "\n" not in str(err.value)


def test_opening_to_read_refuses_a_missing_sqlite_file_and_creates_nothing(tmp_path):
    database = tmp_path / "typo" / "x.db"
    url = f"sqlite:///{database}"
    for check in (lambda: open_storage(url, create=False), lambda: require_storage(url)):
        with pytest.raises(StudyError) as err:
            check()
        assert str(err.value).startswith(
            f"cannot open study storage {url}: no database file {str(database)!r}")
        assert list(tmp_path.iterdir()) == []  # no folder, database or lock file
    require_storage("sqlite://")  # in memory: nothing to find
    require_storage("postgresql+psycopg://nobody@127.0.0.1:1/none")  # open_storage's to say
    get_study(open_storage(url), "s")  # a search creates it; then reading finds it
    assert [s.study_name for s in list_studies(open_storage(url, create=False))] == ["s"]


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("notes\n")
    url = f"sqlite:///{text}"
    for create in (True, False):
        with pytest.raises(StudyError) as err:
            open_storage(url, create=create)
        assert str(err.value) == f"cannot open study storage {url}: file is not a database"
    assert text.read_text() == "notes\n"


def test_an_sqlite_folder_that_cannot_be_made_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    url = f"sqlite:///{blocker}/sub/s.db"
    with pytest.raises(StudyError) as err:
        open_storage(url)
    assert str(err.value).startswith(f"cannot open study storage {url}: cannot create folder "
                                     f"{str(blocker / 'sub')!r}: ")
    assert "\n" not in str(err.value)


def _postgres_admin():
    psycopg = pytest.importorskip("psycopg")
    user = os.environ.get("PGUSER", "postgres")
    try:
        conn = psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres",
                               autocommit=True, connect_timeout=3)
    except Exception as err:  # no server, or no access: skip, saying why
        pytest.skip(f"no PostgreSQL server answers at 127.0.0.1:5432 as {user!r}: {err}")
    return conn, user


@contextlib.contextmanager
def _postgres_database():
    """The URL of a new PostgreSQL database, dropped afterwards."""
    conn, user = _postgres_admin()
    name = f"lradvisor_test_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.mark.postgres
def test_postgresql_through_the_same_option():
    with _postgres_database() as url:
        storage = open_storage(url)
        study = get_study(storage, "pg", direction="minimize")
        study.set_user_attr("profile", {"task": "scratch"})
        assert load_study(open_storage(url), "pg").user_attrs["profile"] == {"task": "scratch"}
        storage.engine.dispose()


def test_opening_retries_a_lost_schema_creation_race_and_nothing_else():
    import sqlite3

    import sqlalchemy.exc

    from lradvisor.search._lock import _retry_race

    calls = []

    def raced():  # what Optuna raises when another process created the table first
        calls.append(1)
        if len(calls) == 1:
            orig = sqlite3.OperationalError("table studies already exists")
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, orig)
        return "opened"

    assert _retry_race(raced) == "opened" and len(calls) == 2
    calls.clear()

    def broken():
        calls.append(1)
        orig = sqlite3.OperationalError("disk I/O error")
        raise sqlalchemy.exc.OperationalError("SELECT", {}, orig)

    with pytest.raises(sqlalchemy.exc.OperationalError, match="disk I/O"):
        _retry_race(broken)
    assert len(calls) == 1  # not retried


def _create_trial_behaves_as_enqueue_then_ask(storage):
    """Trials made Optuna's way, then with create_trial; returns them as stored."""
    import optuna

    study = optuna.create_study(storage=storage, study_name="created")
    first = study.ask()  # a trial made Optuna's way first: numbers go on from it
    study.tell(first, 1.0)
    trial = create_trial(study, {"rung": 1, "spec": {"family": "step"}}, {"x": 0.25})
    assert trial.number == 1
    assert trial.suggest_float("x", 0.0, 1.0) == 0.25  # the fixed value comes back
    assert trial.suggest_float("y", 0.0, 1.0) is not None  # the others are sampled
    study.tell(trial, 0.5)
    plain = create_trial(study, {"rung": 0})
    assert plain.number == 2
    return optuna.load_study(study_name="created", storage=storage).trials


def _check_created(stored):
    assert [t.state.name for t in stored] == ["COMPLETE", "COMPLETE", "RUNNING"]
    assert stored[1].user_attrs == {"rung": 1, "spec": {"family": "step"}}
    assert stored[1].params["x"] == 0.25 and "y" in stored[1].params
    assert stored[2].user_attrs == {"rung": 0}
    assert "fixed_params" not in stored[2].system_attrs


@pytest.mark.parametrize("where", ["sqlite-file", "optuna-in-memory"])
def test_create_trial_is_a_running_trial_with_its_attributes_and_fixed_values(
        where, tmp_path):
    import optuna

    storage = (open_storage(f"sqlite:///{tmp_path}/c.db") if where == "sqlite-file"
               else optuna.storages.InMemoryStorage())
    stored = _create_trial_behaves_as_enqueue_then_ask(storage)
    assert [t.number for t in stored] == [0, 1, 2]  # numbers go on from Optuna's own
    _check_created(stored)


@pytest.mark.postgres
def test_create_and_finish_trial_on_postgresql():
    with _postgres_database() as url:
        storage = open_storage(url)
        _check_created(_create_trial_behaves_as_enqueue_then_ask(storage))
        (ours, ours_stored), (_, theirs_stored) = _finished_both_ways(
            storage, "PRUNED", None, {0: 1.0, 4: 0.5})
        assert _same(ours_stored, theirs_stored) and _same(ours, ours_stored)
        storage.engine.dispose()


def test_create_trial_commits_less_than_enqueue_then_ask(tmp_path):
    import optuna
    import sqlalchemy

    storage = open_storage(f"sqlite:///{tmp_path}/c.db")
    study = optuna.create_study(storage=storage)
    commits = []
    sqlalchemy.event.listen(storage.engine, "commit", lambda _conn: commits.append(1))
    create_trial(study, {"rung": 0, "seed": 3, "origin": "sampled"}, {"x": 1.0})
    # the creation, and Optuna's Trial reading itself back (no write)
    assert len(commits) <= 2
    ours = len(commits)
    commits.clear()
    study.enqueue_trial({"x": 1.0}, user_attrs={"rung": 0, "seed": 3, "origin": "sampled"})
    study.ask()
    assert len(commits) > ours  # what it replaces: the queue, then popping it


def _finished_both_ways(storage, state, value, reports):
    """The same trial ended by finish_trial and by write_trial_batch + study.tell."""
    import copy

    import optuna

    out = []
    for way in ("ours", "optuna"):
        study = optuna.create_study(storage=storage, study_name=f"{way}-{state}-{value}")
        trial = create_trial(study, {"rung": 0}, {"x": 0.5})
        trial.suggest_float("x", 0.0, 1.0)
        running = copy.copy(trial._cached_frozen_trial)
        running.intermediate_values = dict(reports)
        running.user_attrs = {**running.user_attrs, "steps_used": 7}
        if way == "ours":
            returned = finish_trial(study, trial, state, value, running, list(reports.items()),
                                    {"steps_used": 7})
        else:
            write_trial_batch(study._storage, trial._trial_id, list(reports.items()),
                              {"steps_used": 7})
            returned = study.tell(trial, value, state=getattr(optuna.trial.TrialState, state))
        stored = optuna.load_study(study_name=study.study_name, storage=storage).trials[0]
        out.append((returned, stored))
    return out


def _same(a, b):
    fields = ("number", "state", "values", "params", "user_attrs", "intermediate_values")
    return all(getattr(a, f) == getattr(b, f) or (f == "intermediate_values" and
               str(getattr(a, f)) == str(getattr(b, f))) for f in fields)


@pytest.mark.parametrize(("state", "value", "reports"), [
    ("COMPLETE", 0.25, {0: 1.0, 5: 0.5}),
    ("PRUNED", None, {0: 1.0, 5: 0.5, 3: 0.7}),  # value: the report at the last step
    ("PRUNED", None, {0: 1.0, 5: float("nan")}),  # a NaN last report: no value
    ("PRUNED", None, {0: 1.0, 5: float("inf")}),  # inf is a value (Optuna keeps it)
    ("PRUNED", None, {}),
    ("FAIL", None, {0: 1.0}),
])
def test_finish_trial_ends_a_trial_as_write_trial_batch_then_tell_do(tmp_path, state, value,
                                                                     reports):
    storage = open_storage(f"sqlite:///{tmp_path}/f.db")
    (ours, ours_stored), (theirs, theirs_stored) = _finished_both_ways(storage, state, value,
                                                                       reports)
    assert _same(ours_stored, theirs_stored)
    assert _same(ours, theirs)  # what it returns, as tell's read-back
    assert _same(ours, ours_stored)
    assert ours.datetime_complete is not None


def test_finish_trial_refuses_a_trial_ended_meanwhile(tmp_path):
    import copy

    import optuna

    storage = open_storage(f"sqlite:///{tmp_path}/f.db")
    study = optuna.create_study(storage=storage)
    trial = create_trial(study, {"rung": 0})
    running = copy.copy(trial._cached_frozen_trial)
    storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # stale
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        finish_trial(study, trial, "COMPLETE", 1.0, running, [(1, 0.5)], {"steps_used": 1})
    stored = study.trials[0]
    assert stored.state.name == "FAIL" and stored.intermediate_values == {}
    assert "steps_used" not in stored.user_attrs  # nothing written


def test_finish_trial_refuses_nan_as_a_completed_value_as_tell_does(tmp_path):
    import copy

    import optuna

    storage = open_storage(f"sqlite:///{tmp_path}/f.db")
    study = optuna.create_study(storage=storage)
    trial = create_trial(study, {"rung": 0})
    with pytest.raises(ValueError, match="not acceptable"):
        finish_trial(study, trial, "COMPLETE", float("nan"), copy.copy(trial._cached_frozen_trial))
    assert study.trials[0].state.name == "RUNNING"  # nothing written


@pytest.mark.parametrize("where", ["sqlite-file", "optuna-in-memory"])
def test_buffered_params_store_what_suggest_stores(where, tmp_path):
    import optuna
    import sqlalchemy

    def storage():
        if where == "sqlite-file":
            return open_storage(f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db")
        return optuna.storages.InMemoryStorage()

    stored = []
    for buffered in (True, False):
        study = optuna.create_study(storage=storage(), sampler=optuna.samplers.RandomSampler(3))
        trial = create_trial(study, {"rung": 0}, {"lr": 0.01})
        commits: list[int] = []
        engine = getattr(getattr(study._storage, "_backend", None), "engine", None)
        if engine is not None:
            sqlalchemy.event.listen(engine, "commit", commits.append)
        block = buffered_params(trial) if buffered else contextlib.nullcontext(None)
        with block as batch:
            values = (trial.suggest_categorical("family", ["cosine", "step"]),
                      trial.suggest_float("lr", 1e-4, 1.0, log=True),
                      trial.suggest_int("epochs", 1, 9))
            assert trial.params == dict(zip(("family", "lr", "epochs"), values, strict=True))
            if buffered:
                if engine is not None:
                    assert commits == []  # nothing written inside the block
                batch.set_user_attr("spec", "s")
            else:
                trial.set_user_attr("spec", "s")
        if buffered and engine is not None:
            assert len(commits) == 1  # the values and the attribute in one commit
        assert trial.user_attrs["spec"] == "s"
        frozen = optuna.load_study(study_name=study.study_name, storage=study._storage).trials[0]
        stored.append((frozen.params, frozen.distributions, frozen.user_attrs))
    assert stored[0] == stored[1]


def test_buffered_params_refuse_a_distribution_the_study_does_not_fit(tmp_path):
    import optuna

    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/b.db"))
    first = study.ask()
    first.suggest_categorical("family", ["cosine", "step"])
    study.tell(first, 1.0)
    trial = create_trial(study, {"rung": 0})
    with (pytest.raises(ValueError, match="dynamic value space"),  # as suggest would say
          buffered_params(trial)):
        trial.suggest_categorical("family", ["cosine", "step", "wsd"])
    assert "family" not in study.trials[1].params  # nothing of the block was written


def test_buffered_params_refuse_a_distribution_another_process_stored(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path}/p.db"
    other = optuna.create_study(storage=open_storage(url), study_name="p")
    first = other.ask()  # another process's trial: this process has not seen its values
    first.suggest_categorical("family", ["cosine", "step"])
    other.tell(first, 1.0)
    study = optuna.load_study(study_name="p", storage=open_storage(url))
    trial = create_trial(study, {"rung": 0})
    with (pytest.raises(ValueError, match="dynamic value space"),
          buffered_params(trial)):
        trial.suggest_categorical("family", ["cosine", "step", "wsd"])
    assert "family" not in study.trials[1].params


def test_buffered_params_of_a_trial_ended_meanwhile_are_refused(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path}/e.db"
    study = optuna.create_study(storage=open_storage(url), study_name="e")
    trial = create_trial(study, {"rung": 0})
    elsewhere = open_storage(url)  # e.g. a stale trial failed by another worker
    elsewhere.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    with (pytest.raises(optuna.exceptions.UpdateFinishedTrialError),
          buffered_params(trial)):
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
    stored = optuna.load_study(study_name="e", storage=open_storage(url)).trials[0]
    assert stored.params == {} and stored.state.name == "FAIL"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "memory"])
def test_study_overviews_count_what_each_loaded_study_holds(kind, tmp_path, request):
    """What ``studies list`` shows of every study, read in a fixed number of queries (an
    in-memory storage through Optuna's calls), against each study loaded by Optuna."""
    import json
    from collections import Counter

    import optuna

    from lradvisor.storage import study_overviews

    storage = storage_of_kind(kind, tmp_path, request)
    spec = json.dumps({"family": "cosine", "params": {}, "peak_lr": 0.1})
    ours = get_study(storage, "ours")
    for key, value in {"full_steps": 40, "recommendation": {"family": "cosine"},
                       "profile": {"task": "scratch"}}.items():
        ours.set_user_attr(key, value)
    states = optuna.trial.TrialState
    ours.add_trials([optuna.trial.create_trial(
        state=state, value=1.0 if state == states.COMPLETE else None,
        user_attrs={"spec": spec, "steps_used": steps} if steps else {})
        for state, steps in ((states.COMPLETE, 20), (states.PRUNED, 5), (states.FAIL, 0))])
    ours.ask()  # left running
    pruned_only = get_study(storage, "pruned-only")  # a spec, but on no completed trial
    pruned_only.add_trial(optuna.trial.create_trial(
        state=states.PRUNED, user_attrs={"spec": spec, "steps_used": 7}))
    plain = optuna.create_study(study_name="plain", storage=storage, direction="maximize")
    plain.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    optuna.create_study(study_name="two", storage=storage, directions=["minimize", "maximize"])
    get_study(storage, "empty")

    found = study_overviews(storage, ["full_steps", "recommendation", "not-stored"])
    assert [o.name for o in found] == ["empty", "ours", "plain", "pruned-only", "two"]
    for overview in found:
        study = optuna.load_study(study_name=overview.name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        assert overview.directions == tuple(d.name.lower() for d in study.directions)
        assert overview.states == Counter(t.state.name for t in trials)
        assert overview.steps_used == sum(t.user_attrs.get("steps_used", 0) for t in trials)
        assert overview.user_attrs == {k: v for k, v in study.user_attrs.items()
                                       if k in ("full_steps", "recommendation")}
        assert overview.scheduled == any(t.state.name == "COMPLETE" and t.user_attrs.get("spec")
                                         for t in trials)
    assert found[1].states == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 1, "RUNNING": 1}
    assert found[1].steps_used == 25 and found[1].scheduled and not found[3].scheduled
    if kind != "memory":
        storage.engine.dispose()
