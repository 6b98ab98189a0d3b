"""benchmarks.finals: the trust margin's pick, and a tiny end-to-end run."""

from __future__ import annotations

import csv
import math

from benchmarks.finals import MARGINS, held_back, lead_rows, main, parse_seeds, pick

BOARD = [
    {"spec": "high", "score": 1.00, "full": 0.9, "rules": False, "peak": 0.05},
    {"spec": "rules", "score": 1.04, "full": 0.5, "rules": True, "peak": 0.02},
]


def test_pick_keeps_the_rules_configuration_within_the_margin() -> None:
    assert pick(BOARD, 0.0)["spec"] == "high"
    assert pick(BOARD, 0.05)["spec"] == "rules"  # a 4% lead at a higher peak is within 5%
    assert pick(BOARD, 0.02)["spec"] == "high"
    assert pick([BOARD[0]], 0.5)["spec"] == "high"  # no rules' finalist: the best
    far = [{**BOARD[0], "score": 0.1}, BOARD[1]]  # led by 940%
    assert pick(far, 1.0)["spec"] == "high" and pick(far, math.inf)["spec"] == "rules"


def test_pick_lets_a_lead_at_no_higher_peak_stand() -> None:
    lower = [{**BOARD[0], "peak": 0.01}, BOARD[1]]  # the rules' peak is 0.02
    assert pick(lower, 0.05)["spec"] == "high"
    assert pick(lower, 0.05, any_peak=True)["spec"] == "rules"  # the rule before
    same = [{**BOARD[0], "peak": 0.02}, BOARD[1]]
    assert pick(same, math.inf)["spec"] == "high"


def test_replay_reads_the_peak_from_the_description_in_older_files(tmp_path) -> None:
    from benchmarks.finals import replay

    old = tmp_path / "old.csv"
    old.write_text("workload,seed,finals' length,finalist,rules' pick,"
                   "short-run score (worst seed),full-length value\n"
                   'w,0,0.25,"wsd(decay_fraction=0.2) peak 0.0039",False,2.3,1.65\n'
                   "w,0,0.25,constant() peak 0.0041,True,2.4,1.7\n")
    board = replay(old)[0]["board"]
    assert [e["peak"] for e in board] == [0.0039, 0.0041]
    assert pick(board, 0.05)["spec"].startswith("wsd")  # a 4.3% lead at a lower peak


def test_held_back_is_the_case_the_margin_is_for_with_its_lead_at_both_lengths() -> None:
    board = [{**BOARD[0], "first": 2.0}, {**BOARD[1], "first": 2.5}]  # led by 25%, then 4%
    case = held_back(board)
    assert case is not None and not case["better"]  # the rules' 0.5 beats its 0.9
    assert math.isclose(case["lead"], 0.04) and math.isclose(case["first_lead"], 0.25)
    assert held_back(board, margin=0.02) is None  # a 4% lead is past a 2% margin
    assert held_back([{**board[0], "peak": 0.01}, board[1]]) is None  # a lower peak
    assert held_back([board[0], {**board[1], "score": 0.9}]) is None  # the rules lead
    assert held_back([board[0], {**board[1], "first": None}])["first_lead"] is None
    results = [{"name": "w", "seed": 0, "board": board},
               {"name": "w", "seed": 1, "board": [board[0], {**board[1], "score": 2.0}]}]
    (row,) = lead_rows(["w"], results)
    assert row == ["w", "1 of 2", "0 of 1", "+25.0% (+25.0% to +25.0%)",
                   "+4.0% (+4.0% to +4.0%)", "0.16 (0.16 to 0.16)"]


def test_parse_seeds() -> None:
    assert parse_seeds("0-2") == [0, 1, 2] and parse_seeds("1,4") == [1, 4]


def test_a_tiny_run_re_runs_every_finalist_at_full_length(tmp_path) -> None:
    rows = main(["--workloads", "tabular-mlp", "--seeds", "0", "--full-steps", "40",
                 "--out", str(tmp_path), "--name", "tiny"])
    assert len(rows) == len(MARGINS) + 1  # and the default margin for any peak
    with open(tmp_path / "tiny.csv") as fh:
        finalists = list(csv.DictReader(fh))
    assert len(finalists) >= 2  # the rules' configuration and at least one other
    assert sum(r["rules' pick"] == "True" for r in finalists) == 1
    assert {r["finals' length"] for r in finalists} == {"0.25"}  # budget 2: short finals
    assert all(float(r["first-rung value"]) > 0 for r in finalists)  # each one's 10% run
    assert (tmp_path / "tiny.png").stat().st_size > 0
    again = main(["--workloads", "tabular-mlp", "--seeds", "0", "--replay",
                  str(tmp_path / "tiny.csv"), "--out", str(tmp_path), "--name", "again"])
    assert again == rows  # the CSV holds all a table needs
    assert rows[-2][0] == "∞ (no higher peak wins)"
    assert rows[-1][0] == "5%, any peak (before)"
