"""A search's learned evidence: the guide's part near the profile, blended into the
rules' advice, and, on a resume, that study's own evidence left out.

A study searched, then learned from (``lradvisor rules learn``), then resumed would
otherwise count its own result as a similar study: ``4 similar studies (t1, t2, t3,
...)`` for a study and three others, blended where two others alone are too few. The
guide records each evidence study's :data:`~lradvisor.storage.STUDY_UID`, so the
study is told apart from a same-named one of another database. A guide written before
uids were recorded leaves nothing out: a name alone may be another database's study
(``rules learn`` again writes the uids).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lradvisor.search._space import SearchSpace

__all__ = ["leave_out_own_evidence", "with_evidence"]


def with_evidence(setup: dict[str, Any], learned: Any) -> None:
    """Set ``setup``'s advice, space, rules and stored guide from the rules' own advice
    (``setup["rules_advice"]``) blended with the part of ``learned`` (a ``LearnedGuide``
    or ``None``) near the profile."""
    advice = setup["rules_advice"]
    if learned is not None:
        from lradvisor.rules._learn import blend

        learned = learned.near(advice.profile.to_dict())
        advice = blend(advice, learned)
    setup["advice"], setup["guide"] = advice, learned
    setup["space"] = SearchSpace.from_prior(advice.prior, setup["families"],
                                            direction=setup["direction"],
                                            total_steps=setup["full_steps"])
    setup["rules"] = tuple(dict.fromkeys(r for rec in advice.recommendations for r in rec.rules))
    setup["learned"] = None if learned is None else learned.to_dict()


def leave_out_own_evidence(setup: dict[str, Any], uid: Any) -> None:
    """Blend ``setup``'s guide again without the evidence of the study ``uid`` (the
    study this search resumes); nothing changes when the guide holds none of it (or
    ``uid`` is not a uid: a study made by plain Optuna or an older lradvisor)."""
    guide = setup.get("guide")
    if guide is None or not isinstance(uid, str) or not uid:
        return
    others = tuple(s for s in guide.studies if s.get("uid") != uid)
    if len(others) != len(guide.studies):
        with_evidence(setup, replace(guide, studies=others))
