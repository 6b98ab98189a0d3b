"""A study for workers: create it once, attach any number of workers, run N locally.

* :func:`create_search_study` does what :func:`~lradvisor.search.run_search` does
  before its first trial (checks, rules, search space, study attributes) and also
  stores the target (``user_attrs["search"]``: first-rung trials, budget, timeout and
  the inputs a worker needs to rebuild the search), then runs nothing. Workers
  started at once on a new study each call it; the study lock makes it happen once.
* :func:`attach` is a worker's side: the study, its search set-up rebuilt from the
  stored settings, and the :class:`~lradvisor.search._claim.Goal`.
* :func:`run_jobs` runs ``jobs`` worker processes (``python -m lradvisor worker``) on
  this machine and returns the result as :func:`run_search` would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Collection, Sequence
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.search._claim import Goal
from lradvisor.search._fidelity import Fidelity
from lradvisor.search._lock import StorageLock

__all__ = ["attach", "create_search_study", "result_of", "run_jobs"]

SETTINGS_ATTR = "search"


def create_search_study(
    trainable: Any = None,
    *,
    profile: Any = None,
    workload: str | None = None,
    n_trials: int = 40,
    budget: float | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: str | None = None,
    sampler: str | None = None,
    seed: int | None = None,
    families: Sequence[str] | None = None,
    direction: str = "minimize",
    fidelity: Fidelity | None = None,
    rules_files: Sequence[str] = (),
    rules_first: int = 3,
    learned: Any = None,
) -> Any:
    """Create (or find, when it exists with a target) the study workers will run.

    Arguments are :func:`~lradvisor.search.run_search`'s; ``n_trials``, ``budget`` and
    ``timeout`` are the whole study's, not one worker's; ``pruner``, ``sampler`` and
    ``seed`` not given are an existing study's own. The part of a ``learned`` guide
    near the profile is stored in the study, and every worker blends it in. The
    trainable must be importable by every worker (a module, or a file path valid where
    they run).

    Raises:
        TrainableError, StudyError, ProfileError, SpecError: as ``run_search``.
    """
    from lradvisor.search._resume import _open
    from lradvisor.search._search import _prepare, check_settings
    from lradvisor.search._shared import check_shared_url, open_schema_locked
    from lradvisor.storage import load_study, resolve_url

    if not isinstance(trainable, (str, type(None))):
        raise StudyError("workers need the trainable by name (module:function or file.py:"
                         f"function), but got {trainable!r}.")
    fid = check_settings(n_trials, seed, timeout, fidelity, budget)
    url = resolve_url(storage)
    check_shared_url(url)
    setup = _prepare(trainable, profile, workload, families, rules_files, study_name, learned,
                     direction)
    open_schema_locked(url).engine.dispose()
    settings = {
        "n_trials": n_trials, "budget": budget, "timeout": timeout,
        "families": list(families) if families else None,
        "rules_files": [str(f) for f in rules_files], "rules_first": rules_first,
    }
    with StorageLock(url, f"study:{setup['name']}"):
        study, _ = _open(setup, url, direction, pruner, sampler, seed, n_trials, fid,
                         explicit=fidelity is not None, asked=fidelity)
        if study.user_attrs.get(SETTINGS_ATTR) is None:
            study.set_user_attr(SETTINGS_ATTR, settings)
    return load_study(study._storage, study.study_name)


def attach(rdb: Any, name: str, worker: str) -> tuple[Any, dict[str, Any], Goal, dict[str, Any]]:
    """A worker's view of the stored study ``name``: (study, setup, goal, settings).

    The search space is rebuilt from the rules, with the study's stored peak-LR range
    (``search --lr-find``'s) where it has one, as a resume of ``search`` keeps it.

    The worker rereads the study's rules files; rules that now conclude otherwise (a file
    edited since: another prior, or other schedules recommended) are refused as a
    resume of ``search`` refuses them, compared by what they conclude.

    Raises:
        StudyError: no such study, one not created for workers (no stored target), or
            one whose rules files now conclude otherwise.
    """
    import zlib

    from lradvisor.search._pruner import make_pruner
    from lradvisor.search._resume import _check_same_search, _in_stored_order
    from lradvisor.search._sampler import make_sampler
    from lradvisor.search._search import _prepare
    from lradvisor.search._settings import keep_lr_range, run_settings
    from lradvisor.storage import get_study, load_study

    stored = load_study(rdb, name)
    attrs = stored.user_attrs
    settings = attrs.get(SETTINGS_ATTR)
    if not settings or not attrs.get("trainable"):
        raise StudyError(
            f"study {name!r} has no stored target for workers; create it with "
            "`lradvisor search --create-only ...` (or give the worker --spec)."
        )
    from lradvisor.rules._learn import LearnedGuide

    kept = attrs.get("learned_guide")  # the evidence the study was made with
    learned = LearnedGuide.from_dict(
        kept, f"the learned guide stored with study {name!r}",
        remedy="`lradvisor rules learn` does not change a guide stored with a study: create "
        "another study for the workers (`lradvisor search --create-only --study NEW ...`)",
    ) if kept else None
    setup = _prepare(attrs["trainable"], attrs["profile"], attrs.get("workload"),
                     settings.get("families"), settings.get("rules_files") or (), name,
                     learned, stored.direction.name.lower())
    files = settings.get("rules_files") or ()
    setup["space"] = _in_stored_order(setup["space"], attrs)
    _check_same_search(attrs, setup, rules_remedy=(
        f"a worker reads the study's rules files ({', '.join(map(str, files))}): put them "
        "back as they were, or create another study." if files else
        "it was made by an lradvisor version whose guide concluded otherwise: run its "
        "workers with that version, or create another study."))
    keep_lr_range(setup, attrs)  # the study's peak-LR range (a range test's), if it has one
    n_trials = int(settings["n_trials"])
    run = run_settings(attrs)  # the creation's, or the last resume's that changed them
    seed = int(run["seed"])
    sampler_seed = (seed * 1_000_003 + zlib.crc32(worker.encode())) % 2**31  # apart per worker
    direction = stored.direction.name.lower()
    study = get_study(rdb, name, direction=direction,
                      sampler=make_sampler(run["sampler"], sampler_seed,
                                           startup=min(10, max(3, n_trials // 3))),
                      pruner=make_pruner(run["pruner"]))
    goal = Goal(n_trials=n_trials, fidelity=Fidelity.from_dict(attrs["fidelity"]),
                full_steps=int(attrs["full_steps"]), direction=direction, seed=seed,
                budget=settings.get("budget"))
    return study, setup, goal, settings


def run_jobs(
    study_name: str,
    storage: str,
    jobs: int,
    *,
    worker_args: Sequence[str] = (),
    quiet: bool = True,
) -> list[tuple[str, int]]:
    """Run ``jobs`` worker processes on the study and wait; returns each one's name
    (``host:pid``, as its trials name it) and exit code.

    Ctrl-C reaches the workers too (same process group): each fails its running trial
    as interrupted and stops. A SIGTERM (``timeout``, systemd, ``docker stop``), or a
    SIGINT sent to this process alone, is passed on to the workers; this process waits
    for them, then ends as the signal asks (SIGTERM: it dies of it, as it would
    have), so no worker is left running without it.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise StudyError(f"jobs must be an integer >= 1, but got {jobs!r}.")
    cmd = [sys.executable, "-m", "lradvisor", "worker", "--study", study_name,
           "--storage", storage, *worker_args]
    if quiet:
        cmd.append("--quiet")
    procs = [subprocess.Popen(cmd) for _ in range(jobs)]
    codes = _wait_forwarding(procs)
    host = socket.gethostname()  # as process_name() names a worker
    return [(f"{host}:{proc.pid}", code) for proc, code in zip(procs, codes, strict=True)]


# si_code of a signal the kernel sent: a terminal's Ctrl-C, which reached the workers
# too (they share its process group). One sent by a process (kill) has another code.
_SI_KERNEL = 0x80
_POLL = 0.2  # seconds between looks at the workers while no signal comes


def _wait_forwarding(procs: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    """Wait for ``procs``, passing SIGTERM and SIGINT on to them; their exit codes.

    The two signals are held back (blocked) meanwhile and taken with ``sigtimedwait``,
    which tells who sent them: a terminal's Ctrl-C already reached the workers and is
    not sent twice. After a SIGTERM, once the workers have ended, this process dies of
    it as it would have without them. Where signals cannot be waited for (not the main
    thread, no ``sigtimedwait``), the workers are only waited for, Ctrl-C included.
    """
    if (threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "sigtimedwait")):
        return _wait_all(procs)
    sigs = {signal.SIGINT, signal.SIGTERM}
    got: set[int] = set()
    # Blocked only now, the workers started: a process inherits its parent's mask.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        while any(p.poll() is None for p in procs):
            info = signal.sigtimedwait(sigs, _POLL)
            if info is None:
                continue
            got.add(info.si_signo)
            if info.si_signo == signal.SIGTERM or info.si_code != _SI_KERNEL:
                for proc in procs:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(info.si_signo)
        codes = [p.wait() for p in procs]
    finally:
        while (late := signal.sigtimedwait(sigs, 0)) is not None:  # the workers are gone
            got.add(late.si_signo)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    if signal.SIGTERM in got:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    return codes


def _wait_all(procs: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    try:
        return [p.wait() for p in procs]
    except KeyboardInterrupt:
        return [p.wait() for p in procs]


def result_of(study: Any, *, ran_by: Collection[str], interrupted: bool = False) -> Any:
    """A :class:`~lradvisor.search.SearchResult` for the study as it stands.

    Its ``trials_run`` and ``steps_used`` are those of the trials the workers named in
    ``ran_by`` (``host:pid``, as :func:`run_jobs` returns them) ran, not the study's: a
    resumed study's earlier trials were not run by this call.
    """
    from lradvisor.search._search import SearchResult
    from lradvisor.search._trial import record_of

    trials = study.get_trials(deepcopy=False)
    records = [record_of(t) for t in trials]
    ran = [r for t, r in zip(trials, records, strict=True)
           if t.user_attrs.get("worker") in ran_by]
    rec = study.user_attrs.get("recommendation")
    recommendation = evidence = None
    if rec:
        from lradvisor.search._recommend import recommendation_from_dict

        recommendation = recommendation_from_dict(rec)
        evidence = rec.get("evidence_data")
    return SearchResult(
        study=study, recommendation=recommendation, evidence=evidence,
        steps_used=sum(r.steps_used for r in ran),
        study_steps=sum(r.steps_used for r in records),
        full_steps=int(study.user_attrs["full_steps"]),
        trials_run=len(ran), interrupted=interrupted, records=records,
    )
