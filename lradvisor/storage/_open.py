"""Connecting to the study database: one SQLAlchemy URL, opened in one place.

The default is an embedded SQLite file, ``sqlite:///studies/lradvisor.db`` relative to
where the command runs; ``--storage`` or ``$LRADVISOR_STORAGE`` name another.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lradvisor.errors import StudyError
from lradvisor.storage._pg_write import pg_unwritable
from lradvisor.storage._read_only import read_only_params, read_only_uri, unwritable

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "sqlite:///studies/lradvisor.db"
STORAGE_ENV = "LRADVISOR_STORAGE"
_WRITER_REFUSED = ("cannot write to study storage {url}: {why}; this command writes to it "
                   "(the commands that only read studies can use it).")


def resolve_url(url: str | None = None) -> str:
    """The storage URL to use: ``url``, else ``$LRADVISOR_STORAGE``, else the default."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def open_storage(url: str | None = None, *, create: bool = True,
                 write: bool | None = None) -> optuna.storages.RDBStorage:
    """Connect to the study database at ``url`` (see :func:`resolve_url`), creating tables.

    A relative SQLite path is taken from the current directory and its folder is
    created. ``create=False`` is for commands that only read studies: an SQLite file
    that does not exist is then an error (a mistyped path is reported) and nothing is
    created. ``write`` (default: ``create``) says whether the caller writes to it
    (``studies delete`` writes but creates nothing). An SQLite file this process cannot
    write (a read-only file, or one in a folder where SQLite cannot make its ``-wal``
    and ``-shm`` files) is opened read-only, tables untouched, when ``write`` is false,
    and refused in one line when it is true; so is, when ``write`` is true, a PostgreSQL
    database its user may not write (a ``SELECT``-only role, read-only transactions, a
    standby: :mod:`lradvisor.storage._pg_write`), which the reading commands open as
    they open any other. Anything that keeps the database from being used (a bad URL, a
    missing driver, a server that does not answer, a file that is not a database, tables
    of another Optuna version) raises one :class:`StudyError` line before any trial runs.
    """
    import sqlite3

    import optuna
    import sqlalchemy.exc

    from lradvisor.search._lock import open_schema_once

    url = resolve_url(url)
    if "://" not in url:
        raise StudyError(
            f"storage {url!r} is not a database URL; use e.g. {DEFAULT_STORAGE} or "
            "postgresql+psycopg://user@host/db."
        )
    writes = create if write is None else write
    engine_kwargs: dict[str, Any] = {}
    read_only = None
    if url.startswith("sqlite"):
        if not create:
            require_storage(url)
        read_only = _read_only(url, write=writes)
        if read_only is None:
            _make_sqlite_folder(url)
        engine_kwargs["connect_args"] = {"timeout": 30}
    elif url.startswith("postgresql"):
        # TCP keepalives, so a connection whose server vanished fails instead of hanging.
        engine_kwargs["connect_args"] = {"connect_timeout": 10, "keepalives": 1,
                                         "keepalives_idle": 10, "keepalives_interval": 5,
                                         "keepalives_count": 3}
        engine_kwargs["pool_pre_ping"] = True
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if read_only is not None:  # no schema to create, no lock file to take
            storage = optuna.storages.RDBStorage(read_only, engine_kwargs=engine_kwargs,
                                                 skip_table_creation=True)
        else:  # workers started together create tables once
            storage = open_schema_once(
                url, lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs))
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, ImportError, ValueError,
            OSError, RuntimeError) as err:
        # sqlite3: the schema lock reads the file (not a database); RuntimeError: Optuna
        # refuses tables another Optuna version made ("optuna storage upgrade", ...)
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise StudyError(f"cannot open study storage {_safe(url)}: {reason}") from None
    if writes and url.startswith("postgresql"):
        _refuse_pg_reader(storage, url)
    if (url.startswith("sqlite") and read_only is None
            and storage.engine.url.database not in (None, "", ":memory:")):
        _fast_sqlite(storage.engine)
    return storage


def _refuse_pg_reader(storage: optuna.storages.RDBStorage, url: str) -> None:
    """Refuse, before anything is written, a PostgreSQL database whose user may only read
    it (see :mod:`lradvisor.storage._pg_write`); its connections are closed."""
    import sqlalchemy.exc

    try:
        why = pg_unwritable(storage.engine)
    except sqlalchemy.exc.SQLAlchemyError as err:
        storage.engine.dispose()
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise StudyError(f"cannot open study storage {_safe(url)}: {reason}") from None
    if why is not None:
        storage.engine.dispose()
        raise StudyError(_WRITER_REFUSED.format(url=_safe(url), why=why))


def _fast_sqlite(engine: Any) -> None:
    """WAL journal, ``synchronous=NORMAL``: a commit no longer waits for the disk.

    A crash of the process loses nothing committed; only a power cut may lose the
    last commits. Without this every trial's dozens of small commits each cost an
    fsync (milliseconds on a busy disk).
    """
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections made so far were opened without the pragmas


def require_storage(url: str | None = None) -> None:
    """Check, creating nothing, that the SQLite file ``url`` names exists.

    For commands that only read studies and take a URL: without this, opening a
    mistyped path creates an empty database there. Other databases (and in-memory
    SQLite) pass; whether they answer is :func:`open_storage`'s to say.

    Raises:
        StudyError: the URL names an SQLite file that does not exist, is not an SQLite
            database, or holds no study tables (opening it would write them there).
    """
    url = resolve_url(url)
    if not url.startswith("sqlite"):
        return
    database = _sqlite_database(url)
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if not path.is_file():
        raise StudyError(
            f"cannot open study storage {_safe(url)}: no database file {str(path)!r} "
            "(this command only reads studies; a search creates the file)."
        )
    import sqlite3

    target, uri = (path, False) if unwritable(path) is None else (read_only_uri(path), True)
    try:
        with contextlib.closing(sqlite3.connect(target, uri=uri)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as err:
        raise StudyError(f"cannot open study storage {_safe(url)}: {err}") from None
    if "studies" not in tables:
        raise StudyError(
            f"cannot open study storage {_safe(url)}: {str(path)!r} holds no studies (no "
            "study tables; this command only reads studies, a search creates them)."
        )


def _read_only(url: str, *, write: bool) -> str | None:
    """The URL that opens the SQLite file ``url`` names read-only (SQLite's ``mode=ro``,
    see :mod:`lradvisor.storage._read_only`) when this process cannot write it; ``None``
    when it can, or when ``url`` names no existing file.

    Raises:
        StudyError: the file cannot be written and ``write`` says the caller writes.
    """
    database = _sqlite_database(url)
    if not database or database == ":memory:" or database.startswith("file:"):
        return None  # a file: URI says its own mode
    path = Path(database).expanduser().absolute()
    why = unwritable(path) if path.is_file() else None
    if why is None:
        return None
    if write:
        raise StudyError(_WRITER_REFUSED.format(url=_safe(url), why=why))
    from sqlalchemy.engine import make_url

    query = {**read_only_params(path), "uri": "true"}
    return make_url(url).set(database=f"file:{quote(str(path))}", query=query) \
        .render_as_string(hide_password=False)


def _sqlite_database(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).database
    except Exception as err:  # sqlalchemy raises ArgumentError for a malformed URL
        raise StudyError(f"storage URL {url!r} does not parse: {err}") from None


def _make_sqlite_folder(url: str) -> None:
    database = _sqlite_database(url)
    if not database or database == ":memory:":
        return
    folder = Path(database).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or str(err)
        raise StudyError(f"cannot open study storage {_safe(url)}: cannot create folder "
                         f"{str(folder)!r}: {reason}.") from None


def _safe(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return repr(url)

