"""benchmarks/quality runs end to end on a tiny setting and its figures hold together."""

from __future__ import annotations

import math

from benchmarks.quality import (
    BASELINES,
    LEARNED,
    LEARNED_SEARCH,
    LRFIND,
    SEARCH,
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
