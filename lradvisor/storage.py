"""The study database: Optuna's RDB storage behind one SQLAlchemy URL.

Every study lives in a SQL database. The default is an embedded SQLite file,
``sqlite:///studies/lradvisor.db`` relative to where the command runs; ``--storage``
or ``$LRADVISOR_STORAGE`` name another (PostgreSQL works through the same URL form,
``postgresql+psycopg://user@host/db``). Storage is opened in exactly one place,
:func:`open_storage`, so a schema lock and worker heartbeats can be added there.

What a study records (as JSON user attributes, readable by plain Optuna):

* study: ``profile``, ``fidelity``, ``plan``, ``rules`` (ids that fired),
  ``rules_recommendations``, ``prior``, ``full_steps``, ``trainable``, ``workload``,
  ``recommendation`` (the final one, for the full length, with its evidence);
* trial: ``spec`` (ScheduleSpec JSON), ``rung``, ``fidelity``, ``total_steps``,
  ``seed``, ``origin``, ``parent`` (the trial it was promoted from), ``steps_used``,
  ``error`` (failed trials), ``diverged``; its curve is Optuna's intermediate values.

Example:
    >>> storage = open_storage("sqlite://")  # an in-memory database
    >>> study = get_study(storage, "demo", direction="minimize")
    >>> [s.study_name for s in list_studies(storage)]
    ['demo']
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lradvisor.errors import StudyError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "buffered_params",
    "create_trial",
    "delete_study",
    "finish_trial",
    "get_study",
    "list_studies",
    "load_study",
    "open_storage",
    "require_storage",
    "resolve_url",
    "write_trial_batch",
]

DEFAULT_STORAGE = "sqlite:///studies/lradvisor.db"
STORAGE_ENV = "LRADVISOR_STORAGE"
DIRECTIONS = ("minimize", "maximize")


def resolve_url(url: str | None = None) -> str:
    """The storage URL to use: ``url``, else ``$LRADVISOR_STORAGE``, else the default."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def open_storage(url: str | None = None, *, create: bool = True) -> optuna.storages.RDBStorage:
    """Connect to the study database at ``url`` (see :func:`resolve_url`), creating tables.

    A relative SQLite path is taken from the current directory and its folder is
    created. ``create=False`` is for commands that only read studies: an SQLite file
    that does not exist is then an error (a mistyped path is reported) and nothing is
    created. Anything that keeps the database from being used (a bad URL, a missing
    driver, a server that does not answer, a file that is not a database) raises one
    :class:`StudyError` line before any trial runs.
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
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        if not create:
            require_storage(url)
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
        storage = open_schema_once(  # workers started together create tables once
            url, lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs))
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, ImportError, ValueError,
            OSError) as err:  # sqlite3: the schema lock reads the file (not a database)
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise StudyError(f"cannot open study storage {_safe(url)}: {reason}") from None
    if url.startswith("sqlite") and storage.engine.url.database not in (None, "", ":memory:"):
        _fast_sqlite(storage.engine)
    return storage


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
        StudyError: the URL names an SQLite file that does not exist.
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


def get_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    *,
    direction: str = "minimize",
    sampler: Any = None,
    pruner: Any = None,
) -> optuna.Study:
    """Create the study ``name``, or load it when it exists (so a search resumes).

    Raises:
        StudyError: ``direction`` is not minimize/maximize, or the stored study was
            created with the other direction.
    """
    import optuna

    if direction not in DIRECTIONS:
        raise StudyError(f"direction must be minimize or maximize, but got {direction!r}.")
    _check_name(name)
    existing = {s.study_name: s for s in _summaries(storage)}
    if name in existing:
        stored = existing[name].direction.name.lower()
        if stored != direction:
            raise StudyError(
                f"study {name!r} exists with direction {stored}, but {direction} was asked; "
                "use another --study name or the stored direction."
            )
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    return optuna.create_study(
        study_name=name, storage=storage, direction=direction,  # type: ignore[arg-type]
        sampler=sampler, pruner=pruner,
    )


def load_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The stored study ``name``; a :class:`StudyError` listing the stored ones otherwise."""
    import optuna

    _check_name(name)
    names = [s.study_name for s in _summaries(storage)]
    if name not in names:
        raise StudyError(
            f"no study named {name!r} in this storage; stored: {', '.join(names) or '(none)'}."
        )
    return optuna.load_study(study_name=name, storage=storage)


def list_studies(storage: optuna.storages.BaseStorage) -> list[Any]:
    """Optuna's study summaries (name, direction, trial count, user attrs), by name."""
    return sorted(_summaries(storage), key=lambda s: s.study_name)


def delete_study(storage: optuna.storages.BaseStorage, name: str) -> None:
    """Delete the study ``name`` and all its trials."""
    import optuna

    load_study(storage, name)  # raises a clear error when missing
    optuna.delete_study(study_name=name, storage=storage)


def write_trial_batch(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    reports: list[tuple[int, float]],
    user_attrs: dict[str, Any] | None = None,
) -> None:
    """Write a running trial's ``reports`` (step, value) and ``user_attrs`` at once.

    Optuna's storage API writes one value per call, each its own transaction (about
    2 ms on SQLite). On Optuna's RDB storage this writes them all in one transaction,
    through the storage's own models (same rows, same check: a finished trial refuses
    the write; a step written before is overwritten, as Optuna's RDB storage does); on
    any other storage, or an Optuna without those internals, it makes the calls one
    by one.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(storage=open_storage("sqlite://"))
        >>> trial = study.ask()
        >>> write_trial_batch(study._storage, trial._trial_id, [(0, 1.0), (5, 0.5)],
        ...                   {"rung": 0})
        >>> frozen = study._storage.get_trial(trial._trial_id)
        >>> frozen.intermediate_values, frozen.user_attrs
        ({0: 1.0, 5: 0.5}, {'rung': 0})
    """
    user_attrs = user_attrs or {}
    if not reports and not user_attrs:
        return
    backend = _rdb(storage)
    if backend is None:
        for step, value in reports:
            storage.set_trial_intermediate_value(trial_id, step, value)
        for key, value in user_attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(backend.scoped_session, True) as session:
        _write_pending(session, backend, trial_id, reports, user_attrs)


def _rdb(storage: Any, *, cached: bool = False) -> Any:
    """Optuna's RDB storage behind ``storage`` (unwrapped from Optuna's cache), or None.

    ``cached``: only when ``storage`` is that cache around it (whose state the caller
    keeps up to date)."""
    import optuna

    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage):
        return None
    return None if cached and backend is storage else backend


def _write_pending(session: Any, backend: Any, trial_id: int,
                   reports: list[tuple[int, float]], user_attrs: dict[str, Any],
                   *, lock: bool = False) -> Any:
    """Write a running trial's ``reports`` and ``user_attrs`` in ``session``; its row.

    A finished trial is refused, as Optuna's own writes refuse it; ``lock``: the row is
    read ``FOR UPDATE`` (the caller ends the trial)."""
    from optuna.storages._rdb import models

    row = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=lock)
    backend.check_trial_is_updatable(trial_id, row.state)
    _write_reports(session, trial_id, reports)
    _write_attrs(session, models.TrialUserAttributeModel, trial_id, user_attrs)
    return row


def _write_reports(session: Any, trial_id: int, reports: list[tuple[int, float]]) -> None:
    """Write ``reports`` (step, value) of the trial; a step written before is overwritten."""
    if not reports:
        return
    from optuna.storages._rdb import models

    row: Any = models.TrialIntermediateValueModel
    stored: dict[int, Any] = {r.step: r for r in
                              session.query(row).filter(row.trial_id == trial_id)}
    for step, value in reports:
        number, kind = row.intermediate_value_to_stored_repr(value)
        if step in stored:
            stored[step].intermediate_value = number
            stored[step].intermediate_value_type = kind
        else:
            stored[step] = row(trial_id=trial_id, step=step, intermediate_value=number,
                               intermediate_value_type=kind)
            session.add(stored[step])


def _write_value(session: Any, trial_id: int, value: float) -> None:
    """Set the trial's (single-objective) value row."""
    from optuna.storages._rdb import models

    model: Any = models.TrialValueModel
    number, kind = model.value_to_stored_repr(value)
    found = session.query(model).filter(model.trial_id == trial_id,
                                        model.objective == 0).one_or_none()
    if found is None:
        session.add(model(trial_id=trial_id, objective=0, value=number, value_type=kind))
    else:
        found.value, found.value_type = number, kind


def _write_attrs(session: Any, model: Any, trial_id: int, attrs: dict[str, Any],
                 *, new: bool = False) -> None:
    """Set ``attrs`` on the trial in one read and one flush (Optuna's RDB storage reads
    the trial again and upserts for every key); ``new``: a trial just made, with none."""
    import json

    if not attrs:
        return
    stored = {} if new else {
        a.key: a for a in session.query(model).filter(model.trial_id == trial_id)}
    for key, value in attrs.items():
        text = json.dumps(value)
        if key in stored:
            stored[key].value_json = text
        else:
            session.add(model(trial_id=trial_id, key=key, value_json=text))


def finish_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    state: str,
    value: float | None,
    running: optuna.trial.FrozenTrial,
    reports: list[tuple[int, float]] | None = None,
    user_attrs: dict[str, Any] | None = None,
) -> optuna.trial.FrozenTrial:
    """Write a trial's last ``reports`` and ``user_attrs`` and end it, in one commit.

    What :func:`write_trial_batch` then ``study.tell(trial, value, state=state)`` do
    (the sampler's ``after_trial`` first; a pruned trial's value is its last finite
    report, as Optuna stores it), and returns the finished trial as ``tell`` does.
    ``running`` is the trial as it stands, its reports and attributes included (the
    caller's in-memory view): it is what the sampler is shown, and the finished trial
    is made from it instead of being read back. On a storage other than Optuna's RDB
    it is :func:`write_trial_batch` and ``study.tell``.

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: the trial had been ended
            meanwhile (by a stale-trial check); nothing is written.
    """
    import copy
    import datetime
    import math

    import optuna
    from optuna.trial import TrialState

    reports, user_attrs = reports or [], user_attrs or {}
    end = getattr(TrialState, state)
    backend = _rdb(study._storage)
    if backend is None:
        write_trial_batch(study._storage, trial._trial_id, reports, user_attrs)
        return study.tell(trial, value, state=end)
    from optuna.storages._rdb.storage import _create_scoped_session

    values: list[float] | None = None
    if end == TrialState.COMPLETE:
        values = [float(value)]  # type: ignore[arg-type]
        if math.isnan(values[0]):  # as tell refuses it
            raise ValueError(f"The value {value} is not acceptable")
    elif end == TrialState.PRUNED and running.intermediate_values:
        last = running.intermediate_values[max(running.intermediate_values)]
        values = None if math.isnan(last) else [float(last)]
    study._thread_local.cached_all_trials = None  # as tell does
    try:
        study.sampler.after_trial(optuna.pruners._filter_study(study, running), running,
                                  end, values)
    finally:
        with _create_scoped_session(backend.scoped_session) as session:
            row = _write_pending(session, backend, trial._trial_id, reports, user_attrs,
                                 lock=True)
            if values is not None:
                _write_value(session, trial._trial_id, values[0])
            row.state = end
            row.datetime_complete = completed = datetime.datetime.now()
    finished = copy.copy(running)
    finished.state, finished.values = end, values
    finished.datetime_complete = completed
    finished.intermediate_values = dict(running.intermediate_values)
    finished.user_attrs = {**running.user_attrs, **user_attrs}
    return finished


class _ParamBuffer:
    """What a trial writes while its parameters are sampled: its ``storage`` meanwhile.

    ``set_trial_param`` calls are kept and written by :meth:`flush`, with the user
    attributes given to :meth:`set_user_attr`, in one transaction; every other call
    goes to the real storage.
    """

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.storage: Any = trial.storage
        self.params: list[tuple[str, float, Any]] = []
        self.attrs: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def set_trial_param(self, trial_id: int, name: str, value: float, dist: Any) -> None:
        self.params.append((name, value, dist))

    def set_user_attr(self, key: str, value: Any) -> None:
        """``trial.set_user_attr(key, value)``, written with the parameters."""
        self.attrs[key] = value
        self.trial._cached_frozen_trial.user_attrs[key] = value  # as Trial.set_user_attr

    def flush(self) -> None:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        if not self.params and not self.attrs:
            return
        storage, trial_id = self.storage, self.trial._trial_id
        backend: Any = storage._backend
        study_id = self.trial.study._study_id
        with storage._lock:
            known = storage._studies[study_id].param_distribution
            previous = {name: known.get(name) for name, _, _ in self.params}
        with _create_scoped_session(backend.scoped_session) as session:
            if self.params:
                _write_params(session, backend, trial_id, self.params, previous)
            _write_attrs(session, models.TrialUserAttributeModel, trial_id, self.attrs)
        with storage._lock:  # as Optuna's caching storage does after a write
            for name, _, dist in self.params:
                known.setdefault(name, dist)
        self.params, self.attrs = [], {}


def _write_params(session: Any, backend: Any, trial_id: int,
                  params: list[tuple[str, float, Any]], previous: dict[str, Any]) -> None:
    """Optuna's ``_set_trial_param_without_commit`` for several values of one trial,
    reading the trial once: it must still be running, and a value whose name the study
    has seen with another kind of distribution is refused, as at a ``suggest`` call."""
    from optuna import distributions
    from optuna.storages._rdb import models

    trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
    backend.check_trial_is_updatable(trial_id, trial.state)
    for name, value, dist in params:
        known = previous[name]
        if known is None:  # the study's first value of this name, as far as this process knows
            record = (session.query(models.TrialParamModel).join(models.TrialModel)
                      .filter(models.TrialModel.study_id == trial.study_id)
                      .filter(models.TrialParamModel.param_name == name).first())
            if record is not None:
                known = distributions.json_to_distribution(record.distribution_json)
        if known is not None:
            distributions.check_distribution_compatibility(known, dist)
        session.add(models.TrialParamModel(
            trial_id=trial_id, param_name=name, param_value=value,
            distribution_json=distributions.distribution_to_json(dist)))


class _Direct:
    """:func:`buffered_params` where nothing is buffered: writes go straight through."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def set_user_attr(self, key: str, value: Any) -> None:
        self.trial.set_user_attr(key, value)


@contextlib.contextmanager
def buffered_params(trial: optuna.Trial) -> Iterator[Any]:
    """Within, ``trial``'s ``suggest_*`` calls write their values at the end, in one commit.

    Optuna writes each suggested value in its own transaction. On Optuna's RDB storage
    (behind its cache) the values are kept until the block ends and written then,
    with the attributes set through the yielded object's ``set_user_attr``, in one
    transaction, through the storage's own checks (a distribution that does not fit
    the study's is refused, as it would have been at the ``suggest`` call). Elsewhere
    every write goes straight through. The trial sees its values at once either way;
    other processes see them when the block ends, a few milliseconds later.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(storage=open_storage("sqlite://"))
        >>> trial = create_trial(study, {"rung": 0})
        >>> with buffered_params(trial) as batch:
        ...     x = trial.suggest_float("x", 0.0, 1.0)
        ...     batch.set_user_attr("spec", "x")
        >>> study.trials[0].params == {"x": x}, study.trials[0].user_attrs["spec"]
        (True, 'x')
    """
    storage: Any = trial.storage
    if _rdb(storage, cached=True) is None:
        yield _Direct(trial)
        return
    buffer = _ParamBuffer(trial)
    trial.storage = buffer  # type: ignore[assignment]  # a stand-in, for the block
    try:
        yield buffer
    finally:
        trial.storage = storage
        buffer.flush()


def create_trial(
    study: optuna.Study,
    user_attrs: dict[str, Any],
    fixed_params: dict[str, Any] | None = None,
) -> optuna.Trial:
    """A new running trial of ``study`` with ``user_attrs`` set, written in one commit.

    What ``study.enqueue_trial(fixed_params, user_attrs=user_attrs)`` then
    ``study.ask()`` make, without the waiting state in between: ``fixed_params`` come
    back from the trial's ``suggest_*`` calls (Optuna's ``fixed_params`` system
    attribute). On Optuna's RDB storage it is one transaction of a few statements
    (Optuna's own path reads the trial again for every attribute, then pops the queue
    in another); on any other storage, ``create_new_trial`` with a template.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(storage=open_storage("sqlite://"))
        >>> trial = create_trial(study, {"rung": 0}, {"x": 0.5})
        >>> trial.suggest_float("x", 0.0, 1.0), trial.user_attrs
        (0.5, {'rung': 0})
    """
    import datetime

    import optuna
    from optuna.trial import FrozenTrial, TrialState

    system_attrs = {"fixed_params": dict(fixed_params)} if fixed_params else {}
    storage: Any = study._storage
    backend = _rdb(storage, cached=True)
    if backend is not None:
        frozen = _create_rdb_trial(storage, backend, study._study_id, user_attrs, system_attrs)
        trial_id = frozen._trial_id
    else:
        template = FrozenTrial(
            number=-1, state=TrialState.RUNNING, value=None,
            datetime_start=datetime.datetime.now(), datetime_complete=None, params={},
            distributions={}, user_attrs=dict(user_attrs), system_attrs=system_attrs,
            intermediate_values={}, trial_id=-1)
        trial_id = storage.create_new_trial(study._study_id, template)
    study._thread_local.cached_all_trials = None  # as study.ask does
    return optuna.Trial(study, trial_id)


def _create_rdb_trial(storage: Any, backend: Any, study_id: int, user_attrs: dict[str, Any],
                      system_attrs: dict[str, Any]) -> Any:
    """:func:`create_trial` on Optuna's RDB storage (``storage``: its caching wrapper)."""
    import datetime
    import random
    import time

    import optuna
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import FrozenTrial, TrialState

    for attempt in range(1, 6):  # as Optuna's own trial creation: deadlocks are retried
        try:
            with _create_scoped_session(backend.scoped_session) as session:
                # the study's row is locked: trial numbers are counted, not assigned
                models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
                row: Any = models.TrialModel(study_id=study_id, number=None,
                                             state=TrialState.RUNNING,
                                             datetime_start=datetime.datetime.now())
                session.add(row)
                session.flush()
                for model, attrs in ((models.TrialUserAttributeModel, user_attrs),
                                     (models.TrialSystemAttributeModel, system_attrs)):
                    _write_attrs(session, model, row.trial_id, attrs, new=True)
                row.number = row.count_past_trials(session)
                frozen = FrozenTrial(
                    number=row.number, state=TrialState.RUNNING, value=None,
                    datetime_start=row.datetime_start, datetime_complete=None, params={},
                    distributions={}, user_attrs=dict(user_attrs),
                    system_attrs=dict(system_attrs), intermediate_values={},
                    trial_id=row.trial_id)
            break
        except optuna.exceptions.StorageInternalError:
            if attempt == 5:
                raise
            time.sleep(random.random() * 2.0)
    with storage._lock:  # what Optuna's caching storage does with a trial it created
        if study_id not in storage._studies:
            from optuna.storages._cached_storage import _StudyInfo

            storage._studies[study_id] = _StudyInfo()
        storage._add_trials_to_cache(study_id, [frozen])
    return frozen


def _summaries(storage: optuna.storages.BaseStorage) -> list[Any]:
    import optuna

    return optuna.get_all_study_summaries(storage, include_best_trial=False)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise StudyError(f"a study name must be a non-empty string, but got {name!r}.")
