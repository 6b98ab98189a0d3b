"""benchmarks.budget: each setting keeps to its budget; its pick runs at full length."""

from __future__ import annotations

import csv

from benchmarks.budget import RULES, main, parse_rungs


def test_parse_rungs() -> None:
    assert parse_rungs("0.1/0.33/1") == (0.1, 0.33, 1.0)


def test_a_tiny_budget_sweep_writes_its_table_and_keeps_to_each_budget(tmp_path) -> None:
    rows = main(["--workloads", "tabular-mlp", "--seeds", "1", "--budgets", "2,8",
                 "--rungs", "0.2/1", "--full-steps", "40", "--out", str(tmp_path),
                 "--name", "tiny"])
    assert [r[0] for r in rows] == ["0.2/1, budget 2", "0.2/1, budget 8", RULES]
    with open(tmp_path / "tiny.csv") as fh:
        per_run = list(csv.DictReader(fh))
    spent = {r["setting"]: float(r["search full runs"]) for r in per_run}
    assert spent["0.2/1, budget 2"] <= 2.0 + 1e-9 and spent["0.2/1, budget 8"] <= 8.0 + 1e-9
    assert spent[RULES] == 0.0
    lengths = {r["setting"]: r["evidence length"] for r in per_run}
    assert float(lengths["0.2/1, budget 2"]) < 1.0  # 2 runs cannot afford full-length finals
    assert float(lengths["0.2/1, budget 8"]) == 1.0
    assert (tmp_path / "tiny.png").stat().st_size > 0
    assert "budget 8" in (tmp_path / "tiny.md").read_text()


def test_several_pruners_each_get_a_named_row_and_keep_to_the_budget(tmp_path) -> None:
    """With two pruners, each setting is searched once under each: the rows and the per-run
    file name the pruner, and each search keeps to the budget."""
    rows = main(["--workloads", "tabular-mlp", "--seeds", "1", "--budgets", "2",
                 "--rungs", "0.2/1", "--full-steps", "40", "--out", str(tmp_path),
                 "--name", "two", "--pruners", "plateau", "none"])
    assert [r[0] for r in rows] == ["0.2/1, budget 2, pruner plateau",
                                    "0.2/1, budget 2, pruner none", RULES]
    with open(tmp_path / "two.csv") as fh:
        per_run = {r["setting"]: r for r in csv.DictReader(fh)}
    assert set(per_run) == {rows[0][0], rows[1][0], RULES}
    assert all(float(per_run[r[0]]["search full runs"]) <= 2.0 + 1e-9 for r in rows[:2])
