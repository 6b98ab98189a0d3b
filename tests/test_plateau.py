"""PlateauDetector: decision tables on synthetic curves, mirroring, bad settings."""

from __future__ import annotations

import math
import random

import pytest

from lradvisor.errors import LRAdvisorError, PrunerError
from lradvisor.plateau import PlateauDetector, Verdict


def noisy(base: list[float], sigma: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [b + rng.gauss(0.0, sigma) for b in base]


def decreasing(n: int = 40) -> list[float]:
    """A loss still falling: 1 / (1 + 0.05 t), about 0.013 per report at the end."""
    return [1.0 / (1.0 + 0.05 * t) for t in range(n)]


def drop_then_flat(n_drop: int = 10, n_flat: int = 20, level: float = 0.5) -> list[float]:
    return [1.0 - (1.0 - level) * t / n_drop for t in range(n_drop)] + [level] * n_flat


# -- decision table -------------------------------------------------------------------------
CASES = [
    # (name, curve, expected state)
    ("smooth decreasing", decreasing(), "improving"),
    ("noisy decreasing", noisy(decreasing(), 0.01, seed=1), "improving"),
    ("flat after a drop", drop_then_flat(), "plateau"),
    ("noisy flat after a drop", noisy(drop_then_flat(), 0.02, seed=2), "plateau"),
    ("rising again (overfitting)", [1 - 0.05 * t for t in range(10)] + [0.5 + 0.01 * t
                                                                     for t in range(10)],
     "plateau"),
    ("too short to judge", [1.0] * 9, "improving"),
    ("nan", [2.3, 1.5, math.nan, 1.2], "diverged"),
    ("inf", [2.3, 1.5, math.inf], "diverged"),
    ("minus inf", [2.3, 1.5, -math.inf], "diverged"),
    ("blow-up past 3x the start", [2.3, 1.5, 1.0, 4.0, 7.0], "diverged"),
    ("spike below 3x the start", [2.3, 1.5, 1.0, 6.8], "improving"),
]


@pytest.mark.parametrize(("curve", "state"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict_table(curve: list[float], state: str) -> None:
    verdict = PlateauDetector().verdict(curve)
    assert verdict.state == state, str(verdict)
    assert PlateauDetector().diverged(curve) is (state == "diverged")


def test_plateaued_agrees_with_verdict_on_finite_curves() -> None:
    detector = PlateauDetector()
    for _, curve, state in CASES:
        if state != "diverged":
            assert detector.plateaued(curve) is (state == "plateau")


def test_plateaued_ignores_non_finite_values() -> None:
    curve = drop_then_flat()
    curve.insert(12, math.nan)
    detector = PlateauDetector()
    assert detector.plateaued(curve)
    assert detector.verdict(curve).state == "diverged"


def test_single_bump_does_not_decide_where_a_one_point_comparison_would() -> None:
    """One lucky low value: 'no new best since' says plateau; medians do not."""
    curve = [1.0 - 0.01 * t for t in range(20)]
    curve[10] = 0.5
    one_point_plateau = min(curve[-5:]) >= min(curve[:-5])
    assert one_point_plateau
    assert PlateauDetector().verdict(curve).state == "improving"


def test_single_upward_bump_in_a_flat_curve_is_still_a_plateau() -> None:
    curve = drop_then_flat()
    curve[-3] = 0.9
    assert PlateauDetector().plateaued(curve)


def test_noise_decides_a_slow_trend() -> None:
    """A trend of 0.002 per report over noise 0.02 is invisible; over noise 0.0005 it shows."""
    base = [1.0 - 0.002 * t for t in range(30)]
    detector = PlateauDetector()
    assert detector.plateaued(noisy(base, 0.02, seed=3))
    assert not detector.plateaued(noisy(base, 0.0005, seed=3))


def test_noise_sigmas_zero_leaves_only_the_threshold() -> None:
    flat_noisy = noisy([0.5] * 30, 0.05, seed=4)
    strict = PlateauDetector(noise_sigmas=0.0, threshold=0.0)
    gains = []
    for seed in range(20):
        curve = noisy([0.5] * 30, 0.05, seed=seed)
        gains.append(strict.plateaued(curve))
    # pure noise with no allowance: roughly half the time the last median is the best
    assert 0 < sum(gains) < 20
    assert PlateauDetector().plateaued(flat_noisy)


def test_threshold_rel_and_abs() -> None:
    slow = [1.0 - 0.001 * t for t in range(20)]  # 0.5% better per window of 5
    assert PlateauDetector(threshold=0.01).plateaued(slow)
    assert not PlateauDetector(threshold=0.001).plateaued(slow)
    assert PlateauDetector(threshold=0.01, threshold_mode="abs").plateaued(slow)
    assert not PlateauDetector(threshold=0.001, threshold_mode="abs").plateaued(slow)


def test_window_sets_how_many_values_a_plateau_needs() -> None:
    flat = [0.5] * 7
    assert not PlateauDetector(window=4).plateaued(flat)
    assert PlateauDetector(window=3).plateaued(flat)


def test_divergence_factor() -> None:
    curve = [1.0, 0.8, 1.9]
    assert not PlateauDetector(divergence_factor=2.0).diverged(curve)
    assert PlateauDetector(divergence_factor=1.5).diverged(curve)
    assert not PlateauDetector(divergence_factor=math.inf).diverged([1.0, 1e30])
    assert PlateauDetector(divergence_factor=math.inf).diverged([1.0, math.nan])


def test_divergence_of_a_negative_start_is_relative_to_its_size() -> None:
    # start -2 (e.g. a negative log-likelihood): 3x worse is -2 + 2 * 2 = 2
    assert not PlateauDetector().diverged([-2.0, -3.0, 1.9])
    assert PlateauDetector().diverged([-2.0, -3.0, 2.1])


@pytest.mark.parametrize(
    ("name", "curve"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_mode_max_mirrors_mode_min(name: str, curve: list[float]) -> None:
    low, high = PlateauDetector(mode="min"), PlateauDetector(mode="max")
    mirrored = [-v for v in curve]
    assert high.verdict(mirrored).state == low.verdict(curve).state
    assert high.plateaued(mirrored) is low.plateaued(curve)
    assert high.diverged(mirrored) is low.diverged(curve)


def test_mode_max_accuracy_curve() -> None:
    rising = [0.5 + 0.4 * (1 - math.exp(-0.1 * t)) for t in range(30)]
    assert PlateauDetector(mode="max").verdict(rising).state == "improving"
    assert PlateauDetector(mode="min").verdict(rising).state == "plateau"


def test_verdict_reason_names_the_numbers() -> None:
    verdict = PlateauDetector().verdict(drop_then_flat())
    assert isinstance(verdict, Verdict)
    assert "0.5" in verdict.reason and "median of last 5" in verdict.reason
    assert str(verdict).startswith("plateau: ")
    assert "value 2 is nan" in PlateauDetector().verdict([1.0, 0.9, math.nan]).reason


def test_level_and_noise() -> None:
    detector = PlateauDetector(window=3)
    assert detector.level([5.0, 1.0, 9.0, 2.0, math.nan]) == 2.0
    assert math.isnan(detector.level([]))
    assert detector.noise([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == 0.0  # a pure trend has no noise
    sigma = PlateauDetector(window=500).noise(noisy([0.0] * 1000, 0.1, seed=5))
    assert sigma == pytest.approx(0.1, rel=0.15)


def test_detector_is_frozen_and_keyword_only() -> None:
    detector = PlateauDetector(3, threshold=0.0)
    with pytest.raises(AttributeError):
        detector.window = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        PlateauDetector(3, 0.0)  # type: ignore[misc]


BAD = [
    ("window", 1),
    ("window", 2.5),
    ("window", True),
    ("threshold", -0.1),
    ("threshold", math.nan),
    ("threshold_mode", "relative"),
    ("mode", "minimize"),
    ("noise_sigmas", -1.0),
    ("noise_sigmas", "1"),
    ("divergence_factor", 1.0),
    ("divergence_factor", math.nan),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v!r}" for n, v in BAD])
def test_bad_setting_raises_naming_it(name: str, value: object) -> None:
    with pytest.raises(PrunerError, match=rf"{name} must be .* but got {name}="):
        PlateauDetector(**{name: value})  # type: ignore[arg-type]


def test_errors_are_lradvisor_errors_and_value_errors() -> None:
    with pytest.raises(LRAdvisorError):
        PlateauDetector(window=0)
    with pytest.raises(ValueError):
        PlateauDetector(window=0)
