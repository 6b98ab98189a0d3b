"""Studies by name: create or resume, load, list, delete (with errors that name them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lradvisor.errors import StudyError

if TYPE_CHECKING:
    import optuna

DIRECTIONS = ("minimize", "maximize")
# Study user attr: a random id written when lradvisor creates a study. A study deleted
# and created again under its name may get its old study id back (SQLite reuses the
# highest freed id), never its uid: a process that keeps a study loaded compares it.
STUDY_UID = "study_uid"


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

    if existing_study_id(storage, name, direction=direction) is not None:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    study = optuna.create_study(
        study_name=name, storage=storage, direction=direction,  # type: ignore[arg-type]
        sampler=sampler, pruner=pruner,
    )
    stamp_study(study)
    return study


def existing_study_id(storage: optuna.storages.BaseStorage, name: str, *,
                      direction: str = "minimize") -> int | None:
    """The id of the stored study ``name`` (``None``: there is none), after what
    :func:`get_study` refuses, checked here with nothing written (``search --lr-find``
    checks it before its sweep trains).

    Raises:
        StudyError: ``direction`` is not minimize/maximize, ``name`` is not a study
            name, or the stored study was created with the other direction.
    """
    if direction not in DIRECTIONS:
        raise StudyError(f"direction must be minimize or maximize, but got {direction!r}.")
    _check_name(name)
    study_id = _study_id(storage, name)
    if study_id is not None:
        stored = "/".join(d.name.lower() for d in storage.get_study_directions(study_id))
        if stored != direction:
            raise StudyError(
                f"study {name!r} exists with direction {stored}, but {direction} was asked; "
                "use another --study name or the stored direction."
            )
    return study_id


def stamp_study(study: optuna.Study) -> str:
    """Give a study just created its :data:`STUDY_UID` (first, before its other attrs)."""
    import uuid

    uid = uuid.uuid4().hex
    study.set_user_attr(STUDY_UID, uid)
    return uid


def study_identity(storage: optuna.storages.BaseStorage,
                   name: str) -> tuple[int, str | None] | None:
    """``(study_id, uid)`` of the stored study ``name`` (uid None: made without one, by
    plain Optuna or an older lradvisor); None when there is no such study.

    Two studies made one after the other under one name differ in this pair even where
    the database gave the second the first's id. On an RDB storage it is one indexed
    query that reads no other attribute (a study's attributes run to many kB).
    """
    found = study_attrs(storage, name, (STUDY_UID,))
    if found is None:
        return None
    uid = found[1].get(STUDY_UID)
    return found[0], uid if isinstance(uid, str) else None


def study_attrs(storage: optuna.storages.BaseStorage, name: str,
                keys: Sequence[str]) -> tuple[int, dict[str, Any]] | None:
    """``(study_id, attrs)`` of the stored study ``name``: those of its user attributes
    named in ``keys`` that it has; None when there is no such study.

    On an RDB storage it is one indexed query that reads only these attributes, so a
    process that keeps a study loaded can check on each request that it is still the
    study loaded (:func:`study_identity`) and still runs as loaded.
    """
    import optuna

    backend = getattr(storage, "_backend", storage)  # under Optuna's per-process cache
    if not isinstance(backend, optuna.storages.RDBStorage):
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:
            return None
        attrs = storage.get_study_user_attrs(study_id)
        return study_id, {key: attrs[key] for key in keys if key in attrs}
    import json

    from optuna.storages._rdb import models
    from sqlalchemy import and_, select

    attr = models.StudyUserAttributeModel
    query = (select(models.StudyModel.study_id, attr.key, attr.value_json)
             .outerjoin(attr, and_(attr.study_id == models.StudyModel.study_id,
                                   attr.key.in_(list(keys))))
             .where(models.StudyModel.study_name == name))
    with backend.engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    return int(rows[0][0]), {key: json.loads(value) for _, key, value in rows
                             if key is not None}


def load_study(storage: optuna.storages.BaseStorage, name: str, *,
               single_objective: bool = False) -> optuna.Study:
    """The stored study ``name``; a :class:`StudyError` listing the stored ones otherwise.

    ``single_objective``: a study of several objectives (plain Optuna's, beside ours) is
    a :class:`StudyError` too, for the readers of a best trial (Optuna has none there)."""
    import optuna

    _check_name(name)
    study_id = _study_id(storage, name)
    if study_id is None:
        names = [s.study_name for s in storage.get_all_studies()]
        raise StudyError(
            f"no study named {name!r} in this storage; stored: {', '.join(names) or '(none)'}."
        )
    directions = storage.get_study_directions(study_id)
    if single_objective and len(directions) > 1:
        raise StudyError(
            f"study {name!r} has {len(directions)} objectives "
            f"({'/'.join(d.name.lower() for d in directions)}): lradvisor makes and reads "
            "studies of one objective (this one was made by other code)."
        )
    return optuna.load_study(study_name=name, storage=storage)


def list_studies(storage: optuna.storages.BaseStorage) -> list[Any]:
    """Optuna's ``FrozenStudy`` of every stored study (name, directions, user attrs), by
    name; it reads no trial (:func:`study_overviews` counts them, all studies at once)."""
    return sorted(storage.get_all_studies(), key=lambda s: s.study_name)


def delete_study(storage: optuna.storages.BaseStorage, name: str) -> None:
    """Delete the study ``name`` and all its trials, in one transaction.

    Raises:
        StudyError: there is no such study, or the database refused the deletion (a
            read-only file, say); then nothing was deleted.
    """
    import optuna
    import sqlalchemy.exc

    load_study(storage, name)  # raises a clear error when missing
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as err:
        cause: BaseException = err  # Optuna wraps SQLAlchemy's error, which wraps the driver's
        while cause.__cause__ is not None:
            cause = cause.__cause__
        reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
        raise StudyError(f"cannot delete study {name!r}: {reason}; nothing was deleted.") \
            from None


def _study_id(storage: optuna.storages.BaseStorage, name: str) -> int | None:
    """The id of the study ``name``, ``None`` when there is none: one indexed query.

    Not Optuna's study summaries, which read every trial of every study: looking each
    study up through them made listing the studies quadratic in their number.
    """
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise StudyError(f"a study name must be a non-empty string, but got {name!r}.")
