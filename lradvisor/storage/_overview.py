"""Every study of a database at a glance, in a fixed number of queries.

What ``lradvisor studies list`` and the service's ``GET /v1/studies`` show: each
study's direction, its trials counted by state, when the first started, the optimizer
steps they used, and a few of its user attributes. Loading each study to count its
trials costs queries per study and reads every trial's parameters, attributes and
curve; here six queries read only those columns, whatever the number of studies, so
listing costs time linear in the trials counted and nothing per curve. And which
studies have running trials of a kind (the service's remote ones), in one query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["StudyOverview", "running_studies", "study_overviews"]


@dataclass(frozen=True)
class StudyOverview:
    """One study as a list shows it.

    Attributes:
        name: the study's name.
        directions: ``"minimize"``/``"maximize"``, one per objective.
        states: trial counts by state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ...).
        steps_used: the sum of the trials' ``steps_used`` attribute (0 where none).
        user_attrs: the study's user attributes of the keys asked for, where stored.
        scheduled: some completed trial stores a ``spec`` (lradvisor's: a trial of plain
            Optuna's stores none), so a recommendation can be computed from its trials.
        datetime_start: the earliest start of its trials, as Optuna's ``StudySummary``
            gives it (when the study started running); ``None`` before any trial started.
    """

    name: str
    directions: tuple[str, ...]
    states: Mapping[str, int] = field(default_factory=dict)
    steps_used: float = 0
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    scheduled: bool = False
    datetime_start: datetime | None = None


def study_overviews(storage: optuna.storages.BaseStorage,
                    keys: Iterable[str] = ()) -> list[StudyOverview]:
    """The :class:`StudyOverview` of every stored study, by name, with the study user
    attributes named in ``keys``.

    Example:
        >>> from lradvisor.storage import get_study, open_storage
        >>> storage = open_storage("sqlite://")
        >>> get_study(storage, "demo").set_user_attr("full_steps", 100)
        >>> [(s.name, s.directions, s.user_attrs) for s in study_overviews(storage,
        ...                                                               ["full_steps"])]
        [('demo', ('minimize',), {'full_steps': 100})]
    """
    import optuna

    keys = tuple(keys)
    backend = getattr(storage, "_backend", storage)  # under Optuna's per-process cache
    if isinstance(backend, optuna.storages.RDBStorage):
        found = _from_rdb(backend, keys)
    else:  # another storage (in memory, journal): through Optuna's own calls
        found = [_from_trials(s.study_name, s.directions, s.user_attrs, keys,
                              storage.get_all_trials(s._study_id, deepcopy=False))
                 for s in storage.get_all_studies()]
    return sorted(found, key=lambda s: s.name)


def running_studies(storage: optuna.storages.BaseStorage, key: str) -> list[str]:
    """The names of the studies with a RUNNING trial that stores the user attribute
    ``key`` (any value), by name: one query, which reads no trial of any other study.

    Example:
        >>> from lradvisor.storage import get_study, open_storage
        >>> storage = open_storage("sqlite://")
        >>> get_study(storage, "served").ask().set_user_attr("remote", True)
        >>> trial = get_study(storage, "local").ask()  # running, not marked
        >>> running_studies(storage, "remote")
        ['served']
    """
    import optuna

    running = optuna.trial.TrialState.RUNNING
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage):
        return sorted(s.study_name for s in storage.get_all_studies()
                      if any(key in t.user_attrs for t in storage.get_all_trials(
                          s._study_id, deepcopy=False, states=(running,))))
    from optuna.storages._rdb import models
    from sqlalchemy import select

    study, trial, attr = models.StudyModel, models.TrialModel, models.TrialUserAttributeModel
    with backend.engine.connect() as conn:
        return sorted(conn.execute(
            select(study.study_name).distinct()
            .join(trial, trial.study_id == study.study_id)
            .join(attr, attr.trial_id == trial.trial_id)
            .where(trial.state == running, attr.key == key)).scalars())


def _from_rdb(storage: optuna.storages.RDBStorage, keys: tuple[str, ...]) -> list[StudyOverview]:
    from optuna.storages._rdb import models
    from sqlalchemy import select

    study = models.StudyModel
    with storage.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # one snapshot for all six queries
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        names = {int(i): str(n) for i, n in conn.execute(select(study.study_id,
                                                                study.study_name))}
        directions, attrs = _directions(conn), _attrs(conn, keys)
        (states, starts), steps, scheduled = _states(conn), _steps(conn), _scheduled(conn)
    return [StudyOverview(name, tuple(directions.get(sid, ())), states.get(sid, {}),
                          steps.get(sid, 0), attrs.get(sid, {}), sid in scheduled,
                          starts.get(sid))
            for sid, name in names.items()]


def _directions(conn: Any) -> dict[int, list[str]]:
    from optuna.storages._rdb import models
    from sqlalchemy import select

    model = models.StudyDirectionModel
    out: dict[int, list[str]] = {}
    for sid, direction in conn.execute(select(model.study_id, model.direction)
                                       .order_by(model.study_id, model.objective)):
        out.setdefault(sid, []).append(direction.name.lower())
    return out


def _attrs(conn: Any, keys: tuple[str, ...]) -> dict[int, dict[str, Any]]:
    from optuna.storages._rdb import models
    from sqlalchemy import select

    model = models.StudyUserAttributeModel
    out: dict[int, dict[str, Any]] = {}
    if keys:
        for sid, key, value in conn.execute(select(model.study_id, model.key, model.value_json)
                                            .where(model.key.in_(keys))):
            out.setdefault(sid, {})[key] = json.loads(value)
    return out


def _states(conn: Any) -> tuple[dict[int, dict[str, int]], dict[int, datetime]]:
    """Each study's trials counted by state, and the earliest start of its trials."""
    from optuna.storages._rdb import models
    from sqlalchemy import func, select

    trial = models.TrialModel
    # Optuna 5 stores UTC in the column; its TrialModel.datetime_start, a property, reads
    # it back as local time (that property cannot be selected, the column it wraps can)
    utc = getattr(trial, "_datetime_start_utc", None)
    column = trial.datetime_start if utc is None else utc
    out: dict[int, dict[str, int]] = {}
    starts: dict[int, datetime] = {}
    for sid, state, count, start in conn.execute(
            select(trial.study_id, trial.state, func.count(), func.min(column))
            .group_by(trial.study_id, trial.state)):
        out.setdefault(sid, {})[state.name] = int(count)
        if start is not None and (sid not in starts or start < starts[sid]):
            starts[sid] = start
    if utc is not None:
        starts = {sid: s.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)
                  for sid, s in starts.items()}
    return out, starts


def _steps(conn: Any) -> dict[int, float]:
    """The sum of each study's trials' ``steps_used``: one short row per trial."""
    from optuna.storages._rdb import models
    from sqlalchemy import select

    trial, attr = models.TrialModel, models.TrialUserAttributeModel
    out: dict[int, float] = {}
    for sid, value in conn.execute(select(trial.study_id, attr.value_json)
                                   .join(attr, attr.trial_id == trial.trial_id)
                                   .where(attr.key == "steps_used")):
        out[sid] = out.get(sid, 0) + (json.loads(value) or 0)
    return out


def _scheduled(conn: Any) -> set[int]:
    """The studies with a completed trial that stores a spec."""
    from optuna.storages._rdb import models
    from optuna.trial import TrialState
    from sqlalchemy import select

    trial, attr = models.TrialModel, models.TrialUserAttributeModel
    return set(conn.execute(select(trial.study_id).distinct()
                            .join(attr, attr.trial_id == trial.trial_id)
                            .where(attr.key == "spec", trial.state == TrialState.COMPLETE))
               .scalars())


def _from_trials(name: str, directions: Iterable[Any], user_attrs: Mapping[str, Any],
                 keys: tuple[str, ...], trials: Iterable[Any]) -> StudyOverview:
    states: dict[str, int] = {}
    steps: float = 0
    scheduled = False
    starts = []
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        steps += trial.user_attrs.get("steps_used") or 0
        scheduled |= trial.state.name == "COMPLETE" and bool(trial.user_attrs.get("spec"))
        if trial.datetime_start is not None:
            starts.append(trial.datetime_start)
    return StudyOverview(name, tuple(d.name.lower() for d in directions), states, steps,
                         {k: user_attrs[k] for k in keys if k in user_attrs}, scheduled,
                         min(starts, default=None))
