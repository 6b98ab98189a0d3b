"""A resume that gives the study a new peak-LR range (a new ``search --lr-find``) is
recorded in the study's ``resumes``, with the range before it, as a resume that changes
the pruner, sampler or seed is; ``studies show`` lists it with them.

The new range replaced the study's ``lr_range`` and nothing said it had changed: a
study's trials came from two ranges with no trace of the first. SQLite; the API
in-process with a trainable that trains nothing, the CLI with a small MLP's range test
and ``studies show`` in a real subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lradvisor.cli import cli
from lradvisor.search import Fidelity, run_search
from tests.conftest import run_cli

HERE = Path(__file__).resolve().parent
PEAK = f"{HERE / 'search_trainables.py'}:returns_peak"
MLP = f"{HERE.parent / 'test_lrfind.py'}:mlp_sweep"
PROFILE = {"task": "quick", "optimizer": "sgd", "total_steps": 40}
FID = Fidelity(rungs=(0.5, 1.0))
RANGE, NEW, LATER = (1e-4, 1e-3), (2e-3, 5e-3), (3e-3, 6e-3)


def _search(url: str, **kwargs):
    return run_search(PEAK, profile=PROFILE, n_trials=1, storage=url, study_name="s",
                      fidelity=FID, device="cpu", **kwargs)


def _resumes(study) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "at"}
            for r in study.user_attrs.get("resumes", [])]


def test_a_resume_with_a_new_range_is_recorded_with_the_one_before(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    _search(url, lr_range=RANGE)
    assert _resumes(_search(url).study) == []  # searches the study's range: no change
    assert _resumes(_search(url, lr_range=RANGE).study) == []  # the same range again
    study = _search(url, lr_range=NEW).study
    assert _resumes(study) == [{"pruner": "plateau", "sampler": "tpe", "seed": 0,
                                "lr_range": list(NEW), "lr_range_was": list(RANGE)}]
    study = _search(url, lr_range=LATER, seed=3).study  # with another seed: one entry
    assert _resumes(study)[1] == {"pruner": "plateau", "sampler": "tpe", "seed": 3,
                                  "lr_range": list(LATER), "lr_range_was": list(NEW)}
    assert study.user_attrs["lr_range"] == list(LATER)
    assert (study.user_attrs["pruner"], study.user_attrs["seed"]) == ("plateau", 0)  # kept


def test_search_lr_find_on_a_study_of_the_rules_range_shows_in_studies_show(tmp_path):
    """A study made without a range test (the rules' range), resumed with ``--lr-find``:
    ``studies show`` lists the resume with the range test's range and the rules'."""
    from lradvisor.storage import load_study, open_storage

    url = f"sqlite:///{tmp_path / 's.db'}"
    first = run_search(MLP, profile=PROFILE, n_trials=1, storage=url, study_name="s",
                       fidelity=FID, device="cpu").study
    space = first.user_attrs["space"]
    rules = (space["lr_low"], space["lr_high"])
    out = CliRunner().invoke(cli, [
        "search", "--trainable", MLP, "--task", "quick", "--optimizer", "sgd",
        "--total-steps", "40", "--trials", "1", "--rungs", "0.5,1", "--storage", url,
        "--study", "s", "--lr-find"])
    assert out.exit_code == 0, out.output
    attrs = load_study(open_storage(url), "s").user_attrs
    found = attrs["lr_find"]["suggestion"]
    assert [r["lr_range"] for r in attrs["resumes"]] == [[found["low"], found["high"]]]
    assert attrs["resumes"][0]["lr_range_was"] == list(rules)
    shown = run_cli("studies", "show", "s", "--storage", url)
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.startswith("resumed ")]
    assert len(lines) == 1 and lines[0].endswith(
        f" with: pruner plateau, sampler tpe, seed 0, peak-LR range {found['low']:.3g} to "
        f"{found['high']:.3g} (was {rules[0]:.3g} to {rules[1]:.3g})"), lines


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models
