"""A running trial's heartbeat: beaten from a thread while a worker trains it, and the
trials that never got one failed so that their configuration runs again.

Optuna's heartbeats (``RDBStorage(heartbeat_interval=...)``) tell another worker that a
trial's process is still alive; :class:`Heartbeat` beats them for the trial a worker
runs, and :func:`fail_beatless_trials` covers the trial that never got its first beat,
which Optuna's ``fail_stale_trials`` never calls stale.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

__all__ = ["Heartbeat", "fail_beatless_trials"]


class Heartbeat:
    """Beats one running trial's heartbeat from a thread; a failed beat is retried.

    Each trial's thread has its own stop event, and :meth:`stop` also takes a thread
    that never started (a ``KeyboardInterrupt`` raised inside ``Thread.start``), where it
    failed with ``cannot join thread before it is started``.
    """

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, trial_id: int) -> None:
        self.storage.record_heartbeat(trial_id)  # at once: a trial without beats never goes stale
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(trial_id, self._stop),
                                        daemon=True)
        self._thread.start()

    def _beat(self, trial_id: int, stop: threading.Event) -> None:
        while not stop.wait(self.storage.heartbeat_interval):
            try:
                self.storage.record_heartbeat(trial_id)
            except Exception:  # the database is away: beat again next interval
                continue

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            with contextlib.suppress(RuntimeError):  # never started: it has nothing to stop
                thread.join()


def fail_beatless_trials(study: Any, grace_period: float) -> list[int]:
    """Fail, and re-queue like stale ones, running trials that never got a heartbeat.

    A worker whose connection dies between creating its trial and its first heartbeat
    leaves a RUNNING trial with no heartbeat at all, which Optuna's
    ``fail_stale_trials`` never calls stale (it skips trials without beats): the study
    would wait for it for ever. Such a trial older than ``2 * grace_period + 10`` s (by
    the trial's own start time, so clocks should roughly agree) is failed here and handed
    to the storage's stale-trial callback, which queues its configuration again.
    Returns the trial ids it failed.
    """
    import copy
    import datetime

    import optuna
    from optuna.storages._rdb import models
    from optuna.trial import TrialState
    from sqlalchemy.orm import selectinload

    storage = study._storage
    rdb = getattr(storage, "_backend", storage)
    if not hasattr(rdb, "scoped_session"):
        return []
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=2 * grace_period + 10)
    session = rdb.scoped_session()
    try:
        running = (session.query(models.TrialModel)
                   .options(selectinload(models.TrialModel.heartbeats))
                   .filter(models.TrialModel.state == TrialState.RUNNING)
                   .filter(models.TrialModel.study_id == study._study_id).all())
        orphans = [t.trial_id for t in running if not t.heartbeats
                   and t.datetime_start is not None and t.datetime_start < cutoff]
    finally:
        rdb.scoped_session.remove()
    failed = []
    for trial_id in orphans:
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker got there first
    callback = storage.get_heartbeat_stale_trial_callback()
    for trial_id in failed if callback is not None else ():
        callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return failed
