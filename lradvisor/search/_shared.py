"""Opening a study database that many worker processes share.

:func:`open_shared_storage` is :func:`lradvisor.storage.open_storage` plus what several
writers need:

* the schema is created under the ``schema`` :class:`~lradvisor.search._lock.StorageLock`
  (in :func:`~lradvisor.storage.open_storage`; retried on a clash where the database
  has no lock), so workers started together on a brand-new database all succeed;
* trial heartbeats (Optuna's RDB heartbeat): a trial whose worker stopped beating for
  ``grace_period`` seconds (``kill -9``, a lost machine) is failed by the next worker
  that looks, and :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` queues the
  same configuration again as a ``WAITING`` trial for another worker;
* on an SQLite file, every transaction starts with ``BEGIN IMMEDIATE`` (on top of
  WAL): a writer waits its turn (busy timeout 30 s) instead of failing with ``database
  is locked`` when two processes upgrade a read to a write at once.

An in-memory SQLite database belongs to one process and is refused with the
alternatives named.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.search._lock import _kind

__all__ = ["DEFAULT_GRACE", "DEFAULT_HEARTBEAT", "check_shared_url", "open_shared_storage"]

DEFAULT_HEARTBEAT = 10
DEFAULT_GRACE = 60


def check_shared_url(url: str) -> None:
    """Refuse a database other processes cannot reach (in-memory SQLite)."""
    if url.startswith("sqlite") and _kind(url) == "none":
        raise StudyError(
            f"storage {url!r} is private to one process, so workers cannot share it; use a "
            "file (sqlite:///studies/lradvisor.db) or a server "
            "(postgresql+psycopg://user@host/db)."
        )


def open_schema_locked(url: str) -> Any:
    """:func:`~lradvisor.storage.open_storage` (schema created under the ``schema`` lock),
    retried on a schema clash where the database has no lock (MySQL, ...)."""
    from lradvisor.storage import open_storage

    for attempt in range(3):
        try:
            return open_storage(url)
        except StudyError as err:
            text = str(err).lower()
            if attempt == 2 or not ("already exists" in text or "unique" in text):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def open_shared_storage(
    url: str,
    *,
    heartbeat_interval: int = DEFAULT_HEARTBEAT,
    grace_period: int = DEFAULT_GRACE,
    max_retry: int | None = 3,
) -> Any:
    """The RDB storage at ``url``, set up for several worker processes.

    Args:
        url: a database file or server URL (see :func:`check_shared_url`).
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without a heartbeat after which a trial is failed.
        max_retry: how often one configuration is re-queued after its worker died
            (``None``: always).

    Raises:
        StudyError: an in-memory database, bad heartbeat settings, or a database that
            cannot be opened.
    """
    import optuna

    check_shared_url(url)
    for name, value in (("heartbeat_interval", heartbeat_interval),
                        ("grace_period", grace_period)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise StudyError(f"{name} must be a whole number of seconds >= 1, but got {value!r}.")
    if grace_period <= heartbeat_interval:
        raise StudyError(
            f"grace_period ({grace_period} s) must be longer than heartbeat_interval "
            f"({heartbeat_interval} s), or live trials would be failed as stale."
        )
    storage = open_schema_locked(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    storage.heartbeat_interval = heartbeat_interval
    storage.grace_period = grace_period
    storage.heartbeat_stale_trial_callback = storage.failed_trial_callback = retry
    if _kind(url) == "sqlite":
        _immediate_transactions(storage.engine)
    return storage


def _immediate_transactions(engine: Any) -> None:
    """Make every SQLite transaction ``BEGIN IMMEDIATE`` (SQLAlchemy's pysqlite recipe)."""
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    engine.dispose()
