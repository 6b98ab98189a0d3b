"""The studies a service process keeps loaded, checked against the database per request.

A loaded study (:class:`StudyHandle`) holds what is costly to build: its sampler, its
search space, and Optuna's cache of its finished trials. Another process may delete the
study, or delete it and create another under its name, at any time. Each request
therefore looks the name up first (one indexed query) and compares the study's id and
its :data:`~lradvisor.storage.STUDY_UID`: the id alone does not tell two studies apart,
since SQLite gives a study made again the id just freed. A study made again is loaded
anew, with a cache of its own: the old study's cached trials and settings are never
answered for it.

The same query reads the pruner and sampler the study runs with (those of its last
``lradvisor search`` resume that changed them, :func:`~lradvisor.search._settings.
run_settings`): a study resumed with others since it was loaded is loaded anew, so the
next ask samples and the next report is judged as the study's workers do, without a
service restart. The few attributes this reads are small; the whole set (many kB) is
read only when a study is loaded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lradvisor.errors import StudyError

__all__ = ["Conflict", "NotFound", "StudyHandle", "StudyHandles"]


class NotFound(StudyError):
    """No such study, trial or family (HTTP 404)."""


class Conflict(StudyError):
    """The request does not fit the trial's or study's state (HTTP 409)."""


@dataclass
class StudyHandle:
    """A loaded study with what remote trials need from it, kept per process.

    The study's search space, fidelity and pruner are read from its user attributes
    (written by ``lradvisor search`` or ``POST /v1/studies``) on first use.
    ``runs_with`` is the ``(pruner, sampler)`` it was loaded with.
    """

    study: Any
    uid: str | None = None
    runs_with: tuple[Any, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _space: Any = None

    @property
    def identity(self) -> tuple[int, str | None]:
        """``(study_id, uid)``, as :func:`~lradvisor.storage.study_identity` reads it."""
        return self.study._study_id, self.uid

    @property
    def storage(self) -> Any:
        """This study's storage: Optuna's cache of its trials, its own."""
        return self.study._storage

    @property
    def attrs(self) -> dict[str, Any]:
        """The study's user attributes (read from the storage on each access)."""
        return self.study.user_attrs

    def space_and_length(self) -> tuple[Any, Any, int]:
        """``(SearchSpace, Fidelity, full_steps)``, read once (a search never changes
        them); a :class:`Conflict` when the study has none."""
        from lradvisor.rules import SearchPrior
        from lradvisor.search import Fidelity, SearchSpace

        if self._space is not None:
            return self._space
        attrs = self.attrs
        if not attrs.get("prior") or not attrs.get("full_steps"):
            raise Conflict(
                f"study {self.study.study_name!r} has no search space or run length: it was "
                "not made by lradvisor search or POST /v1/studies."
            )
        families = list((attrs.get("space") or {}).get("families") or []) or None
        full = int(attrs["full_steps"])
        # as lradvisor search samples: a length a rule gives in steps is the same fraction
        # of the run at every proxy length (in steps, it does not fit a short proxy)
        space = SearchSpace.from_prior(SearchPrior.from_dict(attrs["prior"]), families,
                                       direction=self.study.direction.name.lower(),
                                       total_steps=full)
        fidelity = Fidelity.from_dict(attrs["fidelity"]) if attrs.get("fidelity") else Fidelity()
        self._space = (space, fidelity, full)
        return self._space


class StudyHandles:
    """The loaded studies of one storage, by name.

    Args:
        storage: the storage, without Optuna's per-process cache: each handle wraps it
            in a cache of its own, dropped with the handle.
    """

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self._handles: dict[str, StudyHandle] = {}
        self._lock = threading.Lock()

    def get(self, name: str, *, reload: bool = True) -> StudyHandle:
        """The study ``name`` as stored now; :class:`NotFound` when there is none.

        A study made again since it was loaded is loaded anew; with ``reload=False``
        (a request about one of its trials: a trial number of the old study) it is a
        :class:`Conflict` instead, and the next request gets the new study. A study
        resumed with another pruner or sampler since is loaded anew in either case.
        """
        from lradvisor.search._settings import RESUMES_ATTR, RUN_KEYS
        from lradvisor.storage import STUDY_UID, study_attrs

        # what run_settings reads: the creation's settings and the resumes after them
        found = study_attrs(self.storage, name, (STUDY_UID, *RUN_KEYS, RESUMES_ATTR))
        now: tuple[int, str | None] | None = None
        runs: tuple[Any, Any] | None = None
        if found is not None:
            uid = found[1].get(STUDY_UID)
            now, runs = (found[0], uid if isinstance(uid, str) else None), _runs_with(found[1])
        with self._lock:
            handle = self._handles.get(name)
            if handle is not None and (handle.identity, handle.runs_with) != (now, runs):
                del self._handles[name]
        if now is None:
            gone = " (deleted meanwhile)" if handle is not None else ""
            raise NotFound(f"no study named {name!r}{gone}.")
        if handle is not None and handle.identity != now and not reload:
            raise Conflict(_MADE_AGAIN.format(name=name))
        if handle is not None and (handle.identity, handle.runs_with) == (now, runs):
            return handle
        handle = self._load(name, now)
        with self._lock:
            return self._handles.setdefault(name, handle)

    def forget(self, name: str) -> None:
        """Drop the loaded study ``name`` (the next request loads it anew)."""
        with self._lock:
            self._handles.pop(name, None)

    @contextlib.contextmanager
    def in_use(self, name: str) -> Iterator[None]:
        """Study ``name`` deleted (404) or made again (409) while a request used it.

        Optuna then raises ``KeyError`` (the study or trial id is gone); the handle is
        dropped and the caller told what happened, instead of a 500. A ``KeyError``
        while the study is as loaded is a real error and goes on.
        """
        from lradvisor.storage import study_identity

        try:
            yield
        except KeyError:
            with self._lock:
                handle = self._handles.get(name)
            if handle is None:
                raise
            now = study_identity(self.storage, name)
            if now == handle.identity:
                raise
            self.forget(name)
            if now is None:
                raise NotFound(f"no study named {name!r} (deleted meanwhile).") from None
            raise Conflict(_MADE_AGAIN.format(name=name)) from None

    def _load(self, name: str, identity: tuple[int, str | None]) -> StudyHandle:
        import optuna

        from lradvisor.search import make_sampler
        from lradvisor.search._pruner import make_pruner
        from lradvisor.search._settings import run_settings

        study_id, uid = identity
        try:
            attrs = self.storage.get_study_user_attrs(study_id)
        except KeyError:  # deleted since it was looked up
            raise NotFound(f"no study named {name!r}.") from None
        # The pruner and sampler the study runs with now, as workers read them: those of
        # its last resume that changed them, else its creation's. The sampler is not
        # seeded: many clients ask in any order, and a per-process seed would hand out
        # the same samples again after every restart.
        run = run_settings(attrs)
        sampler = make_sampler(run["sampler"], None)
        pruner = make_pruner(run["pruner"])
        cached = optuna.storages.get_storage(self.storage)  # a new cache, this study's
        study = optuna.Study(name, cached, sampler=sampler, pruner=pruner)
        if study._study_id != study_id:  # made again between the two reads
            raise Conflict(_MADE_AGAIN.format(name=name))
        return StudyHandle(study, uid, runs_with=_runs_with(attrs))


_MADE_AGAIN = "study {name!r} was deleted and made again meanwhile; ask for a new trial."


def _runs_with(attrs: dict[str, Any]) -> tuple[Any, Any]:
    """``(pruner, sampler)`` the study runs with now (see ``run_settings``)."""
    from lradvisor.search._settings import run_settings

    run = run_settings(attrs)
    return run["pruner"], run["sampler"]
