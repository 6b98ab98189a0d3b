"""What a resumed study keeps, and what a resume may change.

A study trains one model: a resume with another trainable (or workload) is refused, its
trial values would not compare. The pruner, sampler and seed may change from one call
to the next; the values the study was created with are kept (``pruner``, ``sampler``,
``seed``), and each resume that changes them is recorded after them, in order, under
``resumes`` (``studies show`` lists them). The study runs with the latest:
:func:`run_settings`, which workers read too. A setting a call does not give (``None``)
is the study's, as with Optuna's ``load_if_exists``; a new study's is the default
(:func:`given_or_stored`). The peak-LR range is kept the same way: one given (an LR range
test's, ``search --lr-find``) is stored with the study as ``lr_range``, and a resume or
worker that gives none searches the study's, not the rules' (:func:`keep_lr_range`); a
resume that gives another is recorded in ``resumes`` with the range before it.

Example:
    >>> run_settings({"pruner": "plateau", "sampler": "tpe", "seed": 0,
    ...               "resumes": [{"pruner": "median", "sampler": "tpe", "seed": 0,
    ...                            "at": "2025-01-01T00:00:00+00:00"}]})
    {'pruner': 'median', 'sampler': 'tpe', 'seed': 0}
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from lradvisor.errors import StudyError

__all__ = ["LR_RANGE_ATTR", "RESUMES_ATTR", "RUN_KEYS", "check_same_model", "given_or_stored",
           "keep_lr_range", "keep_or_record", "range_change", "run_settings",
           "stored_lr_range"]

RUN_KEYS = ("pruner", "sampler", "seed")
RESUMES_ATTR = "resumes"
LR_RANGE_ATTR = "lr_range"
_DEFAULTS = {"pruner": "plateau", "sampler": "tpe", "seed": 0}


def run_settings(attrs: dict[str, Any]) -> dict[str, Any]:
    """The pruner, sampler and seed a study runs with now: its last resume's that changed
    them, else those it was created with (Optuna's defaults where none is stored)."""
    resumes = attrs.get(RESUMES_ATTR) or []
    last = resumes[-1] if resumes else attrs
    return {key: last[key] if last.get(key) is not None else attrs.get(key, _DEFAULTS[key])
            for key in RUN_KEYS}


def given_or_stored(attrs: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The pruner, sampler and seed a call runs with: each one ``given`` (not ``None``),
    else the one the study runs with now (:func:`run_settings` of its ``attrs``), which
    for a new study (no ``attrs``) is the default.

    Example:
        >>> given_or_stored({"pruner": "median", "sampler": "tpe", "seed": 7},
        ...                 {"pruner": None, "sampler": "random", "seed": None})
        {'pruner': 'median', 'sampler': 'random', 'seed': 7}
    """
    now = run_settings(attrs)
    return {key: now[key] if given.get(key) is None else given[key] for key in RUN_KEYS}


def keep_or_record(study: Any, given: dict[str, Any],
                   lr_range: tuple[Any, Any] | None = None) -> None:
    """Store a resume's pruner, sampler and seed without overwriting the creation's:
    a value the study lacks is filled in; settings that differ from those it runs
    with now are appended, with the time, to its ``resumes``. So is a new peak-LR range
    (``lr_range``: the one searched before and the resume's, when they differ; see
    :func:`range_change`), as ``lr_range`` and ``lr_range_was`` beside the run settings."""
    from datetime import datetime, timezone

    attrs = study.user_attrs
    for key in RUN_KEYS:
        if attrs.get(key) is None:
            study.set_user_attr(key, given[key])
    now = run_settings(study.user_attrs)
    if all(now[key] == given[key] for key in RUN_KEYS) and lr_range is None:
        return
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entry = {**{key: given[key] for key in RUN_KEYS}, "at": at}
    if lr_range is not None:
        entry.update({LR_RANGE_ATTR: lr_range[1], f"{LR_RANGE_ATTR}_was": lr_range[0]})
    study.set_user_attr(RESUMES_ATTR, [*(attrs.get(RESUMES_ATTR) or []), entry])


def range_change(attrs: dict[str, Any], given: Any) -> tuple[Any, Any] | None:
    """``(was, new)`` when a resume of the study stored with ``attrs`` was given the
    peak-LR range ``given`` (a new range test's) and it is not the one the study
    searched: its stored range, else its stored space's (the rules'); ``None`` when
    nothing was given, or the same range. Each as ``[low, high]``, ``was`` ``None`` for
    a study that stores neither.

    Example:
        >>> range_change({"lr_range": [0.001, 0.1]}, (0.002, 0.2))
        ([0.001, 0.1], [0.002, 0.2])
    """
    if given is None:
        return None
    new = [float(given[0]), float(given[1])]
    kept = stored_lr_range(attrs)
    space = attrs.get("space") or {}
    if kept is None and "lr_low" in space and "lr_high" in space:
        kept = (space["lr_low"], space["lr_high"])
    was = None if kept is None else [float(kept[0]), float(kept[1])]
    return None if was == new else (was, new)


def stored_lr_range(attrs: dict[str, Any]) -> tuple[float, float] | None:
    """The peak-LR range stored with a study (its user attributes ``attrs``): its
    ``lr_range``, else, for a study stored before that was, its ``lr_find`` result's;
    ``None`` for a study that searches the rules' range.

    Example:
        >>> stored_lr_range({"lr_find": {"suggestion": {"low": 0.001, "high": 0.4}}})
        (0.001, 0.4)
    """
    kept = attrs.get(LR_RANGE_ATTR)
    if kept is None:
        found = (attrs.get("lr_find") or {}).get("suggestion") or {}
        kept = (found["low"], found["high"]) if "low" in found and "high" in found else None
    return None if kept is None else (float(kept[0]), float(kept[1]))


def keep_lr_range(setup: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Give ``setup`` (a search's, as ``_prepare`` made it) the study's peak-LR range:
    the one this call was given (``setup["lr_range"]``, a new range test's), else the
    one stored with the study (:func:`stored_lr_range` of its ``attrs``); a study with
    neither keeps the rules' range. ``setup["lr_range"]`` is then the range to store."""
    lr_range = setup.get("lr_range") or stored_lr_range(attrs)
    if lr_range is None:
        return
    low, high = float(lr_range[0]), float(lr_range[1])
    setup["lr_range"] = (low, high)
    setup["space"] = replace(setup["space"], lr_low=low, lr_high=high)


def check_same_model(name: str, attrs: dict[str, Any], trainable: str,
                     workload: str | None) -> None:
    """Refuse to resume a study with another workload or trainable than it was made with.

    A study stored without one (plain Optuna's, the service's) is not checked; the same
    file named by another path from here (``./train.py`` for ``train.py``) is the same.

    Raises:
        StudyError: one line naming the stored and the given one.
    """
    kept_workload, kept = attrs.get("workload"), attrs.get("trainable")
    if kept_workload is not None and workload is not None and kept_workload != workload:
        raise StudyError(
            f"study {name!r} was made for workload {kept_workload!r}, not {workload!r}: "
            "trial values of another model do not compare; use another --study name."
        )
    if kept is not None and not _same_trainable(str(kept), trainable):
        raise StudyError(
            f"study {name!r} trains {kept!r}, not {trainable!r}: trial values of another "
            "model do not compare; use another --study name."
        )


def _same_trainable(kept: str, given: str) -> bool:
    """Equal, or one ``file.py:function`` named by two paths that resolve alike here."""
    if kept == given:
        return True
    kept_file, _, kept_fn = kept.rpartition(":")
    given_file, _, given_fn = given.rpartition(":")
    if kept_fn != given_fn or not kept_file.endswith(".py") or not given_file.endswith(".py"):
        return False
    return Path(kept_file).expanduser().resolve() == Path(given_file).expanduser().resolve()
