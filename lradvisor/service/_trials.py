"""Remote trials: ask, report, complete, fail — a study's trials run anywhere.

A training job asks for a trial over HTTP, trains with the schedule it gets, reports
``(step, value)`` as it goes and is told whether to stop (the study's own pruner, the
plateau pruner by default, decides exactly as for a local trial), then completes or
fails the trial. Everything lives in the study database: a remote trial is an Optuna
trial with ``user_attrs["remote"] = True``, its liveness is ``user_attrs
["last_report_at"]`` (Unix seconds), so any number of service processes can serve one
study. Optuna's heartbeat does not cover ask-and-tell (optuna issue 3293); the reaper
(:mod:`lradvisor.service._reaper`) fails remote trials that stop reporting and queues
their configuration again.

Remote trials are first-rung proxies: ``total_steps`` is the first rung's share of the
study's full run. Promotions to longer rungs are left to ``lradvisor search`` resuming
the study.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Literal

from lradvisor.errors import LRAdvisorError, SpecError
from lradvisor.service._handles import Conflict, NotFound, StudyHandle, StudyHandles

__all__ = [
    "LAST_REPORT",
    "REMOTE",
    "QUEUED",
    "Conflict",
    "NotFound",
    "RemoteTrials",
    "StudyHandle",
]

REMOTE = "remote"  # user attr: this trial was asked for over HTTP
LAST_REPORT = "last_report_at"  # user attr: Unix seconds of its last sign of life
QUEUED = "remote_queued"  # user attr of a WAITING trial kept for remote asks
# Sampling tries before giving up when sampled specs do not fit the proxy length.
_SAMPLE_TRIES = 5


class RemoteTrials:
    """The ask / report / complete / fail loop over one storage.

    Args:
        storage: an Optuna storage (from :func:`lradvisor.storage.open_storage`).
        trial_timeout: seconds without a report before a trial counts as abandoned.
        max_requeues: how often one abandoned configuration is queued again.
        clock: Unix seconds (tests pass a fake one).
    """

    def __init__(self, storage: Any, *, trial_timeout: float = 600.0, max_requeues: int = 2,
                 clock: Callable[[], float] = time.time) -> None:
        import optuna

        storage = optuna.storages.get_storage(storage)  # a URL is opened
        # Optuna's trial cache is keyed by study id, which a study made again may get
        # back: each loaded study has a cache of its own instead (see ._handles).
        self._handles = StudyHandles(getattr(storage, "_backend", storage))
        self.trial_timeout = float(trial_timeout)
        self.max_requeues = int(max_requeues)
        self.clock = clock

    @property
    def storage(self) -> Any:
        """The storage, uncached: for what is not one loaded study's (names, summaries)."""
        return self._handles.storage

    def handle(self, name: str, *, reload: bool = True) -> StudyHandle:
        """The study ``name`` as stored now (see :meth:`StudyHandles.get`)."""
        return self._handles.get(name, reload=reload)

    def forget(self, name: str) -> None:
        """Drop the loaded study ``name`` (the next request loads it anew)."""
        self._handles.forget(name)

    def in_use(self, name: str) -> AbstractContextManager[None]:
        """Study ``name`` deleted (404) or made again (409) during the request."""
        return self._handles.in_use(name)

    # -- ask -----------------------------------------------------------------------------
    def ask(self, name: str) -> dict[str, Any]:
        """A trial to run: a queued configuration first (an abandoned one, or the rules'
        picks of a study made here), else a new sample.

        Returns the JSON of :class:`~lradvisor.service._models.AskOut`.
        """
        from lradvisor.service._reaper import reap_study

        handle = self.handle(name)
        space, fidelity, full = handle.space_and_length()
        reap_study(handle.study, timeout=self.trial_timeout, max_requeues=self.max_requeues,
                   now=self.clock())
        with handle.lock:  # the sampler is this process's: one sample at a time
            for _ in range(_SAMPLE_TRIES):
                found = self._claim_requeued(handle) or self._new_trial(handle, fidelity, full)
                trial, attrs = found
                try:
                    spec = self._sample(handle, space, trial, attrs)
                except SpecError as err:
                    self._finish(handle, trial.number, "FAIL", None,
                                 error=f"spec does not fit the search: {err}")
                    continue
                # the spec is the full run's; the client trains its length's peak
                proxy = space.proxy_spec(spec, float(attrs.get("fidelity", 1.0)))
                if proxy is not spec:
                    handle.storage.set_trial_user_attr(trial._trial_id, "proxy_peak_lr",
                                                      proxy.peak_lr)
                return {
                    "study": name, "study_uid": handle.uid, "trial": trial.number,
                    "spec": proxy.to_dict(),
                    "peak_lr": proxy.peak_lr, "total_steps": attrs["total_steps"],
                    "full_steps": full, "rung": attrs.get("rung", 0),
                    "requeued_from": attrs.get("requeued_from"),
                    "origin": attrs.get("origin", "remote"),
                }
        raise Conflict(f"study {name!r}: {_SAMPLE_TRIES} sampled schedules in a row did not "
                       "fit the proxy length; check the study's search space.")

    def _new_trial(self, handle: StudyHandle, fidelity: Any, full: int) -> tuple[Any, dict]:
        import optuna

        from lradvisor.search import rung_steps

        steps = rung_steps(fidelity.rungs[0], full)
        attrs = {"rung": 0, "fidelity": fidelity.rungs[0], "total_steps": steps,
                 "full_steps": full, "seed": 0, "origin": "remote", "parent": None,
                 REMOTE: True, LAST_REPORT: self.clock()}
        template = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                             user_attrs=attrs)
        # Created RUNNING with its attributes in one commit, never through the waiting
        # queue: a local search's queued trials stay its own.
        trial_id = handle.storage.create_new_trial(handle.study._study_id, template_trial=template)
        return self._trial(handle, trial_id), attrs

    def _claim_requeued(self, handle: StudyHandle) -> tuple[Any, dict] | None:
        import optuna

        states = (optuna.trial.TrialState.WAITING,)
        queued = [t for t in handle.storage.get_all_trials(handle.study._study_id,
                                                          deepcopy=False, states=states)
                  if t.user_attrs.get(QUEUED)]
        # Abandoned configurations first (they were started before anything still
        # queued), then in queue order.
        queued.sort(key=lambda t: (t.user_attrs.get("requeued_from") is None, t.number))
        for waiting in queued:
            try:
                # Its sign of life first, then the mark a reaper looks for, then the
                # claim: a reaper (another ask's runs outside the ask lock) reading the
                # study between any two of these writes never sees it remote and silent.
                handle.storage.set_trial_user_attr(waiting._trial_id, LAST_REPORT,
                                                  self.clock())
                handle.storage.set_trial_user_attr(waiting._trial_id, REMOTE, True)
                # atomic: only one asker moves it from WAITING to RUNNING
                claimed = handle.storage.set_trial_state_values(
                    waiting._trial_id, state=optuna.trial.TrialState.RUNNING)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            if claimed:
                return self._trial(handle, waiting._trial_id), dict(waiting.user_attrs)
        return None

    def _trial(self, handle: StudyHandle, trial_id: int) -> Any:
        import optuna

        # A fresh Study object per ask: its per-thread trial cache starts empty, so the
        # sampler sees every trial finished since the last ask (as Study.ask resets it).
        study = handle.study
        fresh = optuna.Study(study.study_name, handle.storage, sampler=study.sampler,
                             pruner=study.pruner)
        return optuna.Trial(fresh, trial_id)

    def _sample(self, handle: StudyHandle, space: Any, trial: Any, attrs: dict) -> Any:
        from lradvisor.schedules import ScheduleSpec

        fixed = ScheduleSpec.from_json(attrs["spec"]) if attrs.get("spec") else None
        spec = space.sample(trial, fixed)
        spec.multiplier_fn(int(attrs["total_steps"]))  # must fit the proxy length
        if fixed is None:
            handle.storage.set_trial_user_attr(trial._trial_id, "spec", spec.to_json())
        return spec

    # -- report, complete, fail ----------------------------------------------------------
    def report(self, name: str, number: int, step: int, value: float, *,
               study_uid: str | None = None) -> bool:
        """Record ``value`` at ``step``; whether to stop now (then the trial is PRUNED).

        A NaN or infinite value is a divergence: pruned at once, ``diverged`` set. A
        step already reported is ignored, as Optuna's ``Trial.report`` does. Trials of
        the study's last rung are never pruned (they are the final judgement).
        ``study_uid``: the one the ask answered (see :meth:`trial_study`).
        """
        handle = self.trial_study(name, number, study_uid)
        trial_id, frozen = self._running(handle, number)
        total = int(frozen.user_attrs.get("total_steps") or 0)
        if total and step > total:
            raise LRAdvisorError(f"step {step} is beyond trial {number}'s run of {total} steps.")
        now = self.clock()
        with _finished_is_conflict(name, number):
            if step not in frozen.intermediate_values:
                handle.storage.set_trial_intermediate_value(trial_id, step, value)
            if not math.isfinite(value):
                handle.storage.set_trial_user_attr(trial_id, "diverged", True)
                self._finish(handle, number, "PRUNED", None, steps_used=step)
                return True
            if now - float(frozen.user_attrs.get(LAST_REPORT) or 0.0) >= self._granularity:
                handle.storage.set_trial_user_attr(trial_id, LAST_REPORT, now)
            if not self._prunable(handle, frozen):
                return False
            now_trial = copy.copy(frozen)  # as stored now, without reading it back
            now_trial.intermediate_values = {step: value, **frozen.intermediate_values}
            if not handle.study.pruner.prune(_FinishedView(handle.study), now_trial):
                return False
            self._finish(handle, number, "PRUNED", None, steps_used=step)
        return True

    def complete(self, name: str, number: int, value: float, *,
                 study_uid: str | None = None) -> str:
        """Finish the trial with its final ``value``; returns the state it ends in.

        A NaN or infinite value ends it PRUNED with ``diverged`` set, as a local trial.
        """
        handle = self.trial_study(name, number, study_uid)
        trial_id, frozen = self._running(handle, number)
        total = int(frozen.user_attrs.get("total_steps") or 0)
        with _finished_is_conflict(name, number):
            if not math.isfinite(value):
                handle.storage.set_trial_user_attr(trial_id, "diverged", True)
                return self._finish(handle, number, "PRUNED", None, steps_used=total)
            return self._finish(handle, number, "COMPLETE", value, steps_used=total)

    def fail(self, name: str, number: int, reason: str, *,
             study_uid: str | None = None) -> str:
        """Fail the trial with ``reason`` (kept as ``user_attrs["error"]``); not re-queued."""
        handle = self.trial_study(name, number, study_uid)
        _, frozen = self._running(handle, number)
        steps = max(frozen.intermediate_values, default=0)
        with _finished_is_conflict(name, number):
            return self._finish(handle, number, "FAIL", None, steps_used=steps,
                                error=f"remote: {reason}")

    def trial_study(self, name: str, number: int, study_uid: str | None) -> StudyHandle:
        """The study a request about trial ``number`` reaches: the one loaded here (a
        study made again since is a :class:`Conflict`), and, when the caller sends the
        ``study_uid`` its ask answered, that one: a service that never saw the old study
        (restarted between its deletion and the new one's making) tells them apart so.
        Without ``study_uid`` the name and number alone find the trial (unchecked)."""
        handle = self.handle(name, reload=False)
        if study_uid is not None and study_uid != handle.uid:
            now = f"now {handle.uid!r}" if handle.uid else "the stored one has none"
            raise Conflict(f"trial {number} was asked for from another study named {name!r} "
                           f"(study_uid {study_uid!r}; {now}): it was deleted and made "
                           "again; ask for a new trial.")
        return handle

    @property
    def _granularity(self) -> float:
        """Liveness is written at most this often (seconds): one commit less per report."""
        return min(1.0, self.trial_timeout / 10)

    def _prunable(self, handle: StudyHandle, frozen: Any) -> bool:
        """Whether the trial's rung may be pruned (not the last: the final judgement)."""
        try:
            fidelity = handle.space_and_length()[1]
        except Conflict:  # not a searchable study: no rungs, prune as Optuna would
            return True
        return int(frozen.user_attrs.get("rung") or 0) < fidelity.last

    def _running(self, handle: StudyHandle, number: Any) -> tuple[int, Any]:
        """``(trial_id, FrozenTrial)`` of a running remote trial, else 404 / 409."""
        import optuna

        study = handle.study
        try:
            trial_id = handle.storage.get_trial_id_from_study_id_trial_number(
                study._study_id, number)
        except KeyError:
            raise NotFound(f"study {study.study_name!r} has no trial {number}.") from None
        frozen = handle.storage.get_trial(trial_id)
        if not frozen.user_attrs.get(REMOTE):
            raise Conflict(f"trial {number} of study {study.study_name!r} is not a remote "
                           "trial; only trials asked for over HTTP are driven over HTTP.")
        if frozen.state != optuna.trial.TrialState.RUNNING:
            raise Conflict(_not_running(study.study_name, number, frozen))
        return trial_id, frozen

    def _finish(self, handle: StudyHandle, number: int, state: str, value: float | None, *,
                steps_used: int = 0, error: str | None = None) -> str:
        import optuna

        trial_id = handle.storage.get_trial_id_from_study_id_trial_number(
            handle.study._study_id, number)
        handle.storage.set_trial_user_attr(trial_id, "steps_used", int(steps_used))
        if error is not None:
            handle.storage.set_trial_user_attr(trial_id, "error", error[:2000])
        try:
            handle.study.tell(number, value, state=getattr(optuna.trial.TrialState, state))
        except ValueError:  # "Cannot tell a FAIL trial": finished by another request
            frozen = handle.storage.get_trial(trial_id)
            if not frozen.state.is_finished():
                raise
            raise Conflict(_not_running(handle.study.study_name, number, frozen)) from None
        return state


class _FinishedView:
    """The study as a pruner sees it, reading finished trials straight from the database.

    A pruner asks for completed trials only, but Optuna's cached storage first re-reads
    every unfinished trial with all its reports: with many remote trials running, that
    made each report's cost grow with their number. Asked for finished states only, this
    view queries those states in SQL; anything else goes to the study unchanged.
    """

    def __init__(self, study: Any) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        storage = self._study._storage
        backend = getattr(storage, "_backend", None)
        if backend is None or states is None or not all(s.is_finished() for s in states):
            return self._study.get_trials(deepcopy=deepcopy, states=states)
        return backend.get_all_trials(self._study._study_id, deepcopy=deepcopy, states=states)


class _finished_is_conflict:
    """Turns Optuna's "trial already finished" (a race with the reaper) into a 409."""

    def __init__(self, name: str, number: int) -> None:
        self.name, self.number = name, number

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, err: Any, _tb: Any) -> Literal[False]:
        import optuna

        if kind is not None and issubclass(kind, optuna.exceptions.UpdateFinishedTrialError):
            raise Conflict(f"trial {self.number} of study {self.name!r} has finished "
                           "meanwhile (failed as abandoned?); ask for a new trial.") from None
        return False


def _not_running(study: str, number: int, frozen: Any) -> str:
    state = frozen.state.name
    error = frozen.user_attrs.get("error")
    why = f" ({error})" if error else ""
    return (f"trial {number} of study {study!r} is {state}{why}, no longer running; "
            "ask for a new trial.")
