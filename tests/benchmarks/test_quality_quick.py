"""benchmarks/quality runs end to end on a tiny setting and its figures hold together."""

from __future__ import annotations

import math
import statistics

from benchmarks.quality import (
    BASELINES,
    HELD_OUT,
    LEARNED,
    LEARNED_SEARCH,
    LRFIND,
    SEARCH,
    grid_resolution,
    held_out_oracle,
    picks,
    run_learned,
    run_seed,
    search_evidence,
    steps_to,
    summarise,
)


def test_quality_tiny_run_and_summary():
    grid = ("constant", "cosine-warmup")
    runs = [run_seed("tabular-mlp", 0, 20, grid)]
    rows, facts = summarise("tabular-mlp", runs, 20, grid)
    labels = [r[1] for r in rows]
    assert "baseline schedule-free" in labels and {SEARCH, LRFIND} <= set(labels)
    assert {f"baseline {b}" for b in BASELINES if b in grid} <= set(labels)
    oracle = next(r for r in rows if r[1].startswith("oracle"))
    assert oracle[4] == "+0.00%"  # the oracle is the best grid cell by definition
    for row in rows:
        if row[1].startswith(("baseline constant", "baseline cosine", "AlgoPerf")):
            assert not row[4].startswith("-")  # no grid cell beats the oracle
    search = runs[0]["lradvisor rules+search"]
    assert search[1] == runs[0]["_search"]["steps_used"] + 20  # search + one full run
    assert facts[SEARCH]["runs"] <= 2.0 + 1e-9  # the budget holds
    lr_find = runs[0][LRFIND]
    assert lr_find[1] == runs[0]["_lr_find"]["steps_used"] + 20  # sweep + search + one run
    assert 0 < runs[0]["_lr_find"]["range"][0] < runs[0]["_lr_find"]["range"][1]
    assert facts["grid_size"] == 10 and len(facts["rules_close"]) == 1
    assert HELD_OUT not in labels  # one seed: nothing to leave out


def test_quality_two_seeds_report_the_held_out_oracle():
    grid = ("constant", "cosine-warmup")
    runs = [run_seed("tabular-mlp", seed, 20, grid) for seed in (0, 1)]
    rows, facts = summarise("tabular-mlp", runs, 20, grid)
    held = next(r for r in rows if r[1] == HELD_OUT)
    assert facts[HELD_OUT] >= 0 and not held[4].startswith("-")  # never below the oracle
    assert held[5] == 10 * 20  # it needs the whole grid
    res = facts["resolution"]
    oracle_label = next(r[1] for r in rows if r[1].startswith("oracle "))
    assert oracle_label == f"oracle {res['oracle'][5:]}x"  # the same cell as the table's
    assert res["regret"] >= 0 and res["within_1"] >= 1


def test_quality_learned_guide_left_out_one_seed_at_a_time():
    grid = ("cosine-warmup",)  # the AlgoPerf row the summary needs
    run = run_seed("tabular-mlp", 0, 20, grid)
    assert run["_evidence"]["label"] == "tabular-mlp"  # the seed's own study is evidence
    others = [search_evidence("tabular-mlp", seed, 20) for seed in (1, 2)]
    run.update(run_learned("tabular-mlp", 0, 20, [*others, run["_evidence"]]))
    # three similar studies: the guide speaks (two would keep the rules' answer)
    assert run["_learned"]["evidence"].startswith("evidence: 3 studies, tabular-mlp-like")
    assert run[LEARNED][1] == 20  # one full run, no search
    assert run[LEARNED_SEARCH][1] == run["_learned_search"]["steps_used"] + 20
    rows, facts = summarise("tabular-mlp", [run], 20, grid)
    assert {LEARNED, LEARNED_SEARCH} <= {r[1] for r in rows}
    assert len(facts["learned_close"]) == 1 and facts[LEARNED]["runs"] == 0.0
    assert facts[LEARNED_SEARCH]["runs"] <= 2.0 + 1e-9
    table = picks([("tabular-mlp", 0, 20, grid)], [run])  # what each method ran, per seed
    assert [r[2] for r in table] == ["lradvisor rules", SEARCH, LRFIND, LEARNED, LEARNED_SEARCH]
    assert table[3][4] == run["_learned"]["spec"] and table[0][4] == run["_rules"]


def test_steps_to_target():
    curve = [(10, 3.0), (20, 2.0), (30, 1.0)]
    assert steps_to(curve, 2.0) == 20
    assert math.isinf(steps_to(curve, 0.5))


def test_held_out_oracle_picks_each_seed_by_the_other_seeds():
    # cell "a" wins on seeds 0 and 1 by a little, "b" wins seed 2 by a lot: "b" is the
    # oracle (best mean), but seed 2 left out, "a" looks best and is what seed 2 gets.
    runs = [{"grid:a@1": (1.0, 10, []), "grid:b@1": (1.1, 10, [])},
            {"grid:a@1": (1.0, 10, []), "grid:b@1": (1.1, 10, [])},
            {"grid:a@1": (3.0, 10, []), "grid:b@1": (1.0, 10, [])}]
    held = held_out_oracle(runs, ["grid:a@1", "grid:b@1"])
    # seed 0 out: means a 2.0, b 1.05 -> b (1.1); seed 1 likewise; seed 2 out: a (3.0)
    assert held == [1.1, 1.1, 3.0]
    assert statistics.fmean(held) > min(statistics.fmean(r[k][0] for r in runs)
                                        for k in ("grid:a@1", "grid:b@1"))


def test_grid_resolution_pairs_the_runner_up_with_the_oracle_by_seed():
    # "d" trails "a" by 0.015 on every seed: a large spread across seeds, but the paired
    # differences are constant, so the runner-up's regret has no standard error.
    cells = {"grid:a@1": [1.0, 2.0, 3.0], "grid:b@1": [1.1, 2.1, 3.1],
             "grid:c@1": [1.01, 2.01, math.inf], "grid:d@1": [1.015, 2.015, 3.015]}
    res = grid_resolution(cells)
    assert res["oracle"] == "grid:a@1" and res["runner_up"] == "grid:d@1"  # c diverged
    assert math.isclose(res["regret"], 0.015 / 2.0)
    assert math.isclose(res["se"], 0.0, abs_tol=1e-12)
    assert (res["within_1"], res["within_3"], res["finite"], res["cells"]) == (2, 2, 3, 4)
    # unpaired noise: the runner-up's lead flips by seed, so its error is as large as it
    noisy = grid_resolution({"grid:a@1": [1.0, 1.2], "grid:b@1": [1.2, 1.02]})
    assert noisy["runner_up"] == "grid:b@1"
    assert noisy["se"] > noisy["regret"] > 0


def _synthetic_run(seed: int) -> dict:
    """One workload-seed's results without training: grid cells, baselines, methods."""
    steps = 10
    curve = [(5, 2.0), (10, 1.0)]
    run: dict = {}
    for gname in ("constant", "cosine-warmup"):
        for factor in (0.1, 0.3, 1.0, 3.0, 10.0):
            value = 1.0 + abs(factor - 3.0) / 10 + (0.05 if gname == "constant" else 0.0)
            run[f"grid:{gname}@{factor:g}"] = (value + seed / 100, steps, curve)
    for method in ("lradvisor rules", "schedule-free"):
        run[method] = (1.2, steps, curve)
    run[SEARCH] = (1.1, 15 + steps, curve)
    run[LRFIND] = (1.1, 17 + steps, curve)
    run["_search"], run["_lr_find"] = {"steps_used": 15}, {"steps_used": 17}
    return run


def test_quality_counts_the_tuned_baselines_and_the_oracles_runs():
    # the AlgoPerf row's peak was tuned over its 5 full runs and the oracle is the best
    # of the whole grid: their compute is those runs, not the one run their value is from
    grid = ("constant", "cosine-warmup")
    rows, _ = summarise("w", [_synthetic_run(0), _synthetic_run(1)], 10, grid)
    by_label = {r[1]: r for r in rows}
    algo = next(r for label, r in by_label.items() if label.startswith("AlgoPerf"))
    oracle = next(r for label, r in by_label.items() if label.startswith("oracle "))
    assert (algo[5], algo[6]) == (5 * 10, "0.500")  # 5 of the grid's 10 runs
    assert (oracle[5], oracle[6]) == (10 * 10, "1.000")
    assert oracle[1] == "oracle cosine-warmup@3x"  # the same cell as AlgoPerf's here
    assert (by_label["baseline constant"][5], by_label[SEARCH][5]) == (10, 25)
    assert by_label[HELD_OUT][5] == 10 * 10
