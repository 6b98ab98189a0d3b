"""Locks shared by every process that uses one study database.

Two things must happen once, however many workers start at the same moment:

* **creating the schema** of a brand-new database (Optuna's ``create_all`` and alembic
  stamp race: ``table studies already exists``, ``UniqueViolation ...
  alembic_version_pkc``);
* **claiming a trial**: deciding what to run next from the study's trials and writing
  the new trial, so two workers never take the same promotion or run more first-rung
  trials than the study asked for.

:class:`StorageLock` is that lock, chosen by the database: a PostgreSQL transaction
advisory lock (``pg_advisory_xact_lock``; the server frees it when the holder's
connection drops, so a worker killed with ``kill -9`` never leaves it held), or an
``flock`` on a ``<database file>.<hash>.lock`` file next to an SQLite database (the
kernel frees it when the process dies). Other databases get no lock; opening retries
instead when it loses the schema-creation race.

Example:
    >>> with StorageLock("sqlite://", "schema"):  # in-memory SQLite: nothing to lock
    ...     pass
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["StorageLock", "lock_key", "open_schema_once"]

# Seconds a lock holder may stay silent inside its transaction before PostgreSQL ends it.
_LOCK_IDLE_TIMEOUT_S = 60


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (the same in every process and machine)."""
    digest = zlib.crc32(f"lradvisor:{name}".encode()) << 32 | zlib.adler32(name.encode())
    return digest - (1 << 63)


def open_schema_once(url: str, make: Callable[[], T]) -> T:
    """``make()`` (which opens the database, creating its schema if missing), raced safely.

    The first process to take the ``schema`` lock on a new database creates the schema
    while the others wait; once it exists, they open the database side by side (an
    existing schema needs no lock, and Optuna's checks take a while per process). A
    process that does not take the lock (plain Optuna opening the same database, or a
    database with no lock) can still race the creation; losing that race (``already
    exists``, a duplicate key) is retried, since the schema is then there to open.
    """
    lock = StorageLock(url, "schema")
    if lock.kind == "none":
        return _retry_race(make)
    with lock:
        if not lock.schema_ready():
            return _retry_race(make)
    return _retry_race(make)


def _retry_race(make: Callable[[], T], attempts: int = 5) -> T:
    """``make()``, again (after a short wait) while it fails on a schema-creation race."""
    for attempt in range(1, attempts + 1):
        try:
            return make()
        except Exception as err:
            text = str(err).lower()
            raced = any(word in text for word in _RACE_WORDS)
            if not raced or attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


_RACE_WORDS = ("already exists", "duplicate key", "uniqueviolation", "unique constraint failed")


class StorageLock:
    """An exclusive lock named ``name``, shared by every process using the database ``url``.

    Use it as a context manager (one use), or call :meth:`acquire` and :meth:`release`
    (which may be called twice) as often as needed, then :meth:`close`. It waits as
    long as another process holds it.

    Args:
        url: the study database's SQLAlchemy URL.
        name: what is locked, e.g. ``"schema"`` or ``"study:digits-cnn"``.
    """

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self._engine: Any = None
        self._conn: Any = None
        self._file: Any = None
        self.kind = _kind(url)

    def acquire(self) -> None:
        """Block until this process holds the lock."""
        if self.kind == "postgresql":
            self._acquire_pg()
        elif self.kind == "sqlite":
            self._acquire_file()

    def release(self) -> None:
        """Let the next process in (a no-op when not held)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.rollback()  # ends the transaction: the advisory lock goes with it
            finally:
                conn.close()
        if self._file is not None:
            import fcntl

            handle, self._file = self._file, None
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def schema_ready(self) -> bool:
        """Whether Optuna's schema is complete (its alembic version stamped: the last step)."""
        if self.kind == "postgresql" and self._conn is not None:
            import sqlalchemy

            text = sqlalchemy.text
            if self._conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
                return False
            return bool(self._conn.execute(text("SELECT count(*) FROM alembic_version")).scalar())
        if self.kind == "sqlite":
            import sqlite3

            path = Path(_sqlite_file(self.url) or "").expanduser()
            if not path.is_file():
                return False
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
                found = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                     "AND name = 'alembic_version'").fetchone()[0]
                return bool(found and conn.execute(
                    "SELECT count(*) FROM alembic_version").fetchone()[0])
        return False

    def close(self) -> None:
        """Release, and drop the lock's own connection pool."""
        self.release()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> StorageLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _acquire_pg(self) -> None:
        import sqlalchemy

        if self._engine is None:
            self._engine = sqlalchemy.create_engine(
                self.url, pool_size=1, pool_pre_ping=True,
                # TCP keepalives: a holder or waiter whose peer vanished finds out.
                connect_args={"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10,
                              "keepalives_interval": 5, "keepalives_count": 3},
            )
        conn = self._engine.connect()
        try:
            # A holder that stops talking (a connection cut mid-claim, a frozen process)
            # loses its transaction, and the lock with it, after 60 s: no worker waits
            # for ever on a lock nobody will release. A claim holds it for well under that.
            conn.execute(sqlalchemy.text("SET LOCAL idle_in_transaction_session_timeout = "
                                         f"'{_LOCK_IDLE_TIMEOUT_S}s'"))
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": lock_key(self.name)})
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _acquire_file(self) -> None:
        import fcntl

        handle = open(_lock_path(self.url, self.name), "a+b")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:
            handle.close()
            raise
        self._file = handle


def _kind(url: str) -> str:
    """``postgresql``, ``sqlite`` (a file, on a system with ``flock``) or ``none``."""
    if url.startswith("postgresql"):
        return "postgresql"
    if url.startswith("sqlite") and os.name == "posix":
        database = _sqlite_file(url)
        if database:
            return "sqlite"
    return "none"


def _sqlite_file(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:  # a malformed URL fails later, with open_storage's message
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _lock_path(url: str, name: str) -> Path:
    """``<database>.<hash of name>.lock``: one file per lock (flock is per file)."""
    database = Path(_sqlite_file(url) or "").expanduser()
    database.parent.mkdir(parents=True, exist_ok=True)
    return database.with_name(f"{database.name}.{lock_key(name) & 0xFFFFFFFF:08x}.lock")
