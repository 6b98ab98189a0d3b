"""Fidelity: validation (one raise per argument), the budget fit, planned costs."""

from __future__ import annotations

import pytest

from lradvisor.errors import StudyError
from lradvisor.search import Fidelity, rung_steps


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rungs": (1.0,)},
        {"rungs": (0.5, 0.2)},
        {"rungs": (0.0, 1.0)},
        {"rungs": (0.1, 1.5)},
        {"promote": 0.0},
        {"max_promoted": 1},
        {"lr_factors": (0.5, -2.0)},
        {"finalists": 0},
        {"seeds": 1},
        {"final_share": 0.0},
        {"tie": 1.0},
        {"trust": -0.1},
        {"trust": 1.0},
    ],
)
def test_bad_settings_raise_naming_the_value(kwargs):
    with pytest.raises(StudyError) as err:
        Fidelity(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(err.value)


def test_no_budget_keeps_the_rungs():
    assert Fidelity().fit(None).rungs == (0.1, 0.33, 1.0)


@pytest.mark.parametrize(
    ("budget", "rungs"),
    [
        (20.0, (0.1, 0.33, 1.0)),  # plenty: full-length finals
        (6.0, (0.1, 0.33, 0.75)),  # final gets at most half of the budget: 3 / 4 runs
        (2.0, (0.1, 0.25)),  # a middle rung no shorter than the final is dropped
        (3.0, (0.1, 0.375)),  # a final under 1.5x the middle rung (0.345) drops it too
        (4.0, (0.1, 0.33, 0.5)),
    ],
)
def test_budget_fits_the_longest_affordable_final(budget, rungs):
    assert Fidelity().fit(budget).rungs == rungs


def test_budget_too_small_is_one_clear_error():
    with pytest.raises(StudyError, match="budget 0.2 full runs is too small"):
        Fidelity().fit(0.2)
    with pytest.raises(StudyError, match="budget must be a number"):
        Fidelity().fit(-1)


def test_planned_runs_and_cost():
    fid = Fidelity()
    assert fid.runs(0, 12) == 12
    assert fid.runs(1, 12) == 4 + 1 + 2  # top third, the rules' pick, two LR variants
    assert fid.runs(2, 12) == 4  # two finalists on two seeds
    assert fid.cost(12) == pytest.approx(12 * 0.1 + 7 * 0.33 + 4 * 1.0)
    assert fid.promoted(100) == fid.max_promoted
    assert fid.promoted(1) == fid.finalists


def test_round_trip_and_unknown_key():
    fid = Fidelity(rungs=(0.2, 1.0), seeds=3)
    assert Fidelity.from_dict(fid.to_dict()) == fid
    with pytest.raises(StudyError, match="unknown fidelity setting 'speed'"):
        Fidelity.from_dict({"speed": 2})


def test_rung_steps_rounds_and_is_at_least_one():
    assert rung_steps(0.33, 800) == 264
    assert rung_steps(0.001, 50) == 1
