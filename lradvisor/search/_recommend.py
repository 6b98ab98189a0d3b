"""From a study's trials to the recommendation for the full run, with its evidence.

The winner of the longest rung reached is stated for the full length: the spec keeps
its relative lengths and its peak LR, and ``total_steps`` is the full run's. A search's
peaks are the full run's throughout: with a ``[[horizon]]`` rule for the profile (best
peak ~ length^-b), a proxy at a fraction ``f`` of the run trained at the peak times
``f ** -b``, and the rationale says so (:class:`Horizon`). The evidence says the length
at which the winner was last evaluated and how many trials reached that length, so a
reader knows how much the pick rests on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.search._fidelity import Fidelity, rung_steps
from lradvisor.search._rungs import (
    Choice,
    Entry,
    Record,
    choose,
    higher_peak,
    lineage,
    rules_lead,
)
from lradvisor.search._space import proxy_peak

__all__ = ["Horizon", "alternatives_of", "best_recommendation", "best_recommendations",
           "recommend", "recommendation_from_dict", "study_pick", "study_recommendation",
           "study_recommendations"]

#: At most this many runners-up (the other finalists) come with a recommendation.
RUNNERS_UP = 2


@dataclass(frozen=True)
class Horizon:
    """The ``[[horizon]]`` rule a study's proxies followed: ``exponent`` ``b`` (a proxy
    at a fraction ``f`` of the run trains at the full run's peak times ``f ** -b``) and
    the rule's ``"id: reason"``."""

    exponent: float
    reason: str

    @classmethod
    def of(cls, attrs: Mapping[str, Any]) -> Horizon | None:
        """The horizon of a study's user attributes (its stored prior); ``None``: none."""
        prior = attrs.get("prior") or {}
        if prior.get("horizon") is None:
            return None
        return cls(float(prior["horizon"]), str(prior.get("horizon_reason") or ""))


def recommend(
    records: Sequence[Record],
    fidelity: Fidelity,
    *,
    direction: str,
    full_steps: int,
    study_name: str,
    rules: Sequence[str] = (),
    horizon: Horizon | None = None,
) -> tuple[Any, dict[str, Any]] | None:
    """``(Recommendation, evidence dict)`` for the study's winner; ``None``: no winner yet.

    ``horizon``: the rule the study's proxies followed, for the rationale and evidence.
    """
    from lradvisor.rules import Recommendation

    choice = choose(records, fidelity, direction)
    if choice is None:
        return None
    steps_total = sum(r.steps_used for r in records)
    fraction = fidelity.rungs[choice.rung]
    peak = choice.entry.spec.peak_lr
    trained = None  # the peak the winner's proxies trained at, where it differs
    if horizon is not None and peak is not None and fraction < 1:
        trained = proxy_peak(peak, fraction, horizon.exponent)
    data = {
        "study": study_name,
        "trial": choice.entry.best.number,
        "lineage": lineage(records, choice.entry.best.number),
        "rung": choice.rung,
        "fraction": fraction,
        "length_steps": rung_steps(fraction, full_steps),
        "full_steps": full_steps,
        "trials_at_length": choice.reached,
        "seeds": len(choice.entry.values),
        "values": list(choice.entry.values),
        "score": choice.entry.score,
        "direction": direction,
        "steps_used": steps_total,
        "full_run_equivalents": round(steps_total / full_steps, 3),
        "trials": len(records),
        "horizon": None if horizon is None else horizon.exponent,
        "proxy_peak_lr": trained,
    }
    others = [e for e in choice.finalists if e is not choice.entry][:RUNNERS_UP]
    data["alternatives"] = [
        Recommendation(spec=e.spec, total_steps=full_steps, score=float(e.score), rules=(),
                       rationale=_runner_up(e, choice, fidelity, direction)).to_dict()
        for e in others
    ]
    evidence = (
        f"study {study_name!r}: last evaluated at {fraction:.0%} of the run "
        f"({data['length_steps']} of {full_steps} steps) on {data['seeds']} seed(s); "
        f"{choice.reached} trial(s) reached that length; search used {steps_total} steps "
        f"({data['full_run_equivalents']:g} full runs) over {len(records)} trials."
    )
    rationale = _rationale(choice, fidelity, direction)
    if trained is not None:
        assert horizon is not None
        rationale += (
            f" Its proxies trained at the peak a run of their length wants: at "
            f"{fraction:.0%} of the run at {trained:.3g} = {peak:.3g} x "
            f"{fraction:.3g}^-{horizon.exponent:g}; rule {horizon.reason}"
        )
    rec = Recommendation(
        spec=choice.entry.spec,
        total_steps=full_steps,
        rationale=rationale,
        rules=tuple(rules),
        score=float(choice.entry.score),
        evidence=evidence,
    )
    return rec, data


def _rationale(choice: Choice, fidelity: Fidelity, direction: str) -> str:
    entry = choice.entry
    shown = ", ".join(f"{v:.4g}" for v in entry.values)
    words = "lowest" if direction == "minimize" else "highest"
    parts = [
        f"Best of {len(choice.finalists)} configuration(s) at the longest rung reached "
        f"({fidelity.rungs[choice.rung]:.0%} of the run), judged by its worst seed "
        f"({entry.score:.4g}; seeds: {shown}), so it is good across seeds, not lucky on one."
    ]
    if choice.kept_rules is not None:
        parts = [
            f"The rules' configuration, kept: at {fidelity.rungs[choice.rung]:.0%} of the "
            f"run the best of {len(choice.finalists)} finalist(s) led it by only "
            f"{choice.kept_rules:.1%} (worst seed {entry.score:.4g}; seeds: {shown}), within "
            f"the {fidelity.trust:.0%} a lead short of full length must exceed when it comes "
            "with a higher peak LR: short runs favour higher peak LRs than full ones."
        ]
    elif choice.waived is not None and choice.waived <= 0:
        parts.append(
            f"It tied the rules' configuration at {fidelity.rungs[choice.rung]:.0%} of the "
            "run (the same worst-seed value), at a peak LR no higher than the rules'."
        )
    elif choice.waived is not None:
        parts.append(
            f"It led the rules' configuration by {choice.waived:.1%} at "
            f"{fidelity.rungs[choice.rung]:.0%} of the run, within the {fidelity.trust:.0%} "
            "trust margin, but at a peak LR no higher than the rules', where short runs' "
            "preference for higher peaks (what the margin guards against) cannot explain it."
        )
    elif len(choice.tied) > 1:
        parts.append(
            f"{len(choice.tied)} configurations were within {fidelity.tie:.1%} of the "
            f"{words} value; the one with the lowest peak LR was preferred for its margin "
            "from divergence."
        )
    peak = entry.spec.peak_lr
    if choice.diverged_lr is not None and peak:
        parts.append(
            f"In this family the search saw divergence from peak LR {choice.diverged_lr:.3g} "
            f"({choice.diverged_lr / peak:.2g}x the chosen peak)."
        )
    elif peak:
        parts.append("No run of this family diverged in the search.")
    return " ".join(parts)


def _runner_up(entry: Entry, choice: Choice, fidelity: Fidelity, direction: str) -> str:
    """Why a finalist other than the pick is where it is, in numbers."""
    at = f"{fidelity.rungs[choice.rung]:.0%} of the run"
    shown = ", ".join(f"{v:.4g}" for v in entry.values)
    what = "A finalist" if choice.rung == fidelity.last else "A configuration"
    text = f"{what} at {at}: worst seed {entry.score:.4g} (seeds: {shown})."
    behind = rules_lead(entry.score, choice.entry.score, direction)  # the pick's lead
    if behind == 0:
        return f"{text} It tied with the pick."
    if behind > 0:
        return f"{text} The pick led it by {behind:.1%}."
    # its lead, relative to its own value, as the pick's rationale states the same lead
    lead = rules_lead(choice.entry.score, entry.score, direction)
    pick_peak, peak = choice.entry.spec.peak_lr, entry.spec.peak_lr
    if choice.kept_rules is not None or (choice.waived is not None
                                         and higher_peak(peak, pick_peak)):
        who = "the pick, the rules' configuration," if choice.kept_rules is not None \
            else "the pick"
        ratio = f" ({peak / pick_peak:.2g}x the pick's)" if peak and pick_peak else ""
        return (f"{text} It led {who} by {lead:.1%}, at a peak LR higher than the rules' "
                f"configuration's{ratio}, within the {fidelity.trust:.0%} such a lead short "
                "of full length must exceed: short runs favour higher peaks. A full run of "
                "it is the test; the search's budget did not reach one.")
    return (f"{text} It led the pick by {lead:.1%}, within the {fidelity.tie:.1%} counted as "
            "a tie; the pick has the lower peak LR (more margin from divergence).")


def alternatives_of(evidence: dict[str, Any] | None) -> list[Any]:
    """The runners-up stored in a recommendation's evidence data (older studies: none)."""
    return [recommendation_from_dict(d) for d in (evidence or {}).get("alternatives") or ()]


def recommendation_from_dict(data: dict[str, Any]) -> Any:
    """The :class:`~lradvisor.rules.Recommendation` stored as a study's ``recommendation``."""
    from lradvisor.rules import Recommendation
    from lradvisor.schedules import ScheduleSpec

    spec = ScheduleSpec.from_dict(
        {k: data[k] for k in ("family", "params", "peak_lr") if k in data}
    )
    return Recommendation(
        spec=spec,
        total_steps=data.get("total_steps"),
        rationale=str(data.get("rationale", "")),
        rules=tuple(data.get("rules") or ()),
        score=float(data.get("score") or 0.0),
        evidence=data.get("evidence"),
    )


def best_recommendation(storage_url: str | None, study_name: str) -> Any:
    """The recommendation stored in study ``study_name`` (recomputed if none was stored).

    ``lradvisor suggest --study NAME`` answers with it and its runners-up
    (:func:`best_recommendations`).

    Raises:
        StudyError: the storage cannot be opened, the study does not exist, or it has
            no completed trial yet.
    """
    return best_recommendations(storage_url, study_name)[0]


def best_recommendations(storage_url: str | None, study_name: str) -> list[Any]:
    """As :func:`best_recommendation`, then its runners-up (the other finalists)."""
    from lradvisor.storage import load_study, open_storage

    storage = open_storage(storage_url, create=False)  # only reads: a read-only file will do
    return study_recommendations(load_study(storage, study_name, single_objective=True))


def study_recommendation(study: Any) -> Any:
    """The recommendation of an open Optuna ``study``: as :func:`best_recommendation`,
    for callers that hold the storage open (the service).

    Raises:
        StudyError: the study has no completed trial yet, or no trial with a schedule
            (one made by plain Optuna).
    """
    return study_recommendations(study)[0]


def study_recommendations(study: Any) -> list[Any]:
    """:func:`study_recommendation`, then its runners-up (the other finalists)."""
    return study_pick(study)[0]


def study_pick(study: Any) -> tuple[list[Any], dict[str, Any]]:
    """:func:`study_recommendations` and the evidence data of the first: as
    :func:`recommend` returns it (``trial``, the winner's trial, its first seed's where
    it ran on several; ``rung``, ``fraction`` and ``length_steps``, where it was judged;
    ``seeds``, ``lineage``, ...); for a stored recommendation the data stored with it
    (empty where none was).

    Raises:
        StudyError: as :func:`study_recommendation`.
    """
    from lradvisor.search._trial import record_of

    study_name = study.study_name
    attrs = study.user_attrs
    stored = attrs.get("recommendation")
    if stored:
        data = stored.get("evidence_data") or {}
        return [recommendation_from_dict(stored), *alternatives_of(data)], data
    fidelity = Fidelity.from_dict(attrs["fidelity"]) if attrs.get("fidelity") else Fidelity()
    records = [record_of(t) for t in study.get_trials(deepcopy=False)]
    full = attrs.get("full_steps") or max((r.steps_used for r in records), default=1) or 1
    found = recommend(records, fidelity, direction=study.direction.name.lower(),
                      full_steps=int(full), study_name=study_name,
                      rules=tuple(attrs.get("rules") or ()), horizon=Horizon.of(attrs))
    if found is None:
        complete = sum(r.state == "COMPLETE" for r in records)
        if complete and not any(r.spec is not None for r in records):  # plain Optuna's
            raise StudyError(
                f"study {study_name!r} has {complete} completed trial(s) but no schedule: "
                "none stores a spec, so it was not made by lradvisor search (or its "
                "service) and has no schedule to recommend.")
        raise StudyError(f"study {study_name!r} has no completed trial yet.")
    return [found[0], *alternatives_of(found[1])], found[1]
