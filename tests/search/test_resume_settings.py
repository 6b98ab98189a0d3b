"""What a resume keeps and what it may change (``search/_settings.py``), on real SQLite
studies: another trainable or workload is refused; another pruner, sampler or seed runs
and is recorded beside the creation's, which are kept, and workers run with it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from lradvisor.errors import StudyError
from lradvisor.search import run_search
from lradvisor.search._jobs import attach, create_search_study
from lradvisor.storage import open_storage

FILE = Path(__file__).with_name("search_trainables.py")
PROFILE = {"task": "scratch", "total_steps": 40}
QUICK = {"profile": PROFILE, "n_trials": 1, "study_name": "s", "device": "cpu"}


def _fidelity():
    from lradvisor.search import Fidelity

    return Fidelity(rungs=(0.25, 1.0))


def test_a_resume_with_another_trainable_is_refused_and_the_study_left_as_it_was(tmp_path):
    """Before: it ran, the study's trainable overwritten, trials of two models mixed."""
    url = f"sqlite:///{tmp_path}/s.db"
    run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(), **QUICK)
    before = len(optuna.load_study(study_name="s", storage=url).trials)
    with pytest.raises(StudyError, match=(
            rf"^study 's' trains '{FILE}:quadratic', not '{FILE}:returns_peak': trial "
            r"values of another model do not compare; use another --study name\.$")):
        run_search(f"{FILE}:returns_peak", storage=url, fidelity=_fidelity(), **QUICK)
    study = optuna.load_study(study_name="s", storage=url)
    assert study.user_attrs["trainable"] == f"{FILE}:quadratic"
    assert len(study.trials) == before


def test_a_resume_with_another_workload_is_refused_naming_both(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    create_search_study(workload="tabular-mlp", storage=url, study_name="w", n_trials=2)
    with pytest.raises(StudyError, match=r"^study 'w' was made for workload 'tabular-mlp', "
                       r"not 'digits-cnn': .*use another --study name\.$"):
        create_search_study(workload="digits-cnn", storage=url, study_name="w", n_trials=2)


def test_the_same_trainable_file_by_another_path_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(FILE.parent)
    url = f"sqlite:///{tmp_path}/s.db"
    run_search(f"{FILE.name}:quadratic", storage=url, fidelity=_fidelity(), **QUICK)
    before = len(optuna.load_study(study_name="s", storage=url).trials)
    run_search(f"./{FILE.name}:quadratic", storage=url, fidelity=_fidelity(), **QUICK)
    study = optuna.load_study(study_name="s", storage=url)
    assert len(study.trials) > before  # resumed: it ran trials in the same study
    assert study.user_attrs["trainable"] == f"{FILE.name}:quadratic"  # not overwritten


def test_a_resume_under_another_pruner_and_seed_keeps_the_creations_and_records_it(
        tmp_path):
    """Before: the resume's pruner and seed overwrote the ones the study was created
    with, and nothing said it had run under two settings."""
    url = f"sqlite:///{tmp_path}/s.db"
    run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(), **QUICK)
    run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(), pruner="median",
               seed=3, **QUICK)
    run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(), pruner="median",
               seed=3, **QUICK)  # the same again: nothing more to record
    attrs = optuna.load_study(study_name="s", storage=url).user_attrs
    assert (attrs["pruner"], attrs["sampler"], attrs["seed"]) == ("plateau", "tpe", 0)
    assert [{k: v for k, v in r.items() if k != "at"} for r in attrs["resumes"]] == [
        {"pruner": "median", "sampler": "tpe", "seed": 3}]


def test_workers_run_with_the_last_resumes_settings(tmp_path):
    """A resume for workers (``search --create-only`` / ``--jobs`` again) with another
    pruner and seed: the workers take them, the creation's stay stored."""
    url = f"sqlite:///{tmp_path}/s.db"
    args = {"profile": PROFILE, "n_trials": 2, "study_name": "s", "storage": url}
    create_search_study(f"{FILE}:quadratic", **args)
    create_search_study(f"{FILE}:quadratic", pruner="median", sampler="random", seed=5,
                        **args)
    study, _, goal, _ = attach(open_storage(url), "s", "w1")
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert isinstance(study.sampler.base, optuna.samplers.RandomSampler)
    assert goal.seed == 5
    assert study.user_attrs["seed"] == 0 and study.user_attrs["pruner"] == "plateau"


def test_a_resume_through_the_api_without_pruner_sampler_or_seed_keeps_the_studys(
        tmp_path):
    """``run_search``'s ``pruner``, ``sampler`` and ``seed`` default to the study's: before,
    to plateau, tpe and 0, which a resume ran with and recorded as a change."""
    url = f"sqlite:///{tmp_path}/s.db"
    run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(), pruner="median",
               sampler="random", seed=7, **QUICK)
    result = run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(), **QUICK)
    attrs = result.study.user_attrs
    assert (attrs["pruner"], attrs["sampler"], attrs["seed"]) == ("median", "random", 7)
    assert "resumes" not in attrs
    assert isinstance(result.study.pruner, optuna.pruners.MedianPruner)
    first_rung = [t for t in result.study.trials if t.user_attrs.get("rung") == 0]
    assert {t.user_attrs["seed"] for t in first_rung} == {7}  # finalists run 7 and 8
    fresh = run_search(f"{FILE}:quadratic", storage=url, fidelity=_fidelity(),
                       **{**QUICK, "study_name": "new"})
    new = fresh.study.user_attrs
    assert (new["pruner"], new["sampler"], new["seed"]) == ("plateau", "tpe", 0)


def test_workers_of_a_study_made_again_without_settings_keep_the_studys(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    args = {"profile": PROFILE, "n_trials": 2, "study_name": "s", "storage": url}
    create_search_study(f"{FILE}:quadratic", pruner="median", seed=5, **args)
    create_search_study(f"{FILE}:quadratic", **args)
    study, _, goal, _ = attach(open_storage(url), "s", "w1")
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert goal.seed == 5 and "resumes" not in study.user_attrs
