"""benchmarks/field re-runs a search's first-rung field as the search itself would."""

from __future__ import annotations

import math

from benchmarks.field import field_rows, run_field, seed_facts, spearman, summarise


def test_field_replays_the_finals_and_bounds_the_pick():
    result = run_field("tabular-mlp", 0, steps=40)
    field = result["field"]
    assert result["finals"] and result["fraction"] < 1
    for spec, values in result["finals"].items():
        # a finalist's last-rung runs, made again outside the search, are the search's
        assert field[spec]["last"] == values
    assert sum(e["origin"] == "rules" for e in field.values()) == 1
    facts = seed_facts(result)
    # the field's best at full length bounds every selection made from the field
    assert facts["best"] <= facts["pick"] and facts["best"] <= facts["by_last"]
    assert facts["best"] <= facts["rules"]
    assert facts["all_finals_runs"] >= facts["search_runs"]
    rows = summarise([result])
    assert rows[0][0] == "tabular-mlp" and rows[0][1] == 1
    assert len(field_rows([result])) == len(field)


def test_spearman_needs_four_points_and_spread():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert math.isnan(spearman([1, 2, 3], [1, 2, 3]))
    assert math.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4]))
