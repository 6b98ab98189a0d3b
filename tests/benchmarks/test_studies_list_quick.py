"""The ``studies list`` benchmark runs end to end on a tiny setting (3 studies, SQLite)."""

from __future__ import annotations

import csv

from benchmarks import studies_list


def test_studies_list_benchmark_runs_and_writes_its_table(tmp_path, capsys):
    studies_list.main(["--counts", "3", "--backends", "sqlite", "--runs", "1",
                       "--results", str(tmp_path), "--name", "tiny"])
    rows = list(csv.DictReader((tmp_path / "tiny.csv").open()))
    assert [(r["backend"], r["studies"]) for r in rows] == [("(start-up: --help)", "0"),
                                                           ("sqlite", "3")]
    assert float(rows[1]["median s"]) > 0
    assert "| sqlite | 3 |" in capsys.readouterr().out
