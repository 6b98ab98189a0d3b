"""``lradvisor worker``: join a stored study and run its trials until it needs no more.

Start as many as you like, on this machine or others, against one database (an
SQLite file on one machine, PostgreSQL across machines). torch and optuna are imported
only when the command runs.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

from lradvisor.cli._options import storage_option

__all__ = ["worker"]


@click.command()
@click.option("--study", "study_name", help="The study to join (default: the spec file's).")
@storage_option
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False),
              help="A study spec file: the study is created from it when it does not exist.")
@click.option("--n-trials", type=click.IntRange(min=1),
              help="This worker's share at most (default: as many as the study needs).")
@click.option("--timeout", type=float, callback=lambda ctx, param, value: _seconds(value),
              help="Seconds after which this worker starts no trial.")
@click.option("--heartbeat", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seconds between a running trial's heartbeats.")
@click.option("--grace", type=click.IntRange(min=2), default=60, show_default=True,
              help="Seconds without a heartbeat after which a trial is failed and re-queued.")
@click.option("--patience", type=float, default=120.0, show_default=True,
              callback=lambda ctx, param, value: _seconds(value),
              help="Seconds the database may be unreachable before this worker stops.")
@click.option("--device", callback=lambda ctx, param, value: check_device(value, ctx, param),
              help="Device for the trials: cpu, cuda, cuda:N, mps... (default: a GPU when "
              "present).")
@click.option("--quiet", is_flag=True, help="No line per trial on stderr.")
def worker(study_name: str | None, storage: str | None, spec_file: str | None,
           n_trials: int | None, timeout: float | None, heartbeat: int, grace: int,
           patience: float, device: str | None, quiet: bool) -> None:
    """Run trials of a study shared with other workers; exit 0 when it needs no more
    (1 when every trial this worker ran failed).

    \b
    Examples:
      lradvisor search --spec studies/digits-cnn.toml --create-only \\
          --storage postgresql+psycopg://postgres@db/lradvisor
      lradvisor worker --study digits-cnn --storage postgresql+psycopg://postgres@db/lradvisor
      LRADVISOR_STORAGE=sqlite:///studies/lradvisor.db lradvisor worker --study digits-cnn
    """
    from lradvisor.search._worker import run_worker, worker_name

    if spec_file:
        study_name, storage = _create_from_spec(spec_file, study_name, storage)
    if not study_name:
        raise click.UsageError("Missing option '--study' (or a --spec file naming one).")
    me = worker_name()

    def emit(line: str) -> None:
        if not quiet:
            click.echo(f"worker {me}: {line}", err=True)

    result = run_worker(study_name, storage, n_trials=n_trials, timeout=timeout,
                        heartbeat_interval=heartbeat, grace_period=grace, patience=patience,
                        device=device, on_event=emit)
    words = {"done": "the study needs no more trials", "n_trials": "its --n-trials share is run",
             "timeout": "its timeout passed", "interrupted": "interrupted"}
    click.echo(f"worker {me}: {result.trials_run} trial(s) run; stopped: "
               f"{words[result.reason]}.", err=True)
    if result.reason == "interrupted":
        sys.exit(130)
    own_failures(me, result.records)


def own_failures(me: str, records: list[Any]) -> None:
    """Name the trials this worker ran that failed, with the first one's error; when
    every trial it ran failed, that is one line and exit status 1, as for ``search``.

    A worker some of whose trials completed (or were pruned) did its share: it names
    the failed ones and exits 0, as a search with some failed trials does.
    """
    from lradvisor.search._rungs import failed_runs

    failed = failed_runs(records)
    if not failed:
        return
    if len(failed) == len(records):
        raise click.ClickException(f"worker {me}: every trial it ran failed ({len(failed)} of "
                                   f"{len(records)}); the first: {failed[0].error}")
    click.echo(f"worker {me}: {len(failed)} of the {len(records)} trial(s) it ran failed; the "
               f"first (trial {failed[0].number}): {failed[0].error}", err=True)


def _seconds(value: float | None) -> float | None:
    """A finite number of seconds > 0 (``None``: not given); else one line naming it."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value!r} is not a number of seconds > 0.")
    return value


def check_device(value: str | None, ctx: Any = None, param: Any = None) -> str | None:
    """``value`` when torch can train on it here; else :class:`click.BadParameter`.

    Checked before the worker joins its study: a device torch cannot parse, or a GPU
    this machine does not have, would fail every trial the worker takes. torch is
    imported only for a device other than plain ``cpu``.

    Example:
        >>> check_device("cpu")
        'cpu'
    """
    if value is None or value == "cpu":
        return value
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise click.BadParameter(f"{value!r} is not a torch device ({reason}).",
                                 ctx=ctx, param=param) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise click.BadParameter(f"{value!r}: torch sees no CUDA GPU on this machine "
                                     "(use cpu, or leave --device out).", ctx=ctx, param=param)
        if device.index is not None and device.index >= count:
            raise click.BadParameter(f"{value!r}: torch sees {count} CUDA GPU(s) on this "
                                     f"machine (cuda:0 to cuda:{count - 1}).",
                                     ctx=ctx, param=param)
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise click.BadParameter(f"{value!r}: torch sees no MPS device on this machine "
                                 "(use cpu, or leave --device out).", ctx=ctx, param=param)
    return value


def parallel_search(settings: dict[str, Any], fidelity: Any, fmt: str, *, jobs: int,
                    create_only: bool, finish: Any) -> None:
    """``search --create-only`` / ``search --jobs N``: create the study for workers; then
    (``--jobs``) run N ``lradvisor worker`` processes here and print the result."""
    from lradvisor.search._jobs import result_of, run_jobs
    from lradvisor.storage import resolve_url

    if settings.get("lr_find"):
        raise click.UsageError("--lr-find runs with --jobs 1 only; run it first, alone.")
    study = _create(settings, fidelity)
    name, url = study.study_name, resolve_url(settings.get("storage"))
    held = _target_this_call(study, url, settings)
    if create_only:
        if fmt == "json":  # one JSON document for the program reading stdout
            click.echo(json.dumps(_created(study, url), indent=2))
            return
        made = (f"created study {name!r}" if not held else
                f"study {name!r} holds {held} first-rung trial(s); its workers add "
                f"{settings['trials']} more")
        click.echo(f"{made}; start workers with:\n  lradvisor worker --study {name} "
                   f"--storage {url}")
        return
    ended = run_jobs(name, url, jobs)
    codes = [code for _, code in ended]
    # A worker every trial of which failed said so and exited 1: no crash. The study as a
    # whole is judged as a search's (every trial failed: one line, exit 1).
    failed = [code for who, code in ended
              if code not in (0, 130) and not (code == 1 and _only_failed(study, who))]
    finish(result_of(study, ran_by={who for who, _ in ended}, interrupted=130 in codes), fmt)
    if failed:
        click.echo(f"{len(failed)} of {jobs} worker(s) stopped with an error (exit codes "
                   f"{failed}); finished trials are stored.", err=True)
        sys.exit(1)


def _target_this_call(study: Any, url: str, settings: dict[str, Any]) -> int:
    """Set the target the study's workers run to from this call's ``--trials``,
    ``--budget`` and ``--timeout``, which mean what they mean for a search in one
    process: what this call adds. The first-rung trials it holds (as the workers count
    them) plus ``--trials``; its compute so far plus ``--budget`` (no cap without one);
    ``--timeout`` (none without one), from each worker's start.

    A study resumed by ``search --jobs N`` or ``--create-only`` kept the target stored
    when it was first made for workers (a study a one-process search made took ``N``
    as its total), so a resume's ``--trials`` added nothing. A study just created
    holds nothing: its target is ``--trials`` as given. ``worker --spec`` does not call
    this: it joins the study's target, however many workers start.

    Returns:
        The first-rung trials the study held.
    """
    from lradvisor.search._claim import Goal, counts, spent_steps
    from lradvisor.search._fidelity import Fidelity
    from lradvisor.search._jobs import SETTINGS_ATTR
    from lradvisor.search._lock import StorageLock
    from lradvisor.search._trial import record_of

    with StorageLock(url, f"study:{study.study_name}"):
        attrs = study.user_attrs
        records = [record_of(t) for t in study.get_trials(deepcopy=False)]
        goal = Goal(n_trials=settings["trials"], full_steps=int(attrs["full_steps"]),
                    fidelity=Fidelity.from_dict(attrs["fidelity"]))
        held = sum(1 for r in records if r.rung == 0 and counts(r))
        budget = settings.get("budget")
        spent = spent_steps(records, goal) / goal.full_steps
        study.set_user_attr(SETTINGS_ATTR, {
            **attrs[SETTINGS_ATTR], "n_trials": held + settings["trials"],
            "budget": None if budget is None else spent + budget,
            "timeout": settings.get("timeout")})
    return held


def _only_failed(study: Any, worker: str) -> bool:
    """Whether ``worker`` (``host:pid``) ran trials of ``study`` and every one failed."""
    from lradvisor.search._rungs import failed_runs
    from lradvisor.search._trial import record_of

    mine = [record_of(t) for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("worker") == worker]
    return bool(mine) and len(failed_runs(mine)) == len(mine)


def _created(study: Any, url: str) -> dict[str, Any]:
    """``search --create-only --format json``: the study, where it is, what its workers
    will run (its target, rungs and run settings, as stored) and how to start one."""
    from lradvisor.search._jobs import SETTINGS_ATTR
    from lradvisor.search._settings import run_settings

    attrs = study.user_attrs
    target = attrs.get(SETTINGS_ATTR) or {}
    name = study.study_name
    return {
        "study": name, "storage": url, "direction": study.direction.name.lower(),
        "workload": attrs.get("workload"), "trainable": attrs.get("trainable"),
        "profile": attrs.get("profile"), "full_steps": attrs.get("full_steps"),
        "trials": target.get("n_trials"), "budget": target.get("budget"),
        "timeout": target.get("timeout"), "families": target.get("families"),
        "rungs": (attrs.get("fidelity") or {}).get("rungs"), **run_settings(attrs),
        "worker": f"lradvisor worker --study {name} --storage {url}",
    }


def _create(settings: dict[str, Any], fidelity: Any) -> Any:
    from lradvisor.cli._search import _learned
    from lradvisor.search._jobs import create_search_study

    return create_search_study(
        settings.get("trainable"), profile=settings.get("profile"),
        workload=settings.get("workload"), n_trials=settings["trials"],
        budget=settings.get("budget"), timeout=settings.get("timeout"),
        storage=settings.get("storage"), study_name=settings.get("study"),
        pruner=settings.get("pruner"), sampler=settings.get("sampler"), seed=settings.get("seed"),
        families=settings.get("families"), direction=settings["direction"],
        fidelity=fidelity, rules_files=settings.get("rules") or (), learned=_learned(),
    )


def _create_from_spec(spec_file: str, study_name: str | None,
                      storage: str | None) -> tuple[str, str | None]:
    """Create the spec file's study when missing (once, however many workers start).

    A file that asks for the LR range test (``lr_find = true``) is refused: workers do
    not run it, and ignoring it would search without the range test, silently (a study
    whose search ran it stores its range, which workers given ``--study`` search).

    Returns the study's name and storage URL (the command line's, else the file's).
    """
    import shlex

    from lradvisor.cli._spec import merge_settings, read_spec_file
    from lradvisor.errors import StudyError
    from lradvisor.search import Fidelity

    settings: dict[str, Any] = merge_settings(
        read_spec_file(spec_file), {"study": study_name, "storage": storage}, source=spec_file)
    if settings.get("lr_find"):
        raise StudyError(
            f"lr_find = true in {spec_file!r}, but workers do not run the LR range test "
            "(--lr-find runs with `lradvisor search --jobs 1` only): run `lradvisor search "
            f"--spec {shlex.quote(spec_file)}` for it first, then workers with --study (they "
            "search the range it stored with the study), or set lr_find = false.")
    fidelity = Fidelity(rungs=settings["rungs"]) if settings.get("rungs") else None
    study = _create(settings, fidelity)
    return str(study.study_name), settings.get("storage")


def show_workers(study: Any) -> None:
    """``studies show``'s worker section: progress per worker, stale and retried trials.

    Prints nothing for a study no worker ran.
    """
    from lradvisor.search._fleet import retry_rows, worker_rows

    trials = study.get_trials(deepcopy=False)
    rows = worker_rows(trials)
    if not rows:
        return
    click.echo("")
    click.echo(f"{'worker':<32} {'running':>7} {'complete':>8} {'pruned':>6} {'failed':>6}  last")
    for row in rows:
        last = "-" if row["last"] is None else row["last"].strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{row['worker']:<32} {row['RUNNING']:>7} {row['COMPLETE']:>8} "
                   f"{row['PRUNED']:>6} {row['FAIL']:>6}  {last}")
    for row in retry_rows(trials):
        then = ("not re-queued (retries used up)" if row["rerun"] is None
                else f"re-run as trial {row['rerun']} ({row['rerun_state']})")
        click.echo(f"stale: trial {row['number']} (worker {row['worker'] or '?'} stopped "
                   f"beating): {then}")
