"""AdaptiveDecayLR: warmup as torch's, cuts where the detector says, exact resume."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from torch.optim.lr_scheduler import LinearLR

from lradvisor.plateau import PlateauDetector
from lradvisor.policy import AdaptiveDecayLR, PolicyError


def _opt(lr: float = 1.0, groups: int = 1) -> torch.optim.Optimizer:
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr * (i + 1)}
              for i in range(groups)]
    return torch.optim.SGD(params, lr=lr)


def _run(sched: AdaptiveDecayLR, metrics: list[float | None]) -> list[list[float]]:
    lrs = []
    for m in metrics:
        sched.optimizer.step()
        sched.step(m)
        lrs.append(list(sched.get_last_lr()))
    return lrs


def test_warmup_matches_torch_linear_lr() -> None:
    ours = AdaptiveDecayLR(_opt(groups=2), warmup_steps=8, warmup_start_factor=0.25)
    ref_opt = _opt(groups=2)
    ref = LinearLR(ref_opt, start_factor=0.25, end_factor=1.0, total_iters=8)
    for _ in range(12):
        assert ours.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)
        ours.optimizer.step()
        ours.step()
        ref_opt.step()
        ref.step()


def test_cuts_exactly_when_the_detector_finds_a_plateau() -> None:
    detector = PlateauDetector(3)
    sched = AdaptiveDecayLR(_opt(), warmup_steps=2, factor=0.5, detector=detector)
    metrics = [9.0, 9.0, 4.0, 3.0, 2.5, 2.0, 2.0, 2.01, 1.99, 2.0, 2.0, 2.0, 2.0]
    seen: list[float] = []
    for step, m in enumerate(metrics, start=1):
        sched.optimizer.step()
        before = sched.scale
        sched.step(m)
        if step <= 2:
            continue  # warmup: metrics ignored
        seen.append(m)
        cut = sched.scale < before
        assert cut == detector.plateaued(seen), step
        if cut:
            seen = []  # the curve starts afresh after a cut
    assert sched.cuts and sched.get_last_lr() == [0.5]


def test_improving_curve_is_never_cut_and_floor_holds() -> None:
    sched = AdaptiveDecayLR(_opt(), factor=0.1, min_lr_ratio=0.05,
                            detector=PlateauDetector(2))
    _run(sched, [10.0 / (i + 1) for i in range(30)])
    assert sched.cuts == []
    _run(sched, [1.0] * 40)  # flat: cut to 0.1, then held at the 0.05 floor
    assert sched.get_last_lr() == [pytest.approx(0.05)]
    assert len(sched.cuts) == 2


def test_cooldown_skips_metrics_after_a_cut() -> None:
    sched = AdaptiveDecayLR(_opt(), factor=0.5, cooldown=3, detector=PlateauDetector(2))
    _run(sched, [1.0] * 4)
    assert sched.cuts == [4]
    _run(sched, [1.0] * 6)  # 3 skipped + 3 recorded: 4 needed for the next cut
    assert sched.cuts == [4]
    _run(sched, [1.0])
    assert sched.cuts == [4, 11]


def test_observe_does_not_count_a_step() -> None:
    sched = AdaptiveDecayLR(_opt(), detector=PlateauDetector(2))
    for _ in range(4):
        sched.observe(1.0)
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.5]
    assert sched.optimizer.param_groups[0]["lr"] == 0.5  # applied at once


def _metrics() -> list[float]:
    return [5.0, 4.0, 3.0] + [2.0] * 8 + [1.5, 1.0] + [1.0] * 10


@pytest.mark.parametrize("stop", [3, 9, 15])  # mid-warmup, right after a cut, later
def test_resume_continues_the_identical_sequence(stop: int) -> None:
    def build() -> AdaptiveDecayLR:
        return AdaptiveDecayLR(_opt(groups=2), warmup_steps=5, warmup_start_factor=0.1,
                               factor=0.3, detector=PlateauDetector(2))

    metrics = _metrics()
    straight = _run(build(), metrics)
    first = build()
    head = _run(first, metrics[:stop])
    buffer = io.BytesIO()
    torch.save({"scheduler": first.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["scheduler"]  # plain data only
    second = build()
    second.load_state_dict(state)
    assert head + _run(second, metrics[stop:]) == straight
    assert first.cuts or stop == 3


def test_resumed_on_a_fresh_optimizer_writes_the_cut_lr_at_the_next_step() -> None:
    """Loading leaves the optimizer alone, as torch's schedulers do; the next bare
    step() (the per-batch call that otherwise only counts) writes the cut LR."""
    first = AdaptiveDecayLR(_opt(), factor=0.3, detector=PlateauDetector(2))
    _run(first, _metrics())
    assert first.scale < 1.0
    second = AdaptiveDecayLR(_opt(), factor=0.3, detector=PlateauDetector(2))
    for _ in range(3):
        second.optimizer.step()
        second.step()
    second.load_state_dict(first.state_dict())
    assert second.optimizer.param_groups[0]["lr"] == 1.0  # untouched by the load
    second.optimizer.step()
    second.step()
    assert second.optimizer.param_groups[0]["lr"] == pytest.approx(first.scale)


def test_pickles_mid_run() -> None:
    sched = AdaptiveDecayLR(_opt(), detector=PlateauDetector(2))
    _run(sched, [1.0] * 5)
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.state_dict() == sched.state_dict()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"factor": 1.0}, "factor"),
        ({"factor": 0.0}, "factor"),
        ({"min_lr_ratio": 1.5}, "min_lr_ratio"),
        ({"cooldown": -1}, "cooldown"),
        ({"warmup_steps": 2.5}, "warmup_steps"),
        ({"warmup_start_factor": 2.0}, "warmup_start_factor"),
    ],
)
def test_bad_arguments_name_the_value(kwargs: dict, name: str) -> None:
    with pytest.raises(PolicyError, match=name):
        AdaptiveDecayLR(_opt(), **kwargs)


def test_load_rejects_a_foreign_state() -> None:
    sched = AdaptiveDecayLR(_opt())
    other = LinearLR(_opt(), total_iters=3)
    with pytest.raises(PolicyError, match="missing"):
        sched.load_state_dict(other.state_dict())
