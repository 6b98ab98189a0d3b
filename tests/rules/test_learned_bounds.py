"""A learned guide's peak-LR ratios are bounded: ``lr_ratio`` and ``lr_find_ratio`` are
log10 ratios, and a winner's peak more than 1e4 times from the rules' (or the range
test's) is refused in a file and left out by ``rules learn``."""

from __future__ import annotations

import json

import pytest

from lradvisor.cli import main
from lradvisor.learn import learned_from
from lradvisor.rules._learn import LearnedGuide

PROFILE = {"task": "scratch", "arch": "cnn", "optimizer": "sgd", "total_steps": 800}
SUGGEST = ["suggest", "--task", "scratch", "--arch", "cnn", "--optimizer", "sgd",
           "--total-steps", "800"]


def guide_file(path, key: str, value: float):
    """Three digits-cnn-like studies, each with ``key`` set to ``value``."""
    categories = {"task": ("scratch",), "arch": ("cnn",), "optimizer": ("sgd",)}
    studies = tuple({"name": f"cnn-{i}", "family_scores": {"onecycle": 1.0},
                     "winner": {"family": "onecycle", "params": {}, "peak_lr": 0.3},
                     "lr_ratio": 0.3, "lr_find_ratio": None, key: value,
                     "features": LearnedGuide(categories).features(PROFILE)} for i in range(3))
    path.write_text(LearnedGuide(categories, studies).to_json())
    return path


@pytest.mark.parametrize(("key", "value"), [("lr_ratio", 400), ("lr_ratio", -4.5),
                                            ("lr_find_ratio", 5)])
def test_a_ratio_beyond_1e4_is_refused_in_one_line(key, value, tmp_path, capsys):
    """Before: lr_ratio 400 passed (finite) and suggest printed a peak LR of 1e+239."""
    path = guide_file(tmp_path / "l.json", key, value)
    with pytest.raises(SystemExit) as ended:
        main([*SUGGEST, "--learned", str(path)])
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"Error: learned guide {str(path)!r} has study 1's {key} {value!r}, not a finite "
        "number >= -4 and <= 4; write it again with `lradvisor rules learn`."]


def test_a_ratio_at_the_bound_still_blends(tmp_path, capsys):
    path = guide_file(tmp_path / "l.json", "lr_ratio", 4.0)
    main([*SUGGEST, "--learned", str(path)])
    assert "moved the peak LR from the rules' 0.1 to" in capsys.readouterr().out


def plant(url: str, name: str, peak: float, range_test_peak: float) -> None:
    """A finished study whose winner ran at ``peak`` (the rules' peak is 0.1)."""
    import optuna

    from lradvisor.storage import get_study, open_storage

    study = get_study(open_storage(url), name)
    for key, value in (("profile", PROFILE), ("prior", {"lr_default": 0.1}),
                       ("lr_find", {"suggestion": {"peak_lr": range_test_peak}}),
                       ("recommendation", {"family": "onecycle", "params": {},
                                           "peak_lr": peak})):
        study.set_user_attr(key, value)
    spec = json.dumps({"family": "onecycle", "params": {}, "peak_lr": peak})
    study.add_trial(optuna.trial.create_trial(
        value=0.1, user_attrs={"spec": spec, "rung": 0, "steps_used": 40}))


def test_rules_learn_leaves_a_ratio_beyond_the_bound_out(tmp_path):
    """Before: a winner at 1e5 (rules 0.1) was written as lr_ratio 6.0, which the guide's
    own reader now refuses; its ranking still counts, its ratio does not."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    plant(url, "wild", 1e5, 1e-7)
    plant(url, "fine", 100.0, 1.0)
    guide, _ = learned_from(url)
    ratios = {s["name"]: (s["lr_ratio"], s["lr_find_ratio"]) for s in guide.studies}
    assert ratios["wild"] == (None, None)
    assert ratios["fine"] == (pytest.approx(3.0), pytest.approx(2.0))
    assert LearnedGuide.from_dict(json.loads(guide.to_json())) == guide  # reads back
