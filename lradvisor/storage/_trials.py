"""A search's trial writes, each in one transaction on Optuna's RDB storage.

Optuna's storage API writes one value per call, each its own transaction. A search
creates a trial running with its attributes (:func:`create_trial`), writes the values
it samples at once (:func:`buffered_params`), its reports in batches
(:func:`write_trial_batch`) and ends it with its last reports, value and state
(:func:`finish_trial`): the same rows, through Optuna's own models and checks. On any
other storage each falls back to Optuna's calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

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
        >>> from lradvisor.storage import open_storage
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
        >>> from lradvisor.storage import open_storage
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
        >>> from lradvisor.storage import open_storage
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


