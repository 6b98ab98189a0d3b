"""``lradvisor search``: search schedules with multi-fidelity proxy runs, stored in a study.

Settings come from a study spec file (``--spec studies/digits-cnn.toml``) and the
command line; a flag given on the command line wins over the file. torch and optuna
are imported only when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lradvisor.cli._options import (
    TASKS,
    PositiveInt,
    format_option,
    profile_options,
    storage_option,
)
from lradvisor.errors import StudyError

__all__ = ["search", "read_spec_file"]

PRUNERS = ("plateau", "median", "patient", "successive_halving", "hyperband", "wilcoxon", "none")
SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp")
PROFILE_KEYS = ("task", "arch", "optimizer", "total_steps", "epochs", "steps_per_epoch",
                "batch_size", "dataset_size", "model_params", "peak_lr")
SETTING_KEYS = ("workload", "trainable", "trials", "budget", "timeout", "seed", "pruner",
                "sampler", "families", "direction", "storage", "study", "rungs", "rules",
                "lr_find")
DEFAULTS = {"trials": 40, "seed": 0, "pruner": "plateau", "sampler": "tpe",
            "direction": "minimize"}


@click.command()
@click.option("--trainable",
              help="Training function: package.module:function or file.py:function.")
@click.option("--workload",
              help="A built-in workload (its trainable and profile), e.g. digits-cnn.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False),
              help="A study spec file (TOML); command-line flags override it.")
@profile_options
@click.option("--trials", type=PositiveInt(),
              help="First-rung trials to add (default 40).")
@click.option("--budget", type=float, help="Compute cap in full-run equivalents.")
@click.option("--timeout", type=float, help="Seconds after which no new trial starts.")
@storage_option
@click.option("--study", help="Study name; an existing study of that name is resumed.")
@click.option("--pruner", type=click.Choice(PRUNERS), help="Pruner (default plateau).")
@click.option("--sampler", type=click.Choice(SAMPLERS), help="Optuna sampler (default tpe).")
@click.option("--seed", type=int, help="Seed of the sampler and the first-rung runs (default 0).")
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

    \b
    Examples:
      lradvisor search --workload digits-cnn --trials 12
      lradvisor search --spec studies/digits-cnn.toml --budget 3
      lradvisor search --task finetune --total-steps 2000 --trainable train.py:train
      lradvisor search --spec studies/digits-cnn.toml --jobs 2
    """
    from lradvisor.search import Fidelity, run_search

    settings = _merge(read_spec_file(spec_file) if spec_file else {}, options,
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

        _check_before_sweep(settings, fidelity)
        found = sweep_for_search(settings)
    bar = _Bar()
    try:
        result = run_search(
            settings.get("trainable"), profile=settings.get("profile"),
            workload=settings.get("workload"), n_trials=settings["trials"],
            budget=settings.get("budget"), timeout=settings.get("timeout"),
            storage=settings.get("storage"), study_name=settings.get("study"),
            pruner=settings["pruner"], sampler=settings["sampler"], seed=settings["seed"],
            families=settings.get("families"), direction=settings["direction"],
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


def _check_before_sweep(settings: dict[str, Any], fidelity: Any) -> None:
    """What ``run_search`` refuses (profile, length, families, rules, seed, budget,
    storage), checked before ``--lr-find``'s sweep runs the user's training, not after."""
    from lradvisor.search._search import _prepare, check_settings
    from lradvisor.storage import open_storage

    _prepare(settings.get("trainable"), settings.get("profile"), settings.get("workload"),
             settings.get("families"), settings.get("rules") or (), settings.get("study"),
             _learned(), settings["direction"])
    check_settings(settings["trials"], settings["seed"], settings.get("timeout"), fidelity,
                   settings.get("budget"))
    open_storage(settings.get("storage")).engine.dispose()


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
    from lradvisor.search._rungs import INTERRUPTED

    runs = result.records[len(result.records) - result.trials_run:] if result.trials_run \
        else []
    return runs, [r for r in runs if r.state == "FAIL" and r.error != INTERRUPTED]


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


def read_spec_file(path: str) -> dict[str, Any]:
    """The settings of a study spec file: search settings plus a ``profile`` dict.

    Profile fields may sit at the top level or in a ``[profile]`` table.

    Raises:
        StudyError: the file is missing or unreadable, is not valid TOML (YAML is not
            read), or has an unknown key, a key in the wrong place or one set twice.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"no study spec file {path!r}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        yaml = file.suffix.lower() in (".yaml", ".yml")
        hint = " (spec files are TOML, as studies/*.toml; YAML is not read)" if yaml else ""
        raise StudyError(f"study spec file {path!r} is not valid TOML{hint}: {err}") from None
    except OSError as err:
        raise StudyError(f"study spec file {path!r} cannot be read: {err.strerror}.") from None
    table = data.pop("profile", {}) or {}
    if not isinstance(table, dict):
        raise StudyError(f"profile in {path!r} must be a table ([profile]), but got "
                         f"{table!r}.")
    profile = _profile_table(table, path)
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = key.replace("-", "_")
        if key in PROFILE_KEYS and key in profile:
            raise StudyError(f"{key} is set twice in {path!r}, at the top level and in "
                             "[profile]; keep one.")
        if key in PROFILE_KEYS:
            profile[key] = value
        elif key in SETTING_KEYS:
            out[key] = _typed(key, value, path)
        else:
            raise StudyError(
                f"unknown key {key!r} in {path!r}; allowed: "
                f"{', '.join(SETTING_KEYS + PROFILE_KEYS)}, [profile]."
            )
    if profile:
        out["profile"] = profile
    return out


def _profile_table(table: dict[str, Any], path: str) -> dict[str, Any]:
    """A spec file's ``[profile]`` table, its keys spelled as the top level's may be
    (``steps-per-epoch``); a search setting there is named as misplaced."""
    profile: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in SETTING_KEYS:
            raise StudyError(f"{key!r} in [profile] of {path!r} is a search setting, not "
                             "part of the profile: put it at the top level, above [profile].")
        if name not in PROFILE_KEYS:
            raise StudyError(f"unknown key {key!r} in [profile] of {path!r}; allowed: "
                             f"{', '.join(PROFILE_KEYS)}.")
        profile[name] = value
    return profile


# What each setting of a spec file may be: TOML types, and the words for the message.
_SETTING_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "trials": ((int,), "an integer"), "seed": ((int,), "an integer"),
    "budget": ((int, float), "a number"), "timeout": ((int, float), "a number"),
    "lr_find": ((bool,), "true or false"),
    "families": ((str, list), "a list of names"), "rungs": ((str, list), "a list of numbers"),
    "rules": ((str, list), "a list of file paths"),
}


# What each item of a list setting may be (a family name, a fraction, a file path).
_ITEM_TYPES: dict[str, tuple[type, ...]] = {
    "families": (str,), "rungs": (int, float), "rules": (str,),
}


def _typed(key: str, value: Any, path: str) -> Any:
    """A spec file's setting checked against its type (every other setting is text);
    a list's items too, so ``rungs = [0.1, true]`` is not read as ``(0.1, 1.0)``."""
    kinds, words = _SETTING_TYPES.get(key, ((str,), "a string"))
    items = value if isinstance(value, list) else []
    if not _of(value, kinds) or not all(_of(item, _ITEM_TYPES.get(key, ())) for item in items):
        raise StudyError(f"{key} in {path!r} must be {words}, but got {value!r}.")
    if key == "trials" and value < 1:
        raise StudyError(f"trials in {path!r} must be an integer >= 1, but got {value!r}.")
    if key == "rules" and isinstance(value, str):
        return [value]  # one rules file
    return value


def _of(value: Any, kinds: tuple[type, ...]) -> bool:
    """Whether ``value`` is one of ``kinds``, a TOML boolean counting only as a bool."""
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def _merge(file: dict[str, Any], options: dict[str, Any], *,
           source: str | None = None) -> dict[str, Any]:
    """File settings, then the flags given on the command line, then the defaults.

    ``source``: the spec file's path, named when neither it nor the flags say what to
    search (an empty file, say)."""
    settings = {**DEFAULTS, **file}
    for key in SETTING_KEYS:
        value = options.get("rules_files" if key == "rules" else key)
        if value not in (None, ()):
            settings[key] = value
    replaced = _what_trains_from_flags(settings, file, options)
    profile = dict(file.get("profile") or {})
    given = {k: options[k] for k in PROFILE_KEYS if options.get(k) is not None}
    if given.get("total_steps") is not None:
        profile.pop("epochs", None)
    elif given.get("epochs") is not None:  # the flag's length wins over the file's, too
        profile.pop("total_steps", None)
    profile.update(given)
    workload = settings.get("workload")
    if workload and profile:
        from lradvisor.workloads import get_workload

        base = get_workload(workload).profile()
        if "total_steps" in profile:
            base.pop("epochs", None)
        profile = {**base, **profile}
    if replaced and not workload and "task" not in profile:
        raise StudyError(
            f"--trainable replaces the workload {replaced!r} of {source!r}, its profile "
            "too: give --task and the run's length (--total-steps), or add --workload "
            f"{replaced} to train on its profile."
        )
    if source and not workload and "task" not in profile:
        raise StudyError(
            f"study spec file {source!r} sets neither workload nor task: add "
            f'workload = "NAME" or task = "..." (one of {", ".join(TASKS)}) with the '
            "run's length (total_steps, or epochs and steps_per_epoch)."
        )
    if profile:
        if "task" not in profile:
            raise click.UsageError("Missing option '--task' (or a workload) for the profile.")
        settings["profile"] = profile
    elif not workload:
        raise click.UsageError("Missing option '--task', '--workload' or '--spec'.")
    for key in ("families", "rungs"):
        where = f"--{key}" if options.get(key) is not None else f"{key} in {source!r}"
        settings[key] = _split(settings.get(key), key, where)
    if settings.get("rungs"):
        try:
            settings["rungs"] = tuple(float(v) for v in settings["rungs"])
        except (TypeError, ValueError):
            raise StudyError(
                "rungs must be fractions of the run, e.g. 0.1,0.33,1, "
                f"but got {settings['rungs']!r}."
            ) from None
    if source:
        _paths_from_cwd(settings, file, source)
    return settings


def _what_trains_from_flags(settings: dict[str, Any], file: dict[str, Any],
                            options: dict[str, Any]) -> str | None:
    """A flag naming what trains replaces the file's other one too: ``--workload`` the
    file's ``trainable``, ``--trainable`` the file's ``workload`` (both flags: both
    kept, the trainable on the workload's profile). Returns the file's workload that
    ``--trainable`` replaced, if any."""
    flag_workload, flag_trainable = options.get("workload"), options.get("trainable")
    if flag_workload is not None and flag_trainable is None:
        settings.pop("trainable", None)
    if flag_trainable is not None and flag_workload is None and file.get("workload"):
        del settings["workload"]
        return str(file["workload"])
    return None


def _paths_from_cwd(settings: dict[str, Any], file: dict[str, Any], source: str) -> None:
    """A spec file's relative file paths (a ``file.py:function`` trainable, rules files)
    are taken from where the command runs, as ``--trainable`` and ``--rules`` are, not
    from the file's folder: one missing there is named with that, before anything runs.

    Raises:
        StudyError: a relative path the file gives (and no flag replaced) is not there.
    """
    trainable = settings.get("trainable")
    paths = []
    if trainable is not None and trainable == file.get("trainable"):
        where = str(trainable).rpartition(":")[0]
        paths += [("trainable", where)] if where.endswith(".py") else []
    if settings.get("rules") == file.get("rules"):
        paths += [("rules file", r) for r in file.get("rules") or ()
                  if "\n" not in r and not r.lstrip().startswith("[")]
    for what, where in paths:
        given = Path(where).expanduser()
        if given.is_absolute() or given.exists():
            continue
        beside = Path(source).parent / given
        hint = f"; the one beside the spec file is {str(beside)!r}" if beside.exists() else ""
        raise StudyError(
            f"{what} {where!r} in {source!r} is not in {str(Path.cwd())!r}: relative paths "
            f"in a spec file are taken from where the command runs{hint}."
        )


# What a comma-separated setting lists, for the message naming an empty item.
_LISTS = {"families": "family names, e.g. cosine,wsd",
          "rungs": "fractions of the run, e.g. 0.1,0.33,1"}


def _split(value: Any, name: str, where: str = "") -> list[Any] | None:
    """A comma-separated list (or a spec file's list); ``None`` when not given.

    ``where``: how the message names the setting's origin (``--rungs``, or ``rungs in
    'study.toml'``); an empty item (``0.1,,1``) is refused, not skipped."""
    if value is None:
        return None
    if isinstance(value, str):
        out: list[Any] = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        out = list(value)
    else:
        raise StudyError(f"{name} must be a comma-separated list, but got {value!r}.")
    if all(item == "" for item in out):  # given, but empty: not the same as not given
        raise StudyError(f"{name} must list at least one item, but got {value!r}.")
    if "" in out:
        raise StudyError(f"{where or name} has an empty item in {value!r}: give "
                         f"comma-separated {_LISTS.get(name, 'items')}.")
    return out


def _learned() -> Any:
    """The learned guide at its default place ($LRADVISOR_LEARNED), when there is one."""
    from lradvisor.rules._learn import load_learned

    return load_learned()
