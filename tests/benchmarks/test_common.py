"""benchmarks._common: Spearman and ranks against scipy's own."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import rankdata, spearmanr

from benchmarks._common import mean_std, ranks, run_tasks, spearman


@pytest.mark.parametrize("seed", range(6))
def test_spearman_matches_scipy_with_ties_and_inf(seed: int) -> None:
    rng = random.Random(seed)
    x = [rng.choice([0.1, 0.2, 0.3, math.inf]) for _ in range(15)]
    y = [rng.random() for _ in range(15)]
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_ranks_match_scipy_rankdata_average() -> None:
    values = [3.0, 1.0, 3.0, 2.0, math.inf, 1.0, math.inf]
    assert ranks(values) == list(rankdata(values, method="average"))


def test_spearman_of_monotone_and_reversed() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        spearman([1, 2, 3], [1, 2])


def test_spearman_of_a_constant_is_nan() -> None:
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_mean_std_uses_the_sample_deviation() -> None:
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2.0)))
    assert mean_std([5.0]) == (5.0, 0.0)


def test_run_tasks_keeps_the_tasks_order_across_processes():
    assert run_tasks(pow, [(2, 3), (3, 2), (5, 1)], jobs=2) == [8, 9, 5]
    assert run_tasks(pow, [], jobs=2) == []


def test_run_tasks_trains_with_one_torch_thread_a_job(monkeypatch):
    import os

    monkeypatch.delenv("LRADVISOR_TORCH_THREADS", raising=False)
    assert run_tasks(os.getenv, [("LRADVISOR_TORCH_THREADS",)], jobs=1) == ["1"]
