"""The stale-trial reaper: a remote trial that stops reporting is failed and re-queued.

Optuna's heartbeat covers ``Study.optimize`` only, not ask-and-tell (optuna issue
3293), so a training job that dies after asking leaves its trial RUNNING forever. The
service watches its own trials instead: a remote trial whose ``last_report_at`` is
older than the timeout is failed (``user_attrs["error"]`` says why) and its exact
configuration is queued again (a WAITING trial with the same parameters, marked
``requeued``), so the next ask hands it out. A configuration is queued again at most
``max_requeues`` times: one that keeps killing its worker stops there.

The reaper runs in the server as a background task every ``reap_interval`` seconds,
and on each ask for that study. Failing is atomic in the database (only one of several
reapers, in one process or many, moves a trial from RUNNING to FAIL), and only that one
queues the configuration again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lradvisor.service._trials import LAST_REPORT, QUEUED, REMOTE, Conflict, NotFound

__all__ = ["reap_all", "reap_study", "reaper_loop"]

_log = logging.getLogger("lradvisor.service")
# Attributes of an abandoned trial that are not carried to its re-queued copy.
_NOT_CARRIED = (REMOTE, LAST_REPORT, "error", "steps_used", "diverged")


def reap_study(study: Any, *, timeout: float, max_requeues: int, now: float) -> list[int]:
    """Fail the remote trials of ``study`` silent for over ``timeout`` s; re-queue them.

    Returns the numbers of the trials this call failed.
    """
    import optuna

    running = study._storage.get_all_trials(
        study._study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    stale = [t for t in running if t.user_attrs.get(REMOTE)
             and now - float(t.user_attrs.get(LAST_REPORT) or 0.0) > timeout]
    failed = []
    for trial in stale:
        if _fail(study, trial, timeout, now):
            failed.append(trial.number)
            _requeue(study, trial, max_requeues)
    return failed


def _fail(study: Any, trial: Any, timeout: float, now: float) -> bool:
    """Fail ``trial`` unless another request finished it first; whether this call did."""
    import optuna

    storage = study._storage
    silent = now - float(trial.user_attrs.get(LAST_REPORT) or 0.0)
    try:
        storage.set_trial_user_attr(
            trial._trial_id, "error",
            f"abandoned: no report for {silent:.0f} s (timeout {timeout:g} s)")
        storage.set_trial_user_attr(trial._trial_id, "steps_used",
                                    int(max(trial.intermediate_values, default=0)))
        return bool(storage.set_trial_state_values(trial._trial_id,
                                                   optuna.trial.TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def _requeue(study: Any, trial: Any, max_requeues: int) -> None:
    attrs = {k: v for k, v in trial.user_attrs.items() if k not in _NOT_CARRIED}
    count = int(attrs.get("requeues") or 0)
    if count >= max_requeues or not attrs.get("spec"):
        _log.warning("trial %d of %s abandoned %d time(s): not queued again", trial.number,
                     study.study_name, count + 1)
        return
    attrs.update({QUEUED: True, "requeues": count + 1, "requeued_from": trial.number,
                  "origin": "requeued"})
    study.enqueue_trial(dict(trial.params), user_attrs=attrs, skip_if_exists=False)
    _log.info("trial %d of %s abandoned: its configuration is queued again", trial.number,
              study.study_name)


def reap_all(trials: Any) -> dict[str, list[int]]:
    """Reap every study of ``trials``' storage that has running remote trials.

    Only those studies are read (found in one query): the others' trials are not.
    """
    import optuna

    from lradvisor.storage._overview import running_studies

    out: dict[str, list[int]] = {}
    storage = trials.storage
    for name in running_studies(storage, REMOTE):
        try:
            study_id = storage.get_study_id_from_name(name)
            running = storage.get_all_trials(study_id, deepcopy=False,
                                             states=(optuna.trial.TrialState.RUNNING,))
            if not any(t.user_attrs.get(REMOTE) for t in running):
                continue
            # as stored now: a study made again since it was loaded is loaded anew
            study = trials.handle(name).study
            failed = reap_study(study, timeout=trials.trial_timeout,
                                max_requeues=trials.max_requeues, now=trials.clock())
        except (KeyError, NotFound, Conflict):  # deleted or made again meanwhile
            trials.forget(name)
            continue
        if failed:
            out[name] = failed
    return out


async def reaper_loop(trials: Any, interval: float) -> None:
    """Reap every ``interval`` seconds until cancelled; errors are logged, never fatal."""
    from starlette.concurrency import run_in_threadpool

    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(reap_all, trials)
        except Exception:  # a database hiccup must not stop the sweeps
            _log.exception("stale-trial sweep failed")
