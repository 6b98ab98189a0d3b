"""Study spec files (``--spec FILE``, TOML) and how their settings meet the flags.

A flag given on the command line wins over the file; relative paths in a file are taken
from where the command runs, as the flags' are. ``search`` and ``worker --spec`` read
settings through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lradvisor.cli._options import TASKS
from lradvisor.errors import StudyError

__all__ = ["PROFILE_KEYS", "SETTING_KEYS", "merge_settings", "read_spec_file"]

PROFILE_KEYS = ("task", "arch", "optimizer", "total_steps", "epochs", "steps_per_epoch",
                "batch_size", "dataset_size", "model_params", "peak_lr")
SETTING_KEYS = ("workload", "trainable", "trials", "budget", "timeout", "seed", "pruner",
                "sampler", "families", "direction", "storage", "study", "rungs", "rules",
                "lr_find")
# Not pruner, sampler and seed: not given, they are a resumed study's own (the search
# gives a new study the defaults, plateau, tpe and 0).
DEFAULTS = {"trials": 40, "direction": "minimize"}


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


def merge_settings(file: dict[str, Any], options: dict[str, Any], *,
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
    workload = settings.get("workload")
    profile = _merged_profile(file, options, workload)
    _check_something_trains(profile, workload, replaced, source)
    if profile:
        settings["profile"] = profile
    _lists(settings, options, source)
    if source:
        _paths_from_cwd(settings, file, source)
    return settings


def _merged_profile(file: dict[str, Any], options: dict[str, Any],
                    workload: str | None) -> dict[str, Any]:
    """The file's profile, the flags' fields over it (a length flag replaces the file's
    other length), over the workload's profile when both are given."""
    profile = dict(file.get("profile") or {})
    given = {k: options[k] for k in PROFILE_KEYS if options.get(k) is not None}
    if given.get("total_steps") is not None:
        profile.pop("epochs", None)
    elif given.get("epochs") is not None:  # the flag's length wins over the file's, too
        profile.pop("total_steps", None)
    profile.update(given)
    if workload and profile:
        from lradvisor.workloads import get_workload

        base = get_workload(workload).profile()
        if "total_steps" in profile:
            base.pop("epochs", None)
        profile = {**base, **profile}
    return profile


def _check_something_trains(profile: dict[str, Any], workload: str | None,
                            replaced: str | None, source: str | None) -> None:
    """A task profile or a workload is given, named by what lacks it (the flags, the
    spec file, a file's workload that ``--trainable`` replaced)."""
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
    if profile and "task" not in profile:
        raise click.UsageError("Missing option '--task' (or a workload) for the profile.")
    if not profile and not workload:
        raise click.UsageError("Missing option '--task', '--workload' or '--spec'.")


def _lists(settings: dict[str, Any], options: dict[str, Any], source: str | None) -> None:
    """``families`` and ``rungs`` as lists (``rungs`` of numbers), from a flag's
    comma-separated text or the file's list."""
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
