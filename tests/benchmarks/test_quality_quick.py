"""benchmarks/quality runs end to end on a tiny setting and its figures hold together."""

from __future__ import annotations

import math

from benchmarks.quality import BASELINES, LRFIND, SEARCH, run_seed, steps_to, summarise


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


def test_steps_to_target():
    curve = [(10, 3.0), (20, 2.0), (30, 1.0)]
    assert steps_to(curve, 2.0) == 20
    assert math.isinf(steps_to(curve, 0.5))
