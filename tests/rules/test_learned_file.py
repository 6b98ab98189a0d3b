"""A learned guide file edited by hand, cut short or written by another version is one
line naming the file and its first faulty field (exit 2), for ``suggest`` and ``search``
alike, never a traceback from the middle of a blend. In-process (``lradvisor.cli.main``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lradvisor.cli import main
from lradvisor.rules._learn import LearnedGuide, load_learned

TRAINABLES = Path(__file__).resolve().parents[1] / "search" / "search_trainables.py"
PROFILE = {"task": "scratch", "arch": "cnn", "optimizer": "sgd", "total_steps": 800}
SUGGEST = ["suggest", "--task", "scratch", "--arch", "cnn", "--optimizer", "sgd",
           "--total-steps", "800"]
REMEDY = "; write it again with `lradvisor rules learn`."


def guide_data() -> dict:
    """A good guide: three digits-cnn-like studies that onecycle won."""
    categories = {"task": ("scratch",), "arch": ("cnn",), "optimizer": ("sgd",)}
    plain = LearnedGuide(categories)
    studies = tuple({"name": f"cnn-{i}", "label": "digits-cnn",
                     "family_scores": {"onecycle": 1.0, "cosine": 0.0},
                     "winner": {"family": "onecycle", "params": {}, "peak_lr": 0.3},
                     "lr_ratio": 0.3, "lr_find_ratio": None,
                     "features": plain.features(PROFILE)} for i in range(3))
    return LearnedGuide(categories, studies).to_dict()


def edited(path: Path, edit) -> Path:
    data = guide_data()
    edit(data)
    path.write_text(json.dumps(data))
    return path


def study(key, value):
    def edit(data):
        data["studies"][0][key] = value
    return edit


def top(key, value):
    def edit(data):
        data[key] = value
    return edit


CASES = {
    "format 2": (top("format", 2), "has format 2, but this lradvisor reads format 1"),
    "no radius": (lambda d: d.pop("radius"), "has no 'radius'"),
    "categories a list": (top("categories", [1]), "has categories [1], not a mapping of "
                          "task, arch, optimizer to lists of names"),
    "a category a string": (lambda d: d["categories"].update(task="scratch"),
                            "has categories {'task': 'scratch', 'arch': ['cnn'], "
                            "'optimizer': ['sgd']}, not a mapping of task, arch, optimizer "
                            "to lists of names"),
    "studies a mapping": (top("studies", {"a": 1}), "has studies {'a': 1}, not a list"),
    "a study a number": (lambda d: d["studies"].__setitem__(0, 1),
                         "has study 1 as 1, not a JSON object"),
    "no features": (study("features", None),
                    "has study 1 with features None, but its categories make 4 numbers"),
    "features of another encoding": (study("features", [1.0, 1.0, 1.0]),
                                     "has study 1 with features [1.0, 1.0, 1.0], but its "
                                     "categories make 4 numbers"),
    "a feature a string": (study("features", ["a", 1.0, 1.0, 1.0]),
                           "has study 1's feature 'a', not a finite number"),
    "no family scores": (study("family_scores", None), "has study 1 with family_scores "
                         "None, not a mapping of families to 0..1"),
    "a score a string": (study("family_scores", {"onecycle": "high"}),
                         "has study 1's score of 'onecycle' 'high', not a finite number "
                         ">= 0 and <= 1"),
    "an lr_ratio a string": (study("lr_ratio", "big"),
                             "has study 1's lr_ratio 'big', not a finite number >= -4 and <= 4"),
    "an lr_ratio NaN": (study("lr_ratio", math.nan),
                        "has study 1's lr_ratio nan, not a finite number >= -4 and <= 4"),
    "prior_strength 0": (top("prior_strength", 0),
                         "has prior_strength 0, not a finite number > 0"),
    "radius negative": (top("radius", -1), "has radius -1, not a finite number > 0"),
    "min_studies 0": (top("min_studies", 0), "has min_studies 0, not a whole number >= 1"),
    "min_studies 2.5": (top("min_studies", 2.5),
                        "has min_studies 2.5, not a whole number >= 1"),
}


def run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(args)
    return int(ended.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("case", list(CASES))
def test_suggest_says_what_is_wrong_with_the_file_in_one_line(case, tmp_path, capsys):
    """Before: a traceback (KeyError 'features', ValueError from math.dist, TypeError,
    ZeroDivisionError, AttributeError) for most, exit 1; or, for a radius or
    min_studies out of range, an answer blended from nonsense."""
    edit, what = CASES[case]
    path = edited(tmp_path / "learned.json", edit)
    code, err = run([*SUGGEST, "--learned", str(path)], capsys)
    assert (code, err.splitlines()) == (2, [f"Error: learned guide {str(path)!r} {what}{REMEDY}"])


def test_a_file_not_in_utf8_is_one_line(tmp_path, capsys):
    path = tmp_path / "learned.json"
    path.write_bytes(b"\xff\xfe\x00")
    code, err = run([*SUGGEST, "--learned", str(path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"Error: learned guide {str(path)!r} does not read as JSON: 'utf-8'")


def test_search_refuses_a_faulty_default_guide_before_the_study(tmp_path, capsys,
                                                                 monkeypatch):
    path = edited(tmp_path / "learned.json", study("features", None))
    monkeypatch.setenv("LRADVISOR_LEARNED", str(path))
    db = tmp_path / "s.db"
    code, err = run(["search", "--trainable", f"{TRAINABLES}:quadratic", "--task", "scratch",
                     "--total-steps", "40", "--trials", "2", "--storage", f"sqlite:///{db}"],
                    capsys)
    assert (code, err.splitlines()) == (2, [
        f"Error: learned guide {str(path)!r} has study 1 with features None, but its "
        f"categories make 4 numbers{REMEDY}"])
    assert not db.exists()


def test_a_good_file_still_loads_and_blends(tmp_path, capsys):
    """What every check lets through."""
    path = edited(tmp_path / "learned.json", lambda d: None)
    assert load_learned(path).to_dict() == guide_data()
    main([*SUGGEST, "--learned", str(path)])
    out = capsys.readouterr().out
    assert "Evidence: 3 studies, digits-cnn-like; ranked 1st (rules: 2nd)" in out


def test_a_guide_that_trusts_one_study_says_study(tmp_path, capsys):
    """min_studies 1 (a guide told to trust one study) said 'Evidence: 1 studies' and
    'Evidence from 1 similar studies moved the peak LR'."""
    def one(data):
        data["min_studies"] = 1
        data["studies"] = data["studies"][:1]
    main([*SUGGEST, "--learned", str(edited(tmp_path / "learned.json", one))])
    out = capsys.readouterr().out
    assert "Evidence: 1 study, digits-cnn-like; ranked 1st (rules: 2nd)" in out
    assert "Evidence from 1 similar study moved the peak LR from the rules' 0.1 to " in out
    assert "studies" not in out.lower()
