"""``lradvisor search``: search schedules with multi-fidelity proxy runs, stored in a study.

Settings come from a study spec file (``--spec studies/digits-cnn.toml``) and the
command line; a flag given on the command line wins over the file. torch and optuna
are imported only when the command runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from lradvisor.cli._options import PositiveInt, format_option, profile_options, storage_option
from lradvisor.cli._spec import merge_settings, read_spec_file

__all__ = ["search"]

PRUNERS = ("plateau", "median", "patient", "successive_halving", "hyperband", "wilcoxon", "none")
SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp")


@click.command()
@click.option("--trainable",
              help="Training function: package.module:function or file.py:function.")
@click.option("--workload",
              help="A built-in workload (its trainable and profile), e.g. digits-cnn.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False),
              help="A study spec file (TOML); command-line flags override it.")
@profile_options
@click.option("--trials", type=PositiveInt(),
              help="First-rung trials this call adds to the study (default 40); with --jobs "
              "or --create-only, in total across the workers, not each.")
@click.option("--budget", type=float, help="This call's compute cap in full-run equivalents "
              "(with --jobs or --create-only, its workers' together).")
@click.option("--timeout", type=float, help="Seconds after which no new trial starts (with "
              "--jobs or --create-only, from each worker's start).")
@storage_option
@click.option("--study", help="Study name; an existing study of that name is resumed.")
@click.option("--pruner", type=click.Choice(PRUNERS),
              help="Pruner (default plateau; a resume keeps the study's).")
@click.option("--sampler", type=click.Choice(SAMPLERS),
              help="Optuna sampler (default tpe; a resume keeps the study's).")
@click.option("--seed", type=int, help="Seed of the sampler and the first-rung runs "
              "(default 0; a resume keeps the study's).")
@click.option("--families", help="Search only these families, comma-separated.")
@click.option("--direction", type=click.Choice(("minimize", "maximize")),
              help="Whether the trainable's value is minimised (default) or maximised.")
@click.option("--rungs", help="Proxy lengths as fractions of the run, e.g. 0.1,0.33,1.")
@click.option("--lr-find", "lr_find", is_flag=True, default=None,
              help="Set the peak-LR range from an LR range test first (lradvisor lr-find).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine (lradvisor worker), sharing the study.")
@click.option("--create-only", is_flag=True,
              help="Create the study for `lradvisor worker` processes; run no trial.")
@format_option
def search(fmt: str, spec_file: str | None, **options: Any) -> None:
    """Search schedule families with short proxy runs; print the pick for the full run.

    Exit status 1 when no trial completed because the trainable failed (the failed
    trials are kept), 2 for input that cannot be used, 130 on Ctrl-C.

    \b
    Examples:
      lradvisor search --workload digits-cnn --trials 12
      lradvisor search --spec studies/digits-cnn.toml --budget 3
      lradvisor search --task finetune --total-steps 2000 --trainable train.py:train
      lradvisor search --spec studies/digits-cnn.toml --jobs 2
    """
    from lradvisor.search import Fidelity, run_search

    settings = merge_settings(read_spec_file(spec_file) if spec_file else {}, options,
                              source=spec_file)
    fidelity = Fidelity(rungs=settings["rungs"]) if settings.get("rungs") else None
    if options.get("create_only") or options.get("jobs", 1) > 1:
        from lradvisor.cli._worker import parallel_search

        parallel_search(settings, fidelity, fmt, jobs=options.get("jobs", 1),
                        create_only=bool(options.get("create_only")), finish=_finish)
        return
    found = None
    if settings.get("lr_find"):
        from lradvisor.cli._lrfind import sweep_for_search

        found = sweep_for_search(settings, seed=_check_before_sweep(settings, fidelity))
    bar = _Bar()
    try:
        result = run_search(
            settings.get("trainable"), profile=settings.get("profile"),
            workload=settings.get("workload"), n_trials=settings["trials"],
            budget=settings.get("budget"), timeout=settings.get("timeout"),
            storage=settings.get("storage"), study_name=settings.get("study"),
            pruner=settings.get("pruner"), sampler=settings.get("sampler"),
            seed=settings.get("seed"), families=settings.get("families"),
            direction=settings["direction"],
            fidelity=fidelity, rules_files=settings.get("rules") or (), callback=bar.update,
            lr_range=None if found is None else (found.suggestion.low, found.suggestion.high),
            learned=_learned(),
        )
        bar.finish()
    finally:
        bar.close()
    if found is not None:
        result.study.set_user_attr("lr_find", found.to_dict())
    _finish(result, fmt)


def _check_before_sweep(settings: dict[str, Any], fidelity: Any) -> int:
    """What ``run_search`` refuses before its first trial, checked before ``--lr-find``'s
    sweep runs the user's training, not after: the trainable, profile and length,
    families, rules files, seed, timeout, budget and rungs, the storage, pruner and
    sampler, the study's name and direction, and a resume by another search (another
    trainable or workload, length, profile, rules' conclusions, families or rungs:
    ``search._resume.check_before_open``, with ``run_search``'s own checks and lines).

    Returns the seed the search will run with, for the sweep: the one given, else a
    resumed study's own (as ``run_search`` keeps it), else the default of a new study.
    """
    from lradvisor.search._resume import check_before_open
    from lradvisor.search._search import _prepare, check_settings
    from lradvisor.search._settings import RUN_KEYS

    setup = _prepare(settings.get("trainable"), settings.get("profile"),
                     settings.get("workload"), settings.get("families"),
                     settings.get("rules") or (), settings.get("study"), _learned(),
                     settings["direction"])
    fid = check_settings(settings["trials"], settings.get("seed"), settings.get("timeout"),
                         fidelity, settings.get("budget"))
    run = check_before_open(setup, settings.get("storage"), settings["direction"],
                            {key: settings.get(key) for key in RUN_KEYS}, fid,
                            explicit=fidelity is not None, asked=fidelity)
    return int(run["seed"])


def _finish(result: Any, fmt: str) -> None:
    """Print the summary (naming this call's failed trials and the first one's error) and
    the pick; a search none of whose trials completed because they failed is one line
    with the first error, exit status 1 (``null`` still on stdout for ``--format json``).
    """
    from lradvisor.cli._render import render

    name = result.study.study_name
    click.echo(
        f"study {name!r}: {result.trials_run} trial(s) run, {result.steps_used} steps "
        f"({result.full_run_equivalents:.2f} full runs); the study holds "
        f"{len(result.records)} trial(s), {result.study_steps} steps.",
        err=True,
    )
    runs, failed = _failed(result)
    # nothing completed because the trainable failed: the error, not "no recommendation yet"
    all_failed = bool(failed) and not result.interrupted and not any(
        r.state == "COMPLETE" for r in result.records)
    if failed and not all_failed:
        click.echo(f"{len(failed)} of the {len(runs)} trial(s) run failed; the first "
                   f"(trial {failed[0].number}): {failed[0].error}", err=True)
    if result.recommendation is not None:
        heading = f"Recommended schedule for the full run ({result.full_steps} steps), " \
                  f"from study {name!r}:"
        from lradvisor.search._recommend import alternatives_of

        recs = [result.recommendation, *alternatives_of(result.evidence)]
        click.echo(render(recs, fmt, heading=heading,
                          extra={"study": name, "evidence_data": result.evidence}))
    else:
        if not all_failed:
            click.echo(f"No recommendation yet: no trial of study {name!r} completed.",
                       err=True)
        if fmt == "json":  # still one JSON document for the program reading stdout
            click.echo("null")
    if result.interrupted:
        click.echo(f"Interrupted: finished trials are kept in study {name!r}; run the same "
                   "command again to resume.", err=True)
        sys.exit(130)
    if all_failed:
        what = (f"every trial failed ({len(failed)} of {len(runs)})" if len(failed) == len(runs)
                else f"no trial completed ({len(failed)} of {len(runs)} failed, the others "
                     "pruned)")
        raise click.ClickException(f"search: {what}; the first: {failed[0].error}")


def _failed(result: Any) -> tuple[list[Any], list[Any]]:
    """This call's runs (the study's last ``trials_run``) and those that failed, a
    Ctrl-C's ``interrupted`` one aside (a resume runs it again)."""
    from lradvisor.search._rungs import failed_runs

    runs = result.records[len(result.records) - result.trials_run:] if result.trials_run \
        else []
    return runs, failed_runs(runs)


class _Bar:
    """A tqdm progress bar on stderr: trial i/N, best so far, pruned count, elapsed."""

    def __init__(self) -> None:
        self._bar: Any = None

    def update(self, progress: Any) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=progress.total, file=sys.stderr, unit="trial",
                             desc="search", dynamic_ncols=True, mininterval=0.2)
        bar = self._bar
        if progress.total != bar.total:
            bar.total = progress.total
        best = "-" if progress.best is None else f"{progress.best:.4g}"
        bar.set_description(f"search rung {progress.rung}")
        bar.set_postfix_str(f"best {best} pruned {progress.pruned} failed {progress.failed} "
                            f"steps {progress.steps_used / progress.full_steps:.2f} runs",
                            refresh=False)
        bar.update(progress.done - bar.n)

    def finish(self) -> None:
        """The search ended (not interrupted): its total is the runs made, which the
        estimate at the start may exceed (a budget or timeout that stops short)."""
        if self._bar is not None and self._bar.total != self._bar.n:
            self._bar.total = self._bar.n
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _learned() -> Any:
    """The learned guide at its default place ($LRADVISOR_LEARNED), when there is one."""
    from lradvisor.rules._learn import load_learned

    return load_learned()
