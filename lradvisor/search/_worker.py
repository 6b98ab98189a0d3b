"""``run_worker``: one process's share of a study that many processes and machines run.

lradvisor does not run its own cluster: the study database is the shared brain
(PostgreSQL across machines, an SQLite file on one) and each worker is an ordinary
process. A worker

1. opens the database (:func:`~lradvisor.search._shared.open_shared_storage`: schema
   under a lock, heartbeats, retry of stale trials) and the study, whose settings (the
   trainable, profile, rungs, target) were stored when it was created;
2. repeats, holding the study's lock only while it claims: fail stale trials (their
   configuration is queued again), take a queued trial if there is one, else
   :func:`~lradvisor.search._claim.decide` the next run; then release the lock and
   train, beating the trial's heartbeat;
3. stops when the study needs nothing more (it stores the recommendation), when its
   own ``n_trials`` share or ``timeout`` is reached, or when the database has been
   unreachable for ``patience`` seconds (one clear line; everything finished is stored).

Each trial records the worker that ran it (``user_attrs["worker"]``, ``host:pid``).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.search._claim import DONE, WAIT, decide
from lradvisor.search._heap import start_objects_frozen
from lradvisor.search._heartbeat import Heartbeat as _Heartbeat
from lradvisor.search._heartbeat import fail_beatless_trials
from lradvisor.search._interrupt import ctrl_c_held, ctrl_c_remembered
from lradvisor.search._lock import StorageLock
from lradvisor.search._rungs import INTERRUPTED, Planned, Record
from lradvisor.search._shared import DEFAULT_GRACE, DEFAULT_HEARTBEAT, open_shared_storage
from lradvisor.search._trial import TrialRunner, process_name, record_of

__all__ = ["WorkerResult", "fail_beatless_trials", "run_worker", "worker_name"]



def worker_name() -> str:
    """``host:pid``, how trials name the worker that ran them."""
    return process_name()


@dataclass
class WorkerResult:
    """What :func:`run_worker` returns.

    Attributes:
        study: the Optuna study.
        worker: this worker's name (``host:pid``).
        trials_run: trials this worker ran to an end.
        reason: why it stopped: ``done`` (the study needs nothing more), ``n_trials``
            (its share), ``timeout`` or ``interrupted``.
        records: this worker's trials.
    """

    study: Any
    worker: str
    trials_run: int = 0
    reason: str = "done"
    records: list[Record] = field(default_factory=list)


class _DatabaseLost(BaseException):
    """The database went away during a trial (a BaseException: no ``except Exception``
    in the trainable or the runner records it as the trial's own failure)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class _ClaimingRunner(TrialRunner):
    """A :class:`TrialRunner` whose new trial is claimed under the study lock.

    The lock is held from the decision until the trial exists and has its first
    heartbeat; training runs without it.
    """

    lock: Any = None
    heartbeat: Any = None
    worker: str = ""
    queued: int | None = None  # the number of the waiting trial to take, if any

    def _reporter(self, curve: Any, last: list[int], *,
                  prune: bool) -> Callable[[int, float], None]:
        """The base reporter, but a lost database is not the trainable's fault: it leaves
        the trial running (the heartbeat check re-queues it) instead of failing it."""
        report = super()._reporter(curve, last, prune=prune)

        def on_report(step: int, value: float) -> None:
            try:
                report(step, value)
            except Exception as err:
                if _is_database_error(err):
                    raise _DatabaseLost(err) from err
                raise

        return on_report

    def _ask(self, plan: Planned, attrs: dict[str, Any]) -> Any:
        """The claimed trial, beating, the lock released.

        A Ctrl-C meanwhile is held back until the trial is made and beating (it would
        leave the new trial RUNNING with no beat, for the next worker to wait
        ``2 * grace + 10`` s on and then run again as a stale retry); it then fails the
        trial as interrupted, as during sampling or training.
        """
        trial = None
        try:
            with ctrl_c_held():
                with warnings.catch_warnings():  # "heartbeat ... used with optimize"
                    warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                    if self.queued is not None:
                        trial = self.study.ask()  # pops the oldest waiting trial: the one decided
                        trial.set_user_attr("worker", self.worker)
                    else:
                        trial = super()._ask(plan, {**attrs, "worker": self.worker})
                self.heartbeat.start(trial._trial_id)
                self.lock.release()
        except KeyboardInterrupt:
            if trial is not None:
                self._fail(trial, INTERRUPTED)
            raise
        finally:
            self.lock.release()
        return trial


def run_worker(
    study_name: str,
    storage: str | None = None,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    heartbeat_interval: int = DEFAULT_HEARTBEAT,
    grace_period: int = DEFAULT_GRACE,
    patience: float = 120.0,
    poll: float = 1.0,
    device: str | None = None,
    on_event: Callable[[str], None] | None = None,
) -> WorkerResult:
    """Run trials of the stored study ``study_name`` until it needs no more.

    Args:
        study_name: a study created by ``lradvisor search --create-only`` or
            :func:`~lradvisor.search._jobs.create_search_study`.
        storage: its database URL (default ``$LRADVISOR_STORAGE`` or SQLite).
        n_trials: this worker's share at most (``None``: as many as the study needs).
        timeout: seconds after which this worker takes no new trial (default: the
            study's own timeout, if it has one).
        heartbeat_interval, grace_period: see :func:`open_shared_storage`.
        patience: seconds the database may stay unreachable before the worker stops.
        poll: seconds between looks while other workers' trials run.
        device: for the trial context (``None``: a GPU when present).
        on_event: called with one line per trial and per notable event.

    Raises:
        StudyError: the study does not exist or was not created for workers, the
            database cannot be opened, or it stayed unreachable for ``patience`` s.

    Example:
        >>> run_worker("digits-cnn", "postgresql+psycopg://db/lr")  # doctest: +SKIP
    """
    from lradvisor.storage import resolve_url

    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int)
                                 or n_trials < 1):
        raise StudyError(f"n_trials must be an integer >= 1, but got {n_trials!r}.")
    url = resolve_url(storage)
    rdb = open_shared_storage(url, heartbeat_interval=heartbeat_interval,
                              grace_period=grace_period)
    worker = _Worker(rdb, url, study_name, device, on_event or (lambda line: None))
    settings = worker.settings
    limit = timeout if timeout is not None else settings.get("timeout")
    deadline = time.monotonic() + limit if limit else float("inf")
    try:
        with ctrl_c_remembered() as worker.ctrl_c, start_objects_frozen():
            return worker.loop(n_trials, deadline, patience, poll)
    finally:
        worker.close()


class _Worker:
    """The state of one worker: its study, runner, lock and what it has run."""

    def __init__(self, rdb: Any, url: str, name: str, device: str | None,
                 emit: Callable[[str], None]) -> None:
        from lradvisor.search._jobs import attach

        self.rdb, self.url, self.emit = rdb, url, emit
        self.name = worker_name()
        self.lock = StorageLock(url, f"study:{name}")
        self.heartbeat = _Heartbeat(rdb)
        self.study, self.setup, self.goal, self.settings = attach(rdb, name, self.name)
        self.runner = _ClaimingRunner(
            self.study, self.setup["space"], self.setup["trainable"], self.goal.fidelity,
            self.goal.full_steps, self.setup["profile"].steps_per_epoch, device,
            lock=self.lock, heartbeat=self.heartbeat, worker=self.name,
        )
        self.result = WorkerResult(study=self.study, worker=self.name)
        self.ctrl_c = threading.Event()  # set by Ctrl-C, even where it was swallowed

    def close(self) -> None:
        self.heartbeat.stop()
        self.lock.close()

    def loop(self, n_trials: int | None, deadline: float, patience: float,
             poll: float) -> WorkerResult:
        import optuna

        away_since: float | None = None
        result = self.result
        while True:
            if self.ctrl_c.is_set():  # a Ctrl-C that the code it met swallowed
                result.reason = "interrupted"
                return result
            if n_trials is not None and result.trials_run >= n_trials:
                result.reason = "n_trials"
                return result
            if time.monotonic() >= deadline:
                result.reason = "timeout"
                return result
            try:
                step = self.step()
                away_since = None
            except KeyboardInterrupt:
                result.reason = "interrupted"
                return result
            except optuna.exceptions.UpdateFinishedTrialError:
                self.emit("a trial of this worker was failed as stale meanwhile; "
                          "its configuration is queued again.")
                continue
            except (Exception, _DatabaseLost) as err:
                if isinstance(err, _DatabaseLost):
                    err = err.cause  # type: ignore[assignment]  # a database error
                elif not _is_database_error(err):
                    raise
                away_since = away_since or time.monotonic()
                away = time.monotonic() - away_since
                if away > patience:
                    raise StudyError(
                        f"study database unreachable for {away:.0f} s ({_first_line(err)}); "
                        "worker stopped. Finished trials are stored: start a worker again "
                        "when the database is back."
                    ) from None
                self.emit(f"database unreachable ({_first_line(err)}); retrying.")
                self._pause(poll)
                continue
            if step == DONE:
                result.reason = "done"
                return result
            if step == WAIT:
                self._pause(poll)

    def _pause(self, seconds: float) -> None:
        """Sleep; a Ctrl-C meanwhile stops the loop at its next turn, as one mid-trial
        does (it escaped as ``Aborted.``, without the worker's summary)."""
        try:
            time.sleep(seconds)
        except KeyboardInterrupt:
            self.ctrl_c.set()

    def step(self) -> str:
        """Claim and run one trial; or :data:`WAIT` / :data:`DONE` (lock held meanwhile)."""
        import optuna

        # Not under the lock: finding the device may import torch (seconds), and every
        # other worker waited that out before its first claim.
        self.runner._device()
        self.lock.acquire()
        try:
            with warnings.catch_warnings():  # experimental; "heartbeat ... with optimize"
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                optuna.storages.fail_stale_trials(self.study)
                grace = self.rdb.grace_period or 2 * self.rdb.heartbeat_interval
                fail_beatless_trials(self.study, grace)
            records = [record_of(t) for t in self.study.get_trials(deepcopy=False)]
            waiting = sorted((r for r in records if r.state == "WAITING"),
                             key=lambda r: r.number)
            if waiting:
                rec = waiting[0]
                plan: Any = Planned(rec.spec, rec.rung, rec.seed, rec.origin, rec.parent)
                self.runner.queued = rec.number
            else:
                plan = decide(records, self.goal, self._rules(records))
                self.runner.queued = None
                if plan == DONE:
                    self._finish(records)
                if isinstance(plan, str):
                    return plan
            start = time.monotonic()
            record = self.runner.run(plan)
        finally:
            self.lock.release()
            self.heartbeat.stop()
        self.result.trials_run += 1
        self.result.records.append(record)
        value = "-" if record.value is None else f"{record.value:.4g}"
        self.emit(f"trial {record.number} rung {record.rung} {record.state} {value} "
                  f"({time.monotonic() - start:.1f} s)")
        return "ran"

    def _rules(self, records: list[Record]) -> list[Planned]:
        from lradvisor.search._search import _rules_plans

        return _rules_plans(self.setup, records, int(self.settings.get("rules_first", 3)),
                            self.goal.seed)

    def _finish(self, records: list[Record]) -> None:
        """Store the recommendation (every worker that sees the end does; same result)."""
        from lradvisor.search._recommend import Horizon, recommend

        found = recommend(records, self.goal.fidelity, direction=self.goal.direction,
                          full_steps=self.goal.full_steps, study_name=self.study.study_name,
                          rules=self.setup["rules"], horizon=Horizon.of(self.study.user_attrs))
        if found is not None:
            rec, evidence = found
            self.study.set_user_attr("recommendation", {**rec.to_dict(),
                                                        "evidence_data": evidence})


def _is_database_error(err: BaseException) -> bool:
    """A lost or refused database connection (SQLAlchemy's or Optuna's wrapper of it)."""
    import optuna
    import sqlalchemy.exc

    return isinstance(err, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                            optuna.exceptions.StorageInternalError, ConnectionError))


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__
