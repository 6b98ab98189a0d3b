"""Who ran what in a study shared by workers: per-worker progress, stale and retried trials.

Pure functions over Optuna's frozen trials, for ``lradvisor studies show``:

* :func:`worker_rows`: per worker (``user_attrs["worker"]``, ``host:pid``), its trials
  by state and the last time one of them started or ended;
* :func:`retry_rows`: every trial failed as stale (its worker stopped beating: killed,
  machine lost) and the trial that re-ran its configuration, if any.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["retry_rows", "worker_rows"]

STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL")


def worker_rows(trials: Iterable[Any]) -> list[dict[str, Any]]:
    """One dict per worker: ``worker``, a count per state, ``last`` (datetime), by name."""
    rows: dict[str, dict[str, Any]] = {}
    for trial in trials:
        name = trial.user_attrs.get("worker")
        if not name:
            continue
        row = rows.setdefault(name, {"worker": name, **{s: 0 for s in STATES}, "last": None})
        if trial.state.name in STATES:
            row[trial.state.name] += 1
        seen = trial.datetime_complete or trial.datetime_start
        if seen is not None and (row["last"] is None or seen > row["last"]):
            row["last"] = seen
    return [rows[k] for k in sorted(rows)]


def retry_rows(trials: Iterable[Any]) -> list[dict[str, Any]]:
    """Stale trials (failed with no error of their own) and their re-runs, by number.

    Each dict: ``number``, ``worker`` (the one that stopped), ``rerun`` (the retry's
    number, ``None`` when none was queued), ``rerun_state``.
    """
    trials = list(trials)
    retries = {t.system_attrs.get("retry_history", [None])[-1]: t for t in trials
               if t.system_attrs.get("failed_trial") is not None}
    out = []
    for trial in trials:
        if trial.state.name != "FAIL" or trial.user_attrs.get("error"):
            continue
        rerun = retries.get(trial.number)
        out.append({"number": trial.number, "worker": trial.user_attrs.get("worker"),
                    "rerun": None if rerun is None else rerun.number,
                    "rerun_state": None if rerun is None else rerun.state.name})
    return out
