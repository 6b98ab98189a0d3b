"""benchmarks.learned: each seed's guide learns from other seeds only, and the table adds up."""

from __future__ import annotations

import csv

from benchmarks.learned import SEARCH, main, others


def test_others_wrap_round_and_never_include_the_seed() -> None:
    assert others(2, 4, 3) == [3, 0, 1]
    assert all(s not in others(s, 5, 4) for s in range(5))


def test_a_tiny_run_leaves_each_seed_out_and_counts_its_studies(tmp_path) -> None:
    rows = main(["--workloads", "tabular-mlp", "--seeds", "4", "--studies", "2,3",
                 "--steps", "20", "--out", str(tmp_path), "--name", "tiny"])
    assert [r[1] for r in rows] == ["the rules alone (0 studies)", "learned, 2 studies",
                                    "learned, 3 studies", SEARCH]
    with open(tmp_path / "tiny.csv") as fh:
        per_run = list(csv.DictReader(fh))
    learned = [r for r in per_run if r["method"] == "learned"]
    assert sorted((r["seed"], r["studies"]) for r in learned) == sorted(
        (str(s), k) for s in range(4) for k in ("2", "3"))
    assert all(r["studies with a pick"] == r["studies"] for r in learned)
    rules = {r["seed"]: r for r in per_run if r["method"] == "rules"}
    for run in learned:  # below min_studies (3) the guide keeps the rules' answer
        if run["studies"] == "2":
            assert run["pick"] == rules[run["seed"]]["pick"]
            assert run["final value"] == rules[run["seed"]]["final value"]
    assert rows[0][4] == "+0.0%" and rows[0][5] == "0/4"  # the rules against themselves
    assert (tmp_path / "tiny.png").stat().st_size > 0
    assert "learned, 3 studies" in (tmp_path / "tiny.md").read_text()
