"""A guide that learns: the rules' advice blended with what finished studies measured.

``lradvisor rules learn`` (:mod:`lradvisor.learn`) reads every finished study and
writes a small JSON model: for each study its profile as a feature vector, how each
family it tried ranked (1 best .. 0 worst), the winner's spec and its peak LR relative
to the rules' default peak (and to the LR range test, when one ran). This module reads
that file with plain Python (``lradvisor suggest`` stays free of scikit-learn) and
blends it into the rules' :class:`~lradvisor.rules.Advice`:

* the *similar* studies are those within ``radius`` (0.9) of the profile: the same
  task, architecture and optimizer (a mismatch alone is ``sqrt(2)`` away, a value no
  study had 1), lengths within 1.8 decades (``0.5`` per decade); each weighs
  ``1 - distance / radius``;
* with fewer than ``min_studies`` of them the rules' answer is kept, and says so;
* else each family's place is ``(1 - a) * rules + a * evidence`` with
  ``a = n_f / (n_f + prior_strength)`` (``n_f``: similar studies that tried it);
  untried families count as middling (0.5); a family that won on similar studies but
  that the rules do not name is added with the winning settings;
* the peak LR moves by the similar winners' mean ratio to the rules' peak, shrunk the
  same way (each rationale says to what, from what), and the search prior's LR range
  is widened to hold it.

Every recommendation then carries ``evidence: N studies, <name>-like`` and the trace
says whether the evidence changed the ranking.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lradvisor.errors import RulesError

__all__ = ["DEFAULT_LEARNED", "LEARNED_ENV", "LearnedGuide", "advise_blended", "blend",
           "count_studies", "learned_path", "load_learned", "save_learned", "thin_evidence",
           "unfound_note"]

LEARNED_ENV = "LRADVISOR_LEARNED"
DEFAULT_LEARNED = "studies/learned.json"
CATEGORICAL = ("task", "arch", "optimizer")
FORMAT = 1
# A study's lr_ratio and lr_find_ratio are log10 ratios of peak LRs; a winner's peak more
# than 1e4 times from the rules' (or the range test's) is a broken record, not evidence.
LR_RATIO_BOUND = 4.0


def learned_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the learned guide lives: ``path``, else ``$LRADVISOR_LEARNED``, else the default
    (``studies/learned.json`` beside the default study database)."""
    return Path(path or os.environ.get(LEARNED_ENV) or DEFAULT_LEARNED)


@dataclass(frozen=True)
class LearnedGuide:
    """The fitted evidence model, as stored in the JSON file.

    Attributes:
        categories: per categorical field, its values in feature order.
        studies: one dict per study: ``name``, ``uid`` (its ``study_uid``; absent
            or ``None`` in older files, and for a study made without one), ``label``,
            ``features``,
            ``family_scores`` (family -> 0..1), ``winner`` (spec dict), ``lr_ratio``
            (log10 of winner peak / rules' peak), ``lr_find_ratio`` (or ``None``);
            both within +-:data:`LR_RATIO_BOUND` (a peak within 1e-4..1e4 of the other).
        radius, min_studies, prior_strength, length_weight: see the module doc.
    """

    categories: Mapping[str, Sequence[str]]
    studies: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    radius: float = 0.9
    min_studies: int = 3
    prior_strength: float = 2.0
    length_weight: float = 0.5

    def features(self, profile: Mapping[str, Any]) -> list[float]:
        """The profile's vector: one-hot task/arch/optimizer, then weighted log10(steps)."""
        out: list[float] = []
        for name in CATEGORICAL:
            value = str(profile.get(name) or "none")
            out += [1.0 if value == c else 0.0 for c in self.categories.get(name, ())]
        steps = profile.get("total_steps") or profile.get("epochs")
        out.append(self.length_weight * math.log10(steps) if steps else 0.0)
        return out

    def neighbours(self, profile: Mapping[str, Any]) -> list[tuple[float, Mapping[str, Any]]]:
        """``(distance, study)`` of the stored studies within ``radius``, nearest first."""
        x = self.features(profile)
        found = []
        for study in self.studies:
            d = math.dist(x, study["features"])
            if d <= self.radius:
                found.append((d, study))
        return sorted(found, key=lambda pair: pair[0])

    def near(self, profile: Mapping[str, Any]) -> LearnedGuide:
        """This guide with only the studies within ``radius`` of ``profile``: it blends
        ``profile`` exactly as the whole guide does, and is small enough to store in a
        study (workers re-blend from it)."""
        return replace(self, studies=tuple(s for _, s in self.neighbours(profile)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (with a format number)."""
        return {"format": FORMAT, "categories": {k: list(v) for k, v in self.categories.items()},
                "studies": [dict(s) for s in self.studies], "radius": self.radius,
                "min_studies": self.min_studies, "prior_strength": self.prior_strength,
                "length_weight": self.length_weight}

    def to_json(self) -> str:
        """The JSON text of the guide's file."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Any, source: str = "a learned guide", *,
                  remedy: str = "write it again with `lradvisor rules learn`") -> LearnedGuide:
        """The inverse of :meth:`to_dict`, every field checked as :func:`blend` reads it:
        a file edited by hand or written by another version fails here, in one line, not
        in the middle of a blend.

        Raises:
            RulesError: ``source`` (what the data is), its first faulty field and
                ``remedy`` (what fixes it: a guide stored with a study is not a file).
        """
        try:
            return cls._checked(data)
        except _Malformed as err:
            raise RulesError(f"{source} {err}; {remedy}.") from None

    @classmethod
    def _checked(cls, data: Any) -> LearnedGuide:
        if not isinstance(data, Mapping):
            raise _Malformed(f"must be a JSON object, but got a {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise _Malformed(f"has format {data.get('format')!r}, but this lradvisor reads "
                             f"format {FORMAT}")
        missing = [k for k in ("categories", "studies", *_SETTINGS) if k not in data]
        if missing:
            raise _Malformed(f"has no {missing[0]!r}")
        categories = _categories(data["categories"])
        if not isinstance(data["studies"], list):
            raise _Malformed(f"has studies {data['studies']!r:.60}, not a list")
        dim = sum(len(v) for v in categories.values()) + 1
        studies = tuple(_study(i, s, dim) for i, s in enumerate(data["studies"]))
        radius, min_studies, strength, weight = (
            _number(key, data[key], low=low, open_low=key in ("radius", "prior_strength"),
                    whole=key == "min_studies")
            for key, low in zip(_SETTINGS, (0.0, 1.0, 0.0, 0.0), strict=True))
        return cls(categories, studies, radius, int(min_studies), strength, weight)


_SETTINGS = ("radius", "min_studies", "prior_strength", "length_weight")


class _Malformed(Exception):
    """What is wrong with a learned guide's data (``from_dict`` names the guide)."""


def _number(what: str, value: Any, *, low: float | None = None, high: float | None = None,
            open_low: bool = False, whole: bool = False) -> float:
    """``value`` as a finite float within the bounds given."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and ((low is not None and (value < low or (open_low and value == low)))
               or (high is not None and value > high) or (whole and value != int(value))):
        ok = False
    if not ok:
        bounds = "" if low is None else f" {'>' if open_low else '>='} {low:g}"
        bounds += "" if high is None else f" and <= {high:g}"
        kind = "a whole number" if whole else "a finite number"
        raise _Malformed(f"has {what} {value!r:.60}, not {kind}{bounds}")
    return float(value)


def _categories(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping) or not set(value) <= set(CATEGORICAL) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()):
        raise _Malformed(f"has categories {value!r:.60}, not a mapping of "
                         f"{', '.join(CATEGORICAL)} to lists of names")
    return {k: tuple(v) for k, v in value.items()}


def _study(index: int, study: Any, dim: int) -> Mapping[str, Any]:
    """One stored study, checked as :func:`blend` reads it (``dim``: its feature count)."""
    what = f"study {index + 1}"
    if not isinstance(study, Mapping):
        raise _Malformed(f"has {what} as {study!r:.60}, not a JSON object")
    features = study.get("features")
    if not isinstance(features, list) or len(features) != dim:
        raise _Malformed(f"has {what} with features {features!r:.60}, but its categories "
                         f"make {dim} numbers")
    for value in features:
        _number(f"{what}'s feature", value)
    scores = study.get("family_scores")
    if not isinstance(scores, Mapping) or not scores:
        raise _Malformed(f"has {what} with family_scores {scores!r:.60}, not a mapping "
                         "of families to 0..1")
    for family, score in scores.items():
        _number(f"{what}'s score of {family!r}", score, low=0.0, high=1.0)
    uid = study.get("uid")
    if uid is not None and not isinstance(uid, str):
        raise _Malformed(f"has {what} with uid {uid!r:.60}, not a study uid (text)")
    for key in ("lr_ratio", "lr_find_ratio"):  # log10 ratios: a peak within 1e-4..1e4
        if study.get(key) is not None:
            _number(f"{what}'s {key}", study[key], low=-LR_RATIO_BOUND, high=LR_RATIO_BOUND)
    return study


def load_learned(path: str | os.PathLike[str] | None = None) -> LearnedGuide | None:
    """The learned guide at :func:`learned_path`, or ``None`` when its default place
    (``$LRADVISOR_LEARNED`` or ``studies/learned.json``) holds no file: the guide is
    optional, but a ``path`` given must name one.

    Raises:
        RulesError: ``path`` is given and is not a file, or the file is not a learned guide.
    """
    file = learned_path(path)
    if not file.is_file():
        if path is None:
            return None
        raise RulesError(f"learned guide {str(file)!r} is not a file; give the JSON file "
                         "that `lradvisor rules learn` wrote.")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # JSONDecodeError, UnicodeDecodeError
        raise RulesError(f"learned guide {str(file)!r} does not read as JSON: {err}") from None
    return LearnedGuide.from_dict(data, f"learned guide {str(file)!r}")


def unfound_note(path: str | os.PathLike[str] | None = None) -> str:
    """What to tell when :func:`load_learned` (``path`` not given) found no guide because
    ``$LRADVISOR_LEARNED`` names a place that holds no file: a variable set on purpose
    that is ignored in silence looks like a guide that learned nothing. ``""`` when
    ``path`` is given (it must exist), the variable is unset, or it names a file.

    Example:
        >>> unfound_note("given.json")
        ''
    """
    named = os.environ.get(LEARNED_ENV)
    if path or not named or Path(named).is_file():
        return ""
    return (f"note: ${LEARNED_ENV} names {named!r}, which holds no file yet; answering from "
            "the rules alone (run `lradvisor rules learn`)")


def advise_blended(profile: Any, rules_files: Sequence[str | os.PathLike[str]] = (),
                   guide: LearnedGuide | None = None) -> tuple[Any, str]:
    """The answer of ``lradvisor suggest`` and of the service's ``/v1/suggest``: the rules'
    :class:`~lradvisor.rules.Advice` for ``profile`` blended with ``guide`` (``None``: the
    rules' own), and :func:`thin_evidence`'s note for the text (``""`` when none)."""
    from lradvisor.rules import advise

    advice = advise(profile, rules_files)
    return blend(advice, guide), thin_evidence(advice, guide)


def save_learned(guide: LearnedGuide, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``guide`` as JSON at :func:`learned_path` (its folder created); the path.

    Raises:
        OutputError: the file cannot be written there.
    """
    from lradvisor.plots import write_text

    return write_text(learned_path(path), guide.to_json())


def blend(advice: Any, guide: LearnedGuide | None) -> Any:
    """``advice`` re-ranked by the evidence of similar studies (see the module doc)."""
    if guide is None:
        return advice
    profile = advice.profile.to_dict()
    near = guide.neighbours(profile)
    label = _label(near)
    if len(near) < guide.min_studies:
        return replace(advice, trace=(*advice.trace, f"learned: {_thin(near, guide)}"))
    weights = [max(1e-6, 1.0 - d / guide.radius) for d, _ in near]
    studies = [s for _, s in near]
    recs = list(advice.recommendations) + _added(advice, studies)
    rules_rank = {r.spec.family: i for i, r in enumerate(advice.recommendations)}
    top_score = max((r.score for r in advice.recommendations), default=1.0) or 1.0
    blended = {}
    for rec in recs:
        fam = rec.spec.family
        rules = max(rec.score, 0.0) / top_score if fam in rules_rank else 0.0
        tried = [(w, s["family_scores"][fam]) for w, s in zip(weights, studies, strict=False)
                 if fam in s["family_scores"]]
        a = len(tried) / (len(tried) + guide.prior_strength)
        seen = sum(w * v for w, v in tried) / sum(w for w, _ in tried) if tried else 0.5
        blended[fam] = (1 - a) * rules + a * seen
    fixed_lr = advice.prior.lr_low == advice.prior.lr_high  # the profile gave the peak LR
    ratio = 0.0 if fixed_lr else _lr_ratio(weights, studies, guide.prior_strength)
    order = sorted(
        recs, key=lambda r: (-blended[r.spec.family], rules_rank.get(r.spec.family, 99))
    )
    head = f"evidence: {count_studies(len(near))}{', ' + label + '-like' if label else ''}"
    out = []
    for place, rec in enumerate(order):
        was = rules_rank.get(rec.spec.family)
        moved = "new" if was is None else ("" if was == place else f"rules: {_nth(was)}")
        text = f"{head}; ranked {_nth(place)}" + (f" ({moved})" if moved else "")
        spec, why = rec.spec, rec.rationale
        if ratio and spec.peak_lr:
            spec = spec.replace(peak_lr=spec.peak_lr * 10**ratio)
            why += (f" Evidence from {count_studies(len(near), 'similar ')} moved the peak LR "
                    f"from the rules' {rec.spec.peak_lr:.3g} to {spec.peak_lr:.3g}.")
        out.append(replace(rec, spec=spec, rationale=why, evidence=text))
    changed = [r.spec.family for r in order] != [r.spec.family for r in advice.recommendations]
    trace = [f"learned: {head}; " + ("the evidence changed the ranking to "
                                      + ", ".join(r.spec.family for r in order) if changed
                                      else "the rules' ranking stands") + "."]
    if ratio:
        trace.append(f"learned: peak LR x{10**ratio:.3g} (similar studies' winners).")
    prior = _prior(advice.prior, order, blended, 10**ratio)
    return replace(advice, recommendations=tuple(out), prior=prior,
                   trace=(*advice.trace, *trace))


def thin_evidence(advice: Any, guide: LearnedGuide | None) -> str:
    """What the text says when similar studies exist but are too few to change the
    rules' answer (``evidence: 2 similar studies, ...``); ``""`` when there are none
    or enough (the recommendations carry the evidence then)."""
    if guide is None:
        return ""
    near = guide.neighbours(advice.profile.to_dict())
    return _thin(near, guide) if 0 < len(near) < guide.min_studies else ""


def _thin(near: Sequence[tuple[float, Mapping[str, Any]]], guide: LearnedGuide) -> str:
    label = _label(near)
    return (f"evidence: {count_studies(len(near), 'similar ')}"
            f"{', ' + label + '-like' if label else ''}; fewer than {guide.min_studies}, "
            "so the rules' ranking is kept.")


def _label(near: Sequence[tuple[float, Mapping[str, Any]]]) -> str:
    labels = Counter(str(s.get("label") or s.get("name")) for _, s in near)
    return labels.most_common(1)[0][0] if labels else ""


def count_studies(count: int, kind: str = "") -> str:
    """``1 study``, ``4 studies`` (``kind``: a word before the noun, with its space)."""
    return f"{count} {kind}{'study' if count == 1 else 'studies'}"


def _nth(index: int) -> str:
    n = index + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _added(advice: Any, studies: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Recommendations for families that won on similar studies but the rules do not name."""
    from lradvisor.schedules import ScheduleSpec

    have = {r.spec.family for r in advice.recommendations}
    out, base, steps = [], advice.best, advice.profile.steps
    for study in studies:
        try:
            spec = ScheduleSpec.from_dict(study["winner"])
            if steps is not None:  # a length an older search kept in steps must fit
                spec.multiplier_fn(steps)  # this run (warmup_steps 20 of 35 does not)
        except Exception:  # noqa: BLE001 - a stored winner from an older version: skip it
            continue
        if spec.family in have:
            continue
        have.add(spec.family)
        out.append(replace(base, spec=spec.replace(peak_lr=base.spec.peak_lr), score=0.0,
                           rules=(), rationale=f"Won on similar study {study.get('name')!r}."))
    return out


def _lr_ratio(weights: Sequence[float], studies: Sequence[Mapping[str, Any]],
              strength: float) -> float:
    pairs = [(w, s["lr_ratio"]) for w, s in zip(weights, studies, strict=False)
             if s.get("lr_ratio") is not None]
    if not pairs:
        return 0.0
    mean = sum(w * r for w, r in pairs) / sum(w for w, _ in pairs)
    return mean * len(pairs) / (len(pairs) + strength)


def _prior(prior: Any, order: Sequence[Any], blended: Mapping[str, float], factor: float) -> Any:
    from lradvisor.rules._advice import FamilyPrior

    by_family = {f.family: f for f in prior.families}
    total = sum(max(blended[r.spec.family], 1e-6) for r in order)
    fams = []
    for rec in order:
        fam = rec.spec.family
        weight = round(max(blended[fam], 1e-6) / total, 6)
        old = by_family.get(fam)
        fams.append(replace(old, weight=weight) if old is not None
                    else FamilyPrior(fam, weight, {}, dict(rec.spec.params)))
    peak = prior.lr_default * factor
    if prior.lr_low == prior.lr_high:  # the profile fixed the peak LR: keep it
        return replace(prior, families=tuple(fams))
    return replace(prior, families=tuple(fams), lr_default=peak,
                   lr_low=min(prior.lr_low, peak / 3), lr_high=max(prior.lr_high, peak * 3))
