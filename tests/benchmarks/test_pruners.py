"""benchmarks.pruners: the area under the curve, replay equals training, the script runs."""

from __future__ import annotations

import csv

import pytest

from benchmarks._trials import Curve, Recorder, search_space, spec_sequence
from benchmarks.pruners import Outcome, area_under_curve, main, proxy_curves, replay

REFERENCE = Outcome(("COMPLETE",) * 4, (3.0, 2.0, 1.0, 4.0), (10, 10, 10, 10))


def test_area_of_the_reference_by_hand() -> None:
    # v* = 1, median 2.5: y = 1 until x = 0.5, then (2 - 1) / 1.5 until 0.75, then 0.
    area, corners = area_under_curve(REFERENCE, REFERENCE)
    assert area == pytest.approx(0.5 + 0.25 / 1.5)
    assert corners[-1] == (0.75, 0.0)


def test_area_rewards_reaching_the_best_with_fewer_steps() -> None:
    pruned = Outcome(("PRUNED", "COMPLETE", "COMPLETE", "PRUNED"), (None, 2.0, 1.0, None),
                     (2, 10, 10, 2))
    # best 2 at x = 12/40, best 1 at x = 22/40
    area, _ = area_under_curve(pruned, REFERENCE)
    assert area == pytest.approx(0.3 + 0.25 / 1.5)
    assert area < area_under_curve(REFERENCE, REFERENCE)[0]


def test_area_is_one_when_nothing_completes() -> None:
    nothing = Outcome(("PRUNED",) * 4, (None,) * 4, (1, 1, 1, 1))
    assert area_under_curve(nothing, REFERENCE)[0] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def recorded() -> tuple[list, dict]:
    """Seven specs of digits-cnn and their recorded 10-step runs (full run: 40 steps)."""
    specs = spec_sequence("digits-cnn", 7, 0, 10)
    return specs, proxy_curves("digits-cnn", specs, 0.25, 10, 0, Recorder())


@pytest.mark.parametrize("pruner", ["successive_halving", "plateau"])
def test_replayed_curves_prune_as_real_training_does(pruner: str, recorded) -> None:
    import optuna

    from lradvisor.search import Fidelity
    from lradvisor.search._pruner import make_pruner
    from lradvisor.search._rungs import Planned
    from lradvisor.search._trial import TrialRunner
    from lradvisor.workloads import get_workload

    full, fraction, seed = 40, 0.25, 0
    specs, curves = recorded
    replayed = replay(pruner, "digits-cnn", specs, curves, fraction, seed, full)

    work = get_workload("digits-cnn")
    study = optuna.create_study(pruner=make_pruner(pruner),
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    runner = TrialRunner(study, search_space("digits-cnn")[0], work.train,
                         Fidelity(rungs=(fraction, 1.0)), full, work.steps_per_epoch, "cpu")
    rules = search_space("digits-cnn")[1][0]
    assert specs[0] == rules  # the sequence starts with the rules' first pick
    real = [runner.run(Planned(s, 0, seed, "rules" if s == rules else "sampled"))
            for s in specs]
    assert "PRUNED" in replayed.states  # the comparison covers pruned trials
    assert replayed.states == tuple(r.state for r in real)
    assert replayed.steps == tuple(r.steps_used for r in real)
    assert replayed.values == tuple(r.value for r in real)


def test_the_rules_first_pick_is_never_pruned_as_in_a_search(recorded) -> None:
    # Moved last with a curve far worse than every other trial's, the rules' first pick
    # still runs to its end, as TrialRunner runs a real search's "rules" trial.
    specs, curves = recorded
    rules, others = specs[0], specs[1:]
    trained = search_space("digits-cnn")[0].proxy_spec(rules, 0.25).to_json()
    curves = dict(curves)
    curves[trained] = Curve(100.0, tuple((s, 100.0) for s, _ in curves[trained].points))
    replayed = replay("successive_halving", "digits-cnn", [*others, rules], curves,
                      0.25, 0, 40)
    assert "PRUNED" in replayed.states[:-1]  # the pruner does prune here
    assert replayed.states[-1] == "COMPLETE"
    assert replayed.values[-1] == 100.0


def test_quick_path_runs_on_a_tiny_setting(tmp_path) -> None:
    rows = main(["--workloads", "digits-cnn", "--seeds", "1", "--trials", "7",
                 "--fraction", "0.25", "--full-steps", "40", "--out", str(tmp_path),
                 "--name", "tiny"])
    with open(tmp_path / "tiny.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["pruner"] for r in table] == ["none", "median", "patient", "successive_halving",
                                            "hyperband", "wilcoxon", "plateau"]
    assert table[0]["saved vs none %"] == "0.0"
    assert (tmp_path / "tiny.png").stat().st_size > 0
    none = next(r for r in rows if r["pruner"] == "none")
    assert none["steps"] <= 7 * 10
    assert all(r["steps"] <= none["steps"] and 0 <= r["auc"] <= 1 for r in rows)


def test_saved_curves_replay_to_the_same_rows_without_training(tmp_path) -> None:
    tiny = ["--workloads", "digits-cnn", "--seeds", "1", "--first-seed", "2", "--trials", "5",
            "--fraction", "0.25", "--full-steps", "40", "--out", str(tmp_path)]
    saved = tmp_path / "curves.json"
    trained = main([*tiny, "--save-curves", str(saved), "--name", "a"])
    assert Recorder.load(saved).runs == 0 and saved.stat().st_size > 0
    replayed = main([*tiny, "--curves", str(saved), "--name", "b"])
    assert {r["seed"] for r in trained} == {2}
    assert replayed == trained
