"""``lradvisor rules learn``: fit the learned guide from the finished studies in a database.

Every study with a stored profile and recommendation is evidence for its task profile:
which families won (the first rung's ranking of families by their best value, the
recommendation's family placed first) and at which peak LR, relative to the rules'
default peak and, when ``search --lr-find`` ran, to the LR range test's peak. The
profiles are encoded with scikit-learn (``OneHotEncoder`` for task, architecture and
optimizer; log10 of the length) and indexed with ``NearestNeighbors`` over the radius
:mod:`lradvisor.rules._learn` uses; the file written holds the encoding and the
per-study evidence, so ``suggest`` evaluates the same neighbourhoods in plain Python.

Example:
    >>> guide = learn("sqlite:///studies/lradvisor.db", "studies/learned.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.rules._learn import (
    CATEGORICAL,
    LR_RATIO_BOUND,
    LearnedGuide,
    learned_path,
    save_learned,
)
from lradvisor.storage._studies import STUDY_UID

__all__ = ["collect", "fit", "learn", "learned_from"]


def collect(storage_url: str | None) -> list[dict[str, Any]]:
    """One evidence dict per finished study: ``name``, ``uid``, ``label``, ``profile``,
    ``family_scores``, ``winner``, ``lr_ratio``, ``lr_find_ratio``."""
    from lradvisor.storage import list_studies, load_study, open_storage

    storage = open_storage(storage_url, create=False)  # only reads: a read-only file will do
    out = []
    for summary in list_studies(storage):
        if len(summary.directions) != 1 or not _searched(summary.user_attrs):
            continue  # another tool's study beside ours: not evidence, and not read
        study = load_study(storage, summary.study_name)
        found = evidence_of(study)
        if found is not None:
            out.append(found)
    return out


def evidence_of(study: Any) -> dict[str, Any] | None:
    """What one study says, or ``None`` when it has no profile or no recommendation (or
    holds something else under those names, as another tool's study may)."""
    attrs = study.user_attrs
    rec, profile = attrs.get("recommendation"), attrs.get("profile")
    if len(study.directions) != 1 or not _searched(attrs):
        return None
    sign = 1.0 if study.direction.name.lower() == "minimize" else -1.0
    best: dict[str, float] = {}
    for trial in study.get_trials(deepcopy=False):
        fam = _family(trial.user_attrs.get("spec"))
        value = trial.value if trial.state.name == "COMPLETE" else None
        if (trial.user_attrs.get("rung", 0) != 0 or fam is None or value is None
                or not math.isfinite(value)):
            continue
        best[fam] = min(best.get(fam, math.inf), sign * value)
    order = [rec["family"]] + sorted((f for f in best if f != rec["family"]), key=best.__getitem__)
    scores = {f: 1.0 - i / (len(order) - 1) if len(order) > 1 else 1.0
              for i, f in enumerate(order)}
    peak = _positive(rec.get("peak_lr"))
    # The rules' own peak: a study searched with a learned guide has the guide's moved
    # peak as its prior's default, and ratios to that would pull the next fit back.
    prior_peak = _positive(attrs.get("rules_lr_default")) or _positive(
        _get(attrs.get("prior"), "lr_default"))
    found = _positive(_get(_get(attrs.get("lr_find"), "suggestion"), "peak_lr"))
    uid = attrs.get(STUDY_UID)  # a resume of this study leaves its evidence out by it
    return {
        "name": study.study_name, "uid": uid if isinstance(uid, str) else None,
        "label": attrs.get("workload") or study.study_name,
        "profile": profile, "family_scores": scores,
        "winner": {k: rec[k] for k in ("family", "params", "peak_lr") if k in rec},
        "lr_ratio": _log_ratio(peak, prior_peak), "lr_find_ratio": _log_ratio(peak, found),
    }


def _log_ratio(peak: float | None, base: float | None) -> float | None:
    """``log10(peak / base)``; ``None`` without both, or beyond the guide's bound (a peak
    over 1e4 times from the other: a broken record, left out rather than clipped, since
    it says nothing of where the peak should move; the study's ranking still counts)."""
    if not peak or not base:
        return None
    ratio = math.log10(peak / base)
    return ratio if abs(ratio) <= LR_RATIO_BOUND else None


def _searched(attrs: Mapping[str, Any]) -> bool:
    """Whether ``attrs`` hold a profile and recommendation as ``lradvisor search`` stores
    them: the fields :func:`fit` reads, of the types it reads."""
    rec, profile = attrs.get("recommendation"), attrs.get("profile")
    if not isinstance(rec, Mapping) or not isinstance(rec.get("family"), str):
        return False
    if rec.get("peak_lr") is not None and _positive(rec["peak_lr"]) is None:
        return False
    if not isinstance(profile, Mapping):
        return False
    length = profile.get("total_steps") or profile.get("epochs")
    return length is None or _positive(length) is not None


def _family(spec: Any) -> str | None:
    """The family of a trial's stored spec (JSON text), or ``None`` when it has none."""
    try:
        family = json.loads(spec).get("family") if isinstance(spec, str) else None
    except (ValueError, AttributeError):  # not JSON, or JSON but not an object
        return None
    return family if isinstance(family, str) else None


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _positive(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) and value > 0 else None


def fit(evidence: Sequence[dict[str, Any]], **settings: Any) -> tuple[LearnedGuide, list[int]]:
    """The learned guide for ``evidence``, and for each study how many *other* similar
    studies stand beside it (scikit-learn's radius neighbours, itself left out)."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import OneHotEncoder

    guide = LearnedGuide({name: () for name in CATEGORICAL}, (), **settings)
    if not evidence:
        return guide, []
    table = [[str(e["profile"].get(n) or "none") for n in CATEGORICAL] for e in evidence]
    encoder = OneHotEncoder(handle_unknown="ignore").fit(table)
    categories = {n: tuple(str(c) for c in cats)
                  for n, cats in zip(CATEGORICAL, encoder.categories_, strict=False)}
    guide = LearnedGuide(categories, (), **settings)
    onehot = encoder.transform(table).toarray()
    lengths = np.array([[guide.features(e["profile"])[-1]] for e in evidence])
    features = np.hstack([onehot, lengths])
    index = NearestNeighbors(radius=guide.radius).fit(features)
    neighbours = index.radius_neighbors(features, return_distance=False)
    studies = tuple({**{k: v for k, v in e.items() if k != "profile"},
                     "features": [float(v) for v in row]}
                    for e, row in zip(evidence, features, strict=False))
    guide = LearnedGuide(categories, studies, **settings)
    return guide, [len(n) - 1 for n in neighbours]


def learn(storage_url: str | None, path: str | Path | None = None,
          **settings: Any) -> tuple[LearnedGuide, Path, list[int]]:
    """Collect, fit and write the learned guide; returns it, its path, neighbour counts.

    Raises:
        StudyError: the storage holds no finished study (a wrong or empty database): an
            empty guide would replace the one already written.
    """
    guide, counts = learned_from(storage_url, keeping=learned_path(path), **settings)
    return guide, save_learned(guide, path), counts


def learned_from(storage_url: str | None, *, keeping: Path | None = None,
                 **settings: Any) -> tuple[LearnedGuide, list[int]]:
    """Collect and fit the learned guide (written nowhere); returns it and the neighbour
    counts. ``keeping``: the guide's file, named in the error as left as it was.

    Raises:
        StudyError: the storage holds no finished study (a wrong or empty database).
    """
    from lradvisor.storage import require_storage

    require_storage(storage_url)  # only reads studies: a mistyped SQLite path is not made
    evidence = collect(storage_url)
    if not evidence:
        kept = f"; {str(keeping)!r} was left as it was" if keeping is not None else ""
        raise StudyError(
            "no finished study to learn from in this storage (a study needs the profile and "
            f"recommendation a `lradvisor search` stores){kept}."
        )
    return fit(evidence, **settings)
