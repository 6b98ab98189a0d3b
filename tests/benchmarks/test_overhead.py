"""benchmarks.overhead: the trivial trainable, and the script on a tiny setting."""

from __future__ import annotations

import csv

from benchmarks.overhead import REPORTS, main, measure, trivial_train


def test_trivial_train_reports_evenly_and_ends_at_the_last_step() -> None:
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search import TrialContext

    ctx = TrialContext(spec=ScheduleSpec.create("cosine", peak_lr=1e-2), total_steps=100)
    value = trivial_train(ctx)
    assert [s for s, _ in ctx.curve] == [5 * i for i in range(1, REPORTS + 1)]
    assert value == ctx.curve[-1][1] == 1.0 + 1.0 / REPORTS


def test_plain_optuna_floor_runs_the_same_space_and_reports(tmp_path) -> None:
    from benchmarks.overhead import measure_plain

    res = measure_plain(f"sqlite:///{tmp_path}/floor.db", 4)
    assert res["trials"] == 4 and len(res["per_ms"]) == 4
    assert res["mean_ms"] > 0 and 0 <= res["pruned"] <= 4


def test_in_memory_first_rung_counts_every_trial() -> None:
    res = measure(None, 6, "plateau", "random")
    assert res["trials"] == 6 and len(res["per_ms"]) == 6
    assert res["mean_ms"] > 0 and res["cpu_ms"] > 0


def test_quick_path_runs_on_a_tiny_setting(tmp_path) -> None:
    main(["--quick", "--trials", "1", "--out", str(tmp_path), "--name", "tiny"])
    with open(tmp_path / "tiny.csv") as fh:
        rows = list(csv.DictReader(fh))
    floor = "plain Optuna floor (median pruner, tpe)"
    assert [r["storage, pruner, sampler"] for r in rows] == [
        "Optuna in-memory, first rung, plateau, tpe", f"Optuna in-memory, first rung, {floor}",
        "SQLite in memory (sqlite://), plateau, tpe", f"SQLite in memory (sqlite://), {floor}",
        "SQLite file, plateau, tpe", f"SQLite file, {floor}"]
    assert [r["target"] for r in rows] == ["≤ 5 ms", "(reference)", "≤ 30 ms", "(reference)",
                                           "≤ 30 ms", "(reference)"]
    assert all(int(r["trials"]) >= 1 for r in rows)
    assert (tmp_path / "tiny.png").stat().st_size > 0


def test_real_search_splits_wall_time_into_training_and_the_rest(tmp_path) -> None:
    from benchmarks.overhead import measure_real

    res = measure_real(f"sqlite:///{tmp_path}/real.db", 3, budget=1.0)
    assert res["runs"] >= 3
    assert 0 < res["training_s"] < res["total_s"]  # digits-cnn trains for real
    assert res["outside_s"] > 0 and 0 < res["share"] < 1
    assert abs(res["training_s"] + res["outside_s"] - res["total_s"]) < 1e-6


def test_real_only_writes_the_real_table(tmp_path) -> None:
    main(["--real-only", "--real-trials", "3", "--out", str(tmp_path), "--name", "tiny"])
    with open(tmp_path / "tiny_real.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["workload"] for r in rows] == ["digits-cnn"]
    assert rows[0]["target"] == "≤ 2%" and rows[0]["met"] in ("yes", "no")
    assert not (tmp_path / "tiny.csv").exists()  # the 500-trial table is not run


def test_opening_times_a_new_database_and_an_existing_one(tmp_path) -> None:
    from benchmarks.overhead import _open_ms

    new_ms, existing_ms = _open_ms(tmp_path, repeats=1)
    assert new_ms > 0 and existing_ms > 0
    assert (tmp_path / "open0.db").exists()  # the new one was created, then reopened


def test_real_search_times_its_own_steps_and_puts_the_methods_back(tmp_path) -> None:
    from benchmarks.overhead import measure_real
    from lradvisor.search._space import SearchSpace
    from lradvisor.search._trial import TrialCurve, TrialRunner
    from lradvisor.storage._trials import _ParamBuffer

    before = (TrialRunner._ask, SearchSpace.sample, _ParamBuffer.flush, TrialRunner._tell,
              TrialCurve.should_prune)
    res = measure_real(f"sqlite:///{tmp_path}/real.db", 3, budget=1.0)
    phases = res["phases_ms"]
    assert set(phases) == {"create", "sample", "write", "end", "prune"}
    assert all(ms > 0 for ms in phases.values())
    assert res["reports"] >= 1  # digits-cnn's reports, each judged by the pruner
    assert sum(phases.values()) < 1000 * res["outside_s"]  # the steps are outside training
    assert (TrialRunner._ask, SearchSpace.sample, _ParamBuffer.flush, TrialRunner._tell,
            TrialCurve.should_prune) == before
