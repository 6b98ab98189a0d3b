"""The study database: SQLite files, bad URLs, direction checks, PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest

from lradvisor.errors import StudyError
from lradvisor.storage import (
    DEFAULT_STORAGE,
    create_trial,
    delete_study,
    get_study,
    list_studies,
    load_study,
    open_storage,
    resolve_url,
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


def _postgres_admin():
    psycopg = pytest.importorskip("psycopg")
    user = os.environ.get("PGUSER", "postgres")
    try:
        conn = psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres",
                               autocommit=True, connect_timeout=3)
    except Exception as err:  # no server, or no access: skip, saying why
        pytest.skip(f"no PostgreSQL server answers at 127.0.0.1:5432 as {user!r}: {err}")
    return conn, user


@pytest.mark.postgres
def test_postgresql_through_the_same_option():
    conn, user = _postgres_admin()
    name = f"lradvisor_test_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
        storage = open_storage(url)
        study = get_study(storage, "pg", direction="minimize")
        study.set_user_attr("profile", {"task": "scratch"})
        assert load_study(open_storage(url), "pg").user_attrs["profile"] == {"task": "scratch"}
        storage.engine.dispose()
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


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
    stored = optuna.load_study(study_name="created", storage=storage).trials
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
    _create_trial_behaves_as_enqueue_then_ask(storage)


@pytest.mark.postgres
def test_create_trial_on_postgresql():
    conn, user = _postgres_admin()
    name = f"lradvisor_test_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        storage = open_storage(f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}")
        _create_trial_behaves_as_enqueue_then_ask(storage)
        storage.engine.dispose()
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


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
    reads = len(commits)
    commits.clear()
    study.enqueue_trial({"x": 1.0}, user_attrs={"rung": 0, "seed": 3, "origin": "sampled"})
    study.ask()
    assert len(commits) > reads  # what it replaces: the queue, then popping it
