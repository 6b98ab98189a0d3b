"""benchmarks.proxy_fidelity: the search simulation costs what Fidelity plans; the script runs."""

from __future__ import annotations

import csv
import math

import pytest

from benchmarks._trials import Recorder, spec_sequence
from benchmarks.proxy_fidelity import CEILING, OTHER_SEED, main, simulate_search


def test_simulated_search_spends_the_planned_steps_and_picks_a_finalist() -> None:
    from lradvisor.search import Fidelity

    full, rungs = 40, (0.25, 1.0)
    specs = spec_sequence("digits-cnn", 3, 0, 10)
    pick, steps, records = simulate_search("digits-cnn", specs, rungs, 0, Recorder(), full)
    planned = Fidelity(rungs=rungs).cost(len(specs)) * full  # upper bound: nothing diverged
    diverged = [r for r in records if r.diverged]
    assert steps <= planned
    assert (steps == planned) == (not diverged)
    finals = [r for r in records if r.rung == 1]
    assert {r.seed for r in finals} == {0, 1}
    assert pick in {r.spec for r in finals}


def test_horizon_proxies_train_at_the_peak_the_search_gives_them() -> None:
    # digits-cnn uses SGD: the shipped [[horizon]] rule, b = 0.5. The recorder holds
    # exactly the runs made: proxies at 0.25 of the run at twice the spec's peak.
    from benchmarks._trials import search_space
    from lradvisor.schedules import ScheduleSpec

    specs = spec_sequence("digits-cnn", 2, 0, 10)
    recorder = Recorder()
    simulate_search("digits-cnn", specs, (0.25, 1.0), 0, recorder, 40,
                    search_space("digits-cnn")[0])
    trained = {(ScheduleSpec.from_json(key[1]), key[2]) for key in recorder._cache}
    for spec in specs:
        assert (spec.replace(peak_lr=2 * spec.peak_lr), 10) in trained
        assert (spec, 10) not in trained


def test_quick_path_runs_on_a_tiny_setting(tmp_path) -> None:
    fid_rows, pick_rows = main([
        "--workloads", "digits-cnn", "--seeds", "1", "--specs", "3", "--fractions", "0.25",
        "--settings", "0.25/1", "--full-steps", "40", "--out", str(tmp_path), "--name", "tiny",
    ])
    assert [r["fraction"] for r in fid_rows] == [0.25]
    assert -1.0 <= fid_rows[0]["spearman"] <= 1.0 or math.isnan(fid_rows[0]["spearman"])
    assert pick_rows[0]["regret"] >= 0.0
    with open(tmp_path / "tiny_search.csv") as fh:
        assert [r["rungs"] for r in csv.DictReader(fh)] == ["0.25/1"]
    assert (tmp_path / "tiny.png").stat().st_size > 0


def test_settings_must_be_valid_rungs(tmp_path) -> None:
    from lradvisor.errors import StudyError

    with pytest.raises(StudyError, match="strictly increasing"):
        main(["--workloads", "digits-cnn", "--seeds", "1", "--specs", "3", "--fractions",
              "0.25", "--settings", "0.5/0.25", "--full-steps", "40", "--out", str(tmp_path)])


def test_the_ceiling_row_ranks_full_runs_of_another_seed(tmp_path) -> None:
    """``--ceiling``: the same specs at full length on seed + OTHER_SEED, ranked against
    the table's full runs, as a row of its own."""
    from benchmarks._common import spearman
    from lradvisor.search import rung_steps
    from lradvisor.workloads import run

    fid_rows, _ = main([
        "--workloads", "tabular-mlp", "--seeds", "1", "--specs", "4", "--fractions", "0.25",
        "--settings", "0.25/1", "--full-steps", "40", "--ceiling", "--out", str(tmp_path),
        "--name", "ceil"])
    assert [r["fraction"] for r in fid_rows] == [0.25, CEILING]
    specs = spec_sequence("tabular-mlp", 4, 0, rung_steps(0.25, 40))
    full = [run("tabular-mlp", s, total_steps=40, seed=0)[0] for s in specs]
    other = [run("tabular-mlp", s, total_steps=40, seed=OTHER_SEED)[0] for s in specs]
    assert other != full  # another seed trains otherwise
    assert fid_rows[1]["spearman"] == pytest.approx(spearman(other, full))
    with open(tmp_path / "ceil.csv") as fh:
        assert [r["proxy fraction"] for r in csv.DictReader(fh)] == ["0.25", CEILING]
