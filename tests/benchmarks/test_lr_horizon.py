"""benchmarks.lr_horizon: the best peak per length, and the exponent between lengths."""

from __future__ import annotations

import csv
import math

import pytest

from benchmarks.lr_horizon import EXPONENTS, FRACTIONS, best_lr, main


def test_best_lr_finds_a_parabola_vertex_between_grid_points() -> None:
    # value = (log lr - log 0.03)^2: the grid 0.01 .. 0.16 brackets the vertex at 0.03
    points = {0.01 * 2**k: (math.log(0.01 * 2**k) - math.log(0.03)) ** 2 for k in range(5)}
    assert best_lr(points) == pytest.approx(0.03, rel=1e-9)


def test_best_lr_at_an_edge_is_the_edge() -> None:
    assert best_lr({0.1: 3.0, 0.2: 2.0, 0.4: 1.0}) == 0.4
    assert best_lr({0.1: 1.0, 0.2: 2.0, 0.4: 3.0}) == 0.1


def test_a_tiny_run_writes_every_cell_and_its_summary(tmp_path) -> None:
    summary = main(["--workloads", "tabular-mlp", "--seeds", "1", "--full-steps", "40",
                    "--out", str(tmp_path), "--name", "tiny"])
    assert [row[:2] for row in summary] == [["tabular-mlp", "step"]]
    assert len(summary[0]) == 2 + len(FRACTIONS) + len(FRACTIONS) - 1
    with open(tmp_path / "tiny.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(FRACTIONS) * len(EXPONENTS)
    assert {int(r["k"]) for r in rows} == set(EXPONENTS)
    assert (tmp_path / "tiny.png").stat().st_size > 0
    assert "best peak at 25%" in (tmp_path / "tiny.md").read_text()
