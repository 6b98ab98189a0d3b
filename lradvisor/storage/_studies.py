"""Studies by name: create or resume, load, list, delete (with errors that name them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lradvisor.errors import StudyError

if TYPE_CHECKING:
    import optuna

DIRECTIONS = ("minimize", "maximize")


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


def _summaries(storage: optuna.storages.BaseStorage) -> list[Any]:
    import optuna

    return optuna.get_all_study_summaries(storage, include_best_trial=False)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise StudyError(f"a study name must be a non-empty string, but got {name!r}.")
