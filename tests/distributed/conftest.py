"""Fixtures for the distributed tests: a fresh PostgreSQL database, worker processes.

PostgreSQL is the one at 127.0.0.1:5432 (trust authentication); the session creates
a database of its own and drops it at the end, and each test gets a fresh schema in
it (to Optuna, a brand-new database). Without a server the PostgreSQL tests skip
with the reason (``scripts/services.sh`` starts one where it is installed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TRAINABLE = f"{HERE / 'quick_trainable.py'}:train"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PROFILE = {"task": "scratch", "total_steps": 90}


def pg_user() -> str | None:
    """A user the server lets in (``postgres``, else ``root``); ``None``: no server."""
    import psycopg

    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="postgres",
                                 connect_timeout=3):
                return user
        except psycopg.OperationalError:
            continue
    return None


def _admin(user: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(sql)


def make_pg_database(user: str) -> str:
    """A new empty database; returns its name."""
    name = f"lradvisor_test_{uuid.uuid4().hex[:12]}"
    _admin(user, f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(user: str, name: str) -> None:
    _admin(user, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg() -> str:
    """The PostgreSQL user to connect as; skips the test when no server answers."""
    user = pg_user()
    if user is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_HOST}:{PG_PORT} "
                    "(scripts/services.sh starts it where installed)")
    return user


@pytest.fixture(scope="session")
def pg_database(pg: str) -> Iterator[str]:
    """A database of this test session's own, dropped at its end."""
    name = make_pg_database(pg)
    try:
        yield name
    finally:
        drop_pg_database(pg, name)


def fresh_pg_url(user: str, database: str) -> str:
    """The URL of a new, empty schema in ``database``: a brand-new study database to
    Optuna (creating a schema is instant; a whole database takes seconds to drop)."""
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=database,
                         autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return (f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{database}"
            f"?options=-csearch_path%3D{schema}")


@pytest.fixture
def pg_url(pg: str, pg_database: str) -> str:
    """The URL of a fresh PostgreSQL study database (a new schema of the session's)."""
    return fresh_pg_url(pg, pg_database)


def storage_of_kind(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A fresh study storage: ``"memory"`` (Optuna's in-memory), ``"sqlite"`` (a file in
    ``tmp_path``) or ``"postgresql"`` (a new schema; skips without a server)."""
    import optuna

    from lradvisor.storage import open_storage

    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    if kind == "sqlite":
        return open_storage(f"sqlite:///{tmp_path}/s.db")
    return open_storage(fresh_pg_url(request.getfixturevalue("pg"),
                                     request.getfixturevalue("pg_database")))


def url_through(url: str, port: int) -> str:
    """``url`` with its port replaced (to go through a proxy)."""
    return url.replace(f"@{PG_HOST}:{PG_PORT}/", f"@{PG_HOST}:{port}/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_workers(count: int, study: str, url: str, *, args: Sequence[str] = (),
                  sleep: float = 0.15, cwd: Path | None = None) -> list[subprocess.Popen]:
    """``count`` real ``python -m lradvisor worker`` processes with short heartbeats."""
    env = {**os.environ, "LRADVISOR_TEST_SLEEP": str(sleep), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "lradvisor", "worker", "--study", study, "--storage", url,
           "--device", "cpu", "--heartbeat", "1", "--grace", "3", *args]
    return [subprocess.Popen(cmd, cwd=cwd or ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(count)]


def wait_all(procs: Sequence[subprocess.Popen], timeout: float = 90) -> list[tuple[int, str]]:
    """Wait for every process; returns (exit code, stderr) of each."""
    out = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            err += "\n[killed: timeout]"
        out.append((proc.returncode, err))
    return out


def create(url: str, name: str, n_trials: int, **kwargs: object) -> object:
    """Create a worker study on the quick trainable."""
    from lradvisor.search._jobs import create_search_study

    return create_search_study(TRAINABLE, profile=PROFILE, n_trials=n_trials, storage=url,
                               study_name=name, **kwargs)


def trials_of(url: str, name: str) -> list:
    """The study's frozen trials, read through a fresh connection."""
    from lradvisor.storage import load_study, open_storage

    storage = open_storage(url)
    try:
        return load_study(storage, name).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()
