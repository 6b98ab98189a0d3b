"""The short curve gives the detector's own answer on the full history, every step."""

from __future__ import annotations

import random

import pytest

from lradvisor.plateau import PlateauDetector
from lradvisor.policy._curve import Curve


def _noisy_curve(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    values, level = [], 5.0
    for i in range(n):
        if rng.random() < 0.05:  # occasional drops and bumps, flat stretches between
            level *= rng.choice([0.5, 0.8, 1.3])
        values.append(level * (1.0 + 0.05 * rng.gauss(0, 1)) + (0.0 if i % 7 else 0.01))
    return values


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("seed", range(6))
def test_short_curve_matches_detector_on_full_history(seed: int, mode: str) -> None:
    detector = PlateauDetector(3, mode=mode, noise_sigmas=0.5)
    curve = Curve(detector)  # keeps only 2 * window = 6 values
    full: list[float] = []
    answers = set()
    for value in _noisy_curve(seed, 400):
        full.append(value)
        curve.append(value)
        answers.add(curve.plateaued())
        assert curve.plateaued() == detector.plateaued(full), len(full)
    assert answers == {True, False}  # both answers were exercised
    assert len(curve.values) == 6 and len(curve.short()) == 12


def test_nonfinite_values_are_ignored_as_by_the_detector() -> None:
    detector = PlateauDetector(2)
    curve = Curve(detector, keep=10)
    values = [3.0, float("nan"), 2.0, 2.0, float("inf"), 2.0, 2.0]
    for v in values:
        curve.append(v)
    assert curve.values == [3.0, 2.0, 2.0, 2.0, 2.0]
    assert curve.plateaued() == detector.plateaued(values)


def test_state_round_trip_keeps_the_answer() -> None:
    detector = PlateauDetector(2)
    curve = Curve(detector, keep=8)
    for v in _noisy_curve(1, 50):
        curve.append(v)
    again = Curve(detector, keep=8)
    again.load(curve.state())
    assert again.short() == curve.short()
