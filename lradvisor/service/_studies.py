"""Study views for the read endpoints, and creating a study for remote trials.

Views show what a study records (profile, run length, proxy settings, trial counts,
the stored recommendation), never where it is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from lradvisor.service._trials import QUEUED, Conflict, NotFound, RemoteTrials

__all__ = ["create_study", "list_view", "study_view"]

# Study attributes shown by GET /v1/studies/{name}: the pruner and sampler it was created
# with, and each resume that changed them (the last one's are those remote trials run with).
_SHOWN = ("profile", "full_steps", "fidelity", "rules", "pruner", "sampler", "resumes",
          "workload", "recommendation")


def list_view(trials: RemoteTrials) -> list[dict[str, Any]]:
    """One entry per study, by name: name, direction, trial count, full run length, task,
    and ``created``, its earliest trial's start (``None`` before any), as Optuna's study
    summaries give it.

    Read in a fixed number of queries (:func:`~lradvisor.storage.study_overviews`), not by
    loading every trial of every study. A study of several objectives (plain Optuna's)
    has its directions joined by ``/`` (``"minimize/maximize"``).
    """
    from lradvisor.storage import study_overviews

    out = []
    for s in study_overviews(trials.storage, ("full_steps", "profile")):
        attrs = s.user_attrs
        out.append({
            "name": s.name, "direction": "/".join(s.directions),
            "n_trials": sum(s.states.values()), "full_steps": attrs.get("full_steps"),
            "task": (attrs.get("profile") or {}).get("task"),
            "created": s.datetime_start.isoformat() if s.datetime_start else None,
        })
    return out


def study_view(trials: RemoteTrials, name: str) -> dict[str, Any]:
    """A study's settings, its trials counted by state, its families, and its best trial:
    the best completed one of the longest rung run (a 10% proxy's loss does not compare
    with a full run's), with that rung and its fidelity."""
    handle = trials.handle(name)
    study = handle.study
    try:
        all_trials = handle.storage.get_all_trials(study._study_id, deepcopy=False)
    except KeyError:  # deleted since it was loaded
        trials.forget(name)
        raise NotFound(f"no study named {name!r}.") from None
    attrs = handle.attrs
    done = [t for t in all_trials if t.state.name == "COMPLETE" and t.value is not None]
    direction = study.direction.name.lower()
    # values of different proxy lengths do not compare: the best of the longest rung run
    rung = max((_rung(t) for t in done), default=0)
    done = [t for t in done if _rung(t) == rung]
    best = (min if direction == "minimize" else max)(done, key=lambda t: t.value) if done else None
    families = list((attrs.get("space") or {}).get("families") or [])
    return {
        "name": name, "direction": direction,
        "trials": dict(sorted(Counter(t.state.name for t in all_trials).items())),
        "remote_running": sum(1 for t in all_trials
                              if t.state.name == "RUNNING" and t.user_attrs.get("remote")),
        "best": None if best is None else {"trial": best.number, "value": best.value,
                                           "spec": _spec(best.user_attrs.get("spec")),
                                           "rung": rung,
                                           "fidelity": best.user_attrs.get("fidelity")},
        "families": families,
        **{k: attrs.get(k) for k in _SHOWN},
    }


def _rung(trial: Any) -> int:
    rung = trial.user_attrs.get("rung")
    return rung if isinstance(rung, int) and not isinstance(rung, bool) else 0


def _spec(text: Any) -> dict[str, Any] | None:
    from lradvisor.errors import LRAdvisorError
    from lradvisor.schedules import ScheduleSpec

    try:
        return ScheduleSpec.from_json(text).to_dict() if text else None
    except LRAdvisorError:
        return None


def create_study(trials: RemoteTrials, name: str, profile: Any, *, direction: str,
                 families: Sequence[str] | None, sampler: str,
                 rules_files: Sequence[str]) -> tuple[dict[str, Any], bool]:
    """Create study ``name`` for remote trials; ``(view, created)``.

    The study records what ``lradvisor search`` records (profile, run length, proxy
    settings, the rules' prior and search space), so a search can later resume it. An
    existing study of that name with the same run length and direction is returned as
    it is (``created`` False): pipelines can all create the study they join.

    Raises:
        Conflict: a study of that name exists for another run length or direction.
    """
    import optuna

    from lradvisor.rules import advise
    from lradvisor.search import Fidelity, SearchSpace
    from lradvisor.storage import stamp_study

    full = int(profile.steps)
    try:
        trials.storage.get_study_id_from_name(name)
    except KeyError:
        pass
    else:
        return _existing(trials, name, profile, direction), False
    advice = advise(profile, rules_files)
    # lengths a rule gives in steps are sampled as the fractions of this run they are,
    # as lradvisor search samples them, so proxies keep their shape
    space = SearchSpace.from_prior(advice.prior, families, direction=direction,
                                   total_steps=full)
    fidelity = Fidelity()
    try:
        study = optuna.create_study(study_name=name, storage=trials.storage,
                                    direction=direction)  # type: ignore[arg-type]
    except optuna.exceptions.DuplicatedStudyError:  # created meanwhile by another request
        return _existing(trials, name, profile, direction), False
    stamp_study(study)  # first: a service that has it loaded tells it from a later one
    rules = list(dict.fromkeys(r for rec in advice.recommendations for r in rec.rules))
    attrs = {
        "profile": profile.to_dict(), "full_steps": full, "fidelity": fidelity.to_dict(),
        "rules": rules, "rules_recommendations": [r.to_dict() for r in advice.recommendations],
        "prior": advice.prior.to_dict(), "space": space.to_dict(), "trainable": None,
        "workload": None, "pruner": "plateau", "sampler": sampler, "seed": None,
        "origin": "service",
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    _queue_rules_picks(study, advice, space, fidelity, full, direction)
    trials.forget(name)
    return study_view(trials, name), True


def _queue_rules_picks(study: Any, advice: Any, space: Any, fidelity: Any, full: int,
                       direction: str, count: int = 3) -> None:
    """The rules' top picks go first, as in ``lradvisor search``: a remote search then
    never ends worse than the rules alone."""
    from lradvisor.search import relative_spec, rung_steps
    from lradvisor.search._space import for_direction

    recs = [r for r in advice.recommendations if r.spec.family in space.names][:count]
    for index, rec in enumerate(recs):
        spec = relative_spec(for_direction(rec.spec, direction), full)
        if spec is None:
            continue
        attrs = {"spec": spec.to_json(), "rung": 0, "fidelity": fidelity.rungs[0],
                 "total_steps": rung_steps(fidelity.rungs[0], full), "full_steps": full,
                 "seed": 0, "origin": "rules" if index == 0 else "rules-alt", "parent": None,
                 QUEUED: True}
        study.enqueue_trial(space.params_of(spec), user_attrs=attrs, skip_if_exists=False)


def _existing(trials: RemoteTrials, name: str, profile: Any, direction: str) -> dict[str, Any]:
    """The study ``name`` as it is, when it was made for this profile and direction (its
    trials compare only then, as ``lradvisor search`` refuses a resume under another)."""
    view = study_view(trials, name)
    full = int(profile.steps)
    if view["full_steps"] != full or view["direction"] != direction:
        raise Conflict(
            f"study {name!r} exists for a run of {view['full_steps']} steps, direction "
            f"{view['direction']}; this asks for {full} steps, {direction}. Use another name."
        )
    kept = view.get("profile")
    if kept is not None and kept != profile.to_dict():
        from lradvisor.rules import TaskProfile

        raise Conflict(
            f"study {name!r} exists for the profile {TaskProfile.from_dict(kept).describe()!r}"
            f"; this asks for {profile.describe()!r}. Use another name."
        )
    return view
