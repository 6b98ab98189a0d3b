"""Opening a study to search in: created, or resumed with what a resume must check.

A resume must be the same search: the same trainable (or workload), run length, task
profile, rules' conclusions (the guide with the same ``--rules`` files: the prior they
give and the schedules they recommend, which run as the study's ``rules`` trials),
families and rungs (refused otherwise, in one line, before any trial runs:
:func:`check_resume`; ``search --lr-find`` checks it, with the rest of what
:func:`_open` refuses, before its sweep trains: :func:`check_before_open`). It may
change the pruner, sampler and seed, and (with a new range test) the peak-LR range: the
creation's are kept and the resume's recorded beside them
(:mod:`~lradvisor.search._settings`). The rules are compared by what they
conclude, not by their files' paths or bytes: a file edited where it changes nothing of
this search (a reason, a comment, a rule for other profiles) still resumes.

A search killed on this machine may have left trials RUNNING;
:func:`_fail_left_running` fails those whose process is gone as ``interrupted``, so the
resume runs them again.
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import zip_longest
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.search._evidence import leave_out_own_evidence
from lradvisor.search._fidelity import Fidelity
from lradvisor.search._rungs import INTERRUPTED
from lradvisor.search._settings import (
    LR_RANGE_ATTR,
    RESUMES_ATTR,
    RUN_KEYS,
    check_same_model,
    given_or_stored,
    keep_lr_range,
    keep_or_record,
    range_change,
)


def _open(setup: dict[str, Any], storage: str | None, direction: str, pruner: str | None,
          sampler: str | None, seed: int | None, n_trials: int, fid: Fidelity,
          *, explicit: bool, asked: Fidelity | None = None) -> tuple[Any, Fidelity]:
    """The study, created or resumed, with this run's settings recorded.

    ``fid``: the settings fitted to this call's budget; ``asked``: the ones given before
    that fit. A resumed study keeps the rungs it was started with (its trials' rung
    numbers refer to them); rungs given explicitly that are neither those nor the ones
    it was asked for when created are refused (the same rungs under another budget fit
    to other lengths, and are not refused). ``pruner``, ``sampler`` or ``seed`` ``None``:
    the study's as it runs now, the default for a new study (:func:`given_or_stored`).
    The peak-LR range: ``setup["lr_range"]`` when given, else the study's stored one
    (:func:`keep_lr_range`, which sets ``setup["space"]`` to it), else the rules'.
    """
    from lradvisor.search._pruner import make_pruner
    from lradvisor.search._sampler import make_sampler
    from lradvisor.storage import STUDY_UID, get_study, open_storage, study_attrs

    rdb = open_storage(storage)
    found = study_attrs(rdb, setup["name"], (*RUN_KEYS, RESUMES_ATTR))
    run = given_or_stored(found[1] if found else {},
                          {"pruner": pruner, "sampler": sampler, "seed": seed})
    pruner, sampler, seed = run["pruner"], run["sampler"], run["seed"]
    startup = min(10, max(3, n_trials // 3))
    study = get_study(rdb, setup["name"], direction=direction,
                      sampler=make_sampler(sampler, seed, startup=startup),
                      pruner=make_pruner(pruner))
    leave_out_own_evidence(setup, study.user_attrs.get(STUDY_UID))  # a resume: not its own
    fid = check_resume(study.user_attrs, setup, fid, asked, explicit=explicit)
    new_range = range_change(study.user_attrs, setup.get("lr_range"))  # before it is kept
    keep_lr_range(setup, study.user_attrs)
    created = not study.user_attrs.get("fidelity")
    attrs = _search_attrs(setup, fid)
    made = {"trainable": setup["trainable_path"], "workload": setup["workload"]}
    if created:  # what it trains and runs with are kept; a resume's are recorded apart
        attrs.update(made, pruner=pruner, sampler=sampler, seed=seed)
        attrs[_ASKED_ATTR] = list((asked or fid).rungs)
    else:
        attrs.update({k: v for k, v in made.items() if study.user_attrs.get(k) is None})
        keep_or_record(study, run, new_range)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study, fid


def check_resume(attrs: dict[str, Any], setup: dict[str, Any], fid: Fidelity,
                 asked: Fidelity | None, *, explicit: bool) -> Fidelity:
    """Refuse, in one line, a resume of the study stored with ``attrs`` (its user
    attributes; ``{}`` for a new study) by another search: another trainable or
    workload, run length, task profile, rules' conclusions, families or rungs.

    :func:`_open` runs it on the study it opens, and :func:`check_before_open` on the
    stored one before anything is written (``search --lr-find``, before its sweep).

    Returns:
        The fidelity the search runs with: the study's own when it has one, else ``fid``.

    Raises:
        StudyError: the first of these that differs.
    """
    check_same_model(setup["name"], attrs, setup["trainable_path"], setup["workload"])
    stored = attrs.get("full_steps")
    if stored is not None and stored != setup["full_steps"]:
        raise StudyError(
            f"study {setup['name']!r} searched a run of {stored} steps, but this run has "
            f"{setup['full_steps']}; use another --study name."
        )
    setup["space"] = _in_stored_order(setup["space"], attrs)
    _check_same_search(attrs, setup)
    if not attrs.get("fidelity"):
        return fid
    return _kept_rungs(attrs, setup["name"], fid, asked, explicit=explicit)


def check_before_open(setup: dict[str, Any], storage: str | None, direction: str,
                      given: dict[str, Any], fid: Fidelity, *, explicit: bool,
                      asked: Fidelity | None = None) -> dict[str, Any]:
    """What :func:`_open` refuses, in its order, checked with nothing written (no study
    created, no attribute set): the sampler and pruner, the study's name and direction,
    and :func:`check_resume`. ``search --lr-find`` runs it before its sweep trains.

    ``given``: the ``pruner``, ``sampler`` and ``seed`` of the call (``None``: the
    study's); the other arguments as :func:`_open`'s.

    Returns:
        The pruner, sampler and seed the search will run with (:func:`given_or_stored`).

    Raises:
        StudyError: as :func:`_open` would, with the same line.
    """
    from lradvisor.search._pruner import make_pruner
    from lradvisor.search._sampler import make_sampler
    from lradvisor.storage import STUDY_UID, existing_study_id, open_storage, study_attrs

    rdb = open_storage(storage)
    try:
        found = study_attrs(rdb, setup["name"], (*RUN_KEYS, RESUMES_ATTR))
        run = given_or_stored(found[1] if found else {}, given)
        make_sampler(run["sampler"], run["seed"])
        make_pruner(run["pruner"])
        study_id = existing_study_id(rdb, setup["name"], direction=direction)
        attrs = {} if study_id is None else rdb.get_study_user_attrs(study_id)
    finally:
        rdb.engine.dispose()
    leave_out_own_evidence(setup, attrs.get(STUDY_UID))  # as _open will
    check_resume(attrs, setup, fid, asked, explicit=explicit)
    return run


def _kept_rungs(attrs: dict[str, Any], name: str, fid: Fidelity, asked: Fidelity | None, *,
                explicit: bool) -> Fidelity:
    """The fidelity a resumed study keeps; rungs given explicitly that are not its own
    (see :func:`_same_rungs`) are refused in one line."""
    kept = Fidelity.from_dict(attrs["fidelity"])
    if explicit and not _same_rungs(kept, fid, asked, attrs.get(_ASKED_ATTR)):
        raise StudyError(
            f"study {name!r} runs rungs {list(kept.rungs)}, not "
            f"{list((asked or fid).rungs)}; resume it with its rungs or use another "
            "--study name."
        )
    return kept


def _search_attrs(setup: dict[str, Any], fid: Fidelity) -> dict[str, Any]:
    """What each call of the search (re)writes on the study: its setup as this call
    prepared it (the same on a resume, which :func:`_check_same_search` made sure of)."""
    advice = setup["advice"]
    lr_range = setup.get("lr_range")  # the study's own range (a range test's), if any
    return {
        "profile": setup["profile"].to_dict(), "full_steps": setup["full_steps"],
        "fidelity": fid.to_dict(), "rules": list(setup["rules"]),
        "rules_recommendations": [r.to_dict() for r in advice.recommendations],
        "prior": advice.prior.to_dict(), "rules_lr_default": setup["rules_peak"],
        "rules_prior": setup["rules_prior"], "rules_schedules": setup["rules_schedules"],
        "learned_guide": setup["learned"],  # the evidence blended in (workers re-blend it)
        "space": setup["space"].to_dict(),
        **({} if lr_range is None else {LR_RANGE_ATTR: list(lr_range)}),
    }


# The rungs a study was asked for when created, before its budget fitted them.
_ASKED_ATTR = "rungs_asked"


def _same_rungs(kept: Fidelity, fitted: Fidelity, asked: Fidelity | None,
                first_asked: list[float] | None) -> bool:
    """Whether the rungs given to a resume are the study's: the ones it runs, or the
    ones it was asked for when created (another budget fits those to other lengths)."""
    if kept.rungs == fitted.rungs or (asked is not None and asked.rungs == kept.rungs):
        return True
    return asked is not None and first_asked is not None and list(asked.rungs) == first_asked


def _fail_left_running(study: Any) -> list[int]:
    """Fail as interrupted, so the resume runs them again, the RUNNING trials that a
    search on this machine left when it was killed (its process is gone). A trial whose
    process is alive, or on another machine, is left alone; a study of workers has
    heartbeats for this (see ``lradvisor worker``). Returns the trial numbers failed."""
    import optuna
    from optuna.trial import TrialState

    from lradvisor.search._jobs import SETTINGS_ATTR

    if study.user_attrs.get(SETTINGS_ATTR):
        return []
    storage, failed = study._storage, []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _process_gone(trial.user_attrs.get("process")):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it ended meanwhile
        failed.append(trial.number)
    return failed


def _process_gone(process: str | None) -> bool:
    """Whether the ``host:pid`` that ran a trial is known to have ended: on this host,
    with no such process. A trial from before trials named their process counts as
    gone (one search per study at a time was always the rule)."""
    import os
    import socket

    if not process:
        return True
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _in_stored_order(space: Any, attrs: dict[str, Any]) -> Any:
    """``space`` with its families in the order the study stores them, when they are the
    same families: a learned guide learned since, or ``--families`` given in another
    order, ranks them otherwise, and Optuna's family choices must keep their order."""
    stored = list((attrs.get("space") or {}).get("families") or ())
    if stored == list(space.names) or sorted(stored) != sorted(space.names):
        return space
    return replace(space, families=tuple(space.family(name) for name in stored))


def _check_same_search(attrs: dict[str, Any], setup: dict[str, Any], *,
                       rules_remedy: str | None = None) -> None:
    """Refuse to resume a study (stored with the user attributes ``attrs``) under another
    task profile, rules that conclude otherwise or other family choices: its trials would
    not compare, and Optuna cannot change a categorical's choices. ``rules_remedy`` says
    what to do about the rules (a worker, which rereads the study's rules files, has no
    ``--rules`` to give)."""
    profile = setup["profile"].to_dict()
    if attrs.get("profile") not in (None, profile):
        from lradvisor.rules import TaskProfile

        kept = TaskProfile.from_dict(attrs["profile"]).describe()
        raise StudyError(
            f"study {setup['name']!r} was made for the profile {kept!r}, not "
            f"{setup['profile'].describe()!r}; use another --study name."
        )
    _check_same_rules(attrs, setup, rules_remedy)
    stored = (attrs.get("space") or {}).get("families")
    if not stored:
        return
    space = setup["space"].to_dict()["families"]
    if list(stored) != list(space):
        raise StudyError(
            f"study {setup['name']!r} searches the families {','.join(stored)}, not "
            f"{','.join(space)}; resume it with --families {','.join(stored)} or use "
            "another --study name."
        )
    for family, kept_family in stored.items():
        for dim, choices in kept_family["dims"].items():
            now = space[family]["dims"].get(dim)
            if isinstance(choices, list) and now != choices:
                raise StudyError(
                    f"study {setup['name']!r} searches {family}.{dim} over {choices}, not "
                    f"{now}; use another --study name."
                )


def _check_same_rules(attrs: dict[str, Any], setup: dict[str, Any],
                      remedy: str | None) -> None:
    """Refuse a resume under rules that conclude otherwise than the study's did (another
    prior, other schedules recommended), naming what changed. Without ``--rules`` files
    that is the shipped guide of another lradvisor version (one that starts an
    epoch-stepped warmup above 0, say), which the message says instead of pointing at
    rules files the user never gave."""
    name = setup["name"]
    if remedy is None and not setup.get("rules_files"):
        remedy = ("it was made with --rules files, or by an lradvisor version whose guide "
                  "concluded otherwise: resume it with those files or that version, or use "
                  "another --study name.")
    kept = attrs.get("rules_prior")
    now = json.loads(json.dumps(setup["rules_prior"]))
    if kept is not None and kept != now:
        raise StudyError(
            f"study {name!r} was made with other rules (rules {attrs.get('rules')}, peak LR "
            f"{kept.get('lr_default'):g}): {_prior_difference(kept, now)}; "
            + (remedy or "resume it with the --rules files it was made with or use "
               "another --study name.")
        )
    _check_same_schedules(name, attrs.get("rules_schedules"),
                          json.loads(json.dumps(setup["rules_schedules"])), remedy)


def _prior_difference(kept: dict[str, Any], now: dict[str, Any]) -> str:
    """The first conclusion two stored search priors differ in, in words:
    ``linear.warmup_start_factor was fixed at 0.0, now fixed at 0.5``."""
    for key, words in (("lr_default", "the peak LR"), ("lr_low", "the lowest peak LR"),
                       ("lr_high", "the highest peak LR")):
        if kept.get(key) != now.get(key):
            return f"{words} was {kept.get(key)}, now {now.get(key)}"
    was, new = kept.get("families") or [], now.get("families") or []
    if [f.get("family") for f in was] != [f.get("family") for f in new]:
        return (f"the families were {', '.join(str(f.get('family')) for f in was)}, now "
                f"{', '.join(str(f.get('family')) for f in new)}")
    for a, b in zip(was, new, strict=True):
        family = a.get("family")
        params = sorted({*a.get("fixed", {}), *a.get("ranges", {}), *b.get("fixed", {}),
                         *b.get("ranges", {})})
        for param in params:
            then, later = _setting(a, param), _setting(b, param)
            if then != later:
                return f"{family}.{param} was {then}, now {later}"
        if a.get("weight") != b.get("weight"):
            return f"the weight of {family} was {a.get('weight')}, now {b.get('weight')}"
    return "another search prior"


def _setting(family: dict[str, Any], param: str) -> str:
    """How a prior sets ``param`` of ``family``: ``fixed at 0.0``, ``searched in [0.0,
    0.2]`` or ``not set``."""
    if param in family.get("fixed", {}):
        return f"fixed at {json.dumps(family['fixed'][param])}"
    if param in family.get("ranges", {}):
        return f"searched in {json.dumps(family['ranges'][param])}"
    return "not set"


def _check_same_schedules(name: str, kept: list[Any] | None, now: list[Any],
                          remedy: str | None = None) -> None:
    """Refuse a resume whose rules now recommend other schedules (a ``--rules`` file
    edited since, with the same prior): its ``rules`` trials would mix two conclusions.
    A study stored before the schedules were (``kept`` is ``None``) is not checked."""
    if kept is None or kept == now:
        return
    was, new = next((a, b) for a, b in zip_longest(kept, now) if a != b)
    raise StudyError(
        f"study {name!r} was made with rules that recommended {_named(was)}, but they now "
        f"recommend {_named(new)}; "
        + (remedy or "resume it with the --rules files as they were or use another --study "
           "name.")
    )


def _named(spec: dict[str, Any] | None) -> str:
    """A stored spec in one line (its JSON where it no longer reads as a spec)."""
    from lradvisor.errors import SpecError
    from lradvisor.schedules import ScheduleSpec

    if spec is None:
        return "nothing more"
    try:
        return ScheduleSpec.from_dict(spec).describe()
    except SpecError:
        return json.dumps(spec, sort_keys=True)
