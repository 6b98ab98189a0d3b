"""AnytimeWSD: HF's WSD curve wherever the decay begins; begun on request or at a plateau."""

from __future__ import annotations

import io

import pytest
import torch
from transformers import get_wsd_schedule

from lradvisor.plateau import PlateauDetector
from lradvisor.policy import AnytimeWSD, PolicyError


def _opt(lr: float = 0.5) -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.zeros(2, requires_grad=True)], lr=lr)


def _lrs(sched, steps: int, *, begin: dict[int, int] | None = None,
         metrics: list[float] | None = None) -> list[float]:
    """LR of each step 0..steps-1, calling begin_decay(D) at the steps in ``begin``."""
    out = []
    for step in range(steps):
        if begin and step in begin:
            sched.begin_decay(begin[step])
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step(None if metrics is None else metrics[step])
    return out


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("start", [10, 37])
def test_decay_begun_at_any_step_is_hf_wsd(shape: str, start: int) -> None:
    warmup, decay, total = 5, 20, start + 25
    ours = AnytimeWSD(_opt(), warmup_steps=warmup, warmup_start_factor=0.1,
                      decay_shape=shape, min_lr_ratio=0.1)
    ref_opt = _opt()
    ref = get_wsd_schedule(ref_opt, num_warmup_steps=warmup, num_decay_steps=decay,
                           num_stable_steps=start - warmup, decay_type=shape,
                           min_lr_ratio=0.1)
    expected = []
    for _ in range(total):
        expected.append(ref.get_last_lr()[0])
        ref_opt.step()
        ref.step()
    assert _lrs(ours, total, begin={start: decay}) == pytest.approx(expected, rel=1e-12)


def test_planned_decay_can_be_moved_but_not_once_under_way() -> None:
    sched = AnytimeWSD(_opt(1.0), decay_shape="linear", decay_start=50, decay_steps=10)
    _lrs(sched, 20)
    sched.begin_decay(4, at=30)  # extend/cut: move the planned decay
    lrs = _lrs(sched, 20)
    assert lrs[9:15] == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(PolicyError, match="already began at step 30"):
        sched.begin_decay(5)


def test_begin_decay_during_warmup_starts_at_its_end() -> None:
    sched = AnytimeWSD(_opt(1.0), warmup_steps=4, decay_shape="linear")
    sched.begin_decay(2)
    assert sched.decay_start == 4
    assert _lrs(sched, 8) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.0, 0.0])


def test_default_decay_length_is_the_fraction_of_the_run_so_far() -> None:
    sched = AnytimeWSD(_opt(), decay_fraction=0.2)
    _lrs(sched, 80)
    sched.begin_decay()
    assert (sched.decay_start, sched.decay_steps) == (80, 20)  # 20% of the 100-step run


def test_auto_mode_begins_the_decay_when_the_detector_fires() -> None:
    detector = PlateauDetector(3)
    metrics = [5.0 / (i + 1) for i in range(20)] + [0.25] * 20
    sched = AnytimeWSD(_opt(), auto=True, detector=detector, decay_fraction=0.2)
    _lrs(sched, 40, metrics=metrics)
    first = next(n for n in range(1, 41) if detector.plateaued(metrics[:n]))
    assert sched.decay_start == first  # the step the plateau was seen at
    assert sched.decay_steps == round(first * 0.25)


def test_without_auto_metrics_change_nothing() -> None:
    sched = AnytimeWSD(_opt(), detector=PlateauDetector(2))
    assert set(_lrs(sched, 30, metrics=[1.0] * 30)) == {0.5}
    assert sched.decay_start is None


@pytest.mark.parametrize("stop", [2, 12, 27])  # mid-warmup, stable, mid-decay
def test_resume_continues_the_identical_sequence(stop: int) -> None:
    def build() -> AnytimeWSD:
        return AnytimeWSD(_opt(), warmup_steps=5, decay_shape="cosine", min_lr_ratio=0.01)

    begin = {20: 15}
    straight = _lrs(build(), 40, begin=begin)
    first = build()
    head = _lrs(first, stop, begin=begin)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second = build()
    second.load_state_dict(torch.load(buffer, weights_only=True))
    later = {k - stop: v for k, v in begin.items() if k >= stop}
    assert head + _lrs(second, 40 - stop, begin=later) == straight


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"decay_shape": "step"}, "decay_shape"),
        ({"min_lr_ratio": -0.1}, "min_lr_ratio"),
        ({"decay_fraction": 1.0}, "decay_fraction"),
        ({"decay_start": 10}, "decay_start and decay_steps"),
        ({"decay_start": 10, "decay_steps": 0}, "decay_steps"),
    ],
)
def test_bad_arguments_name_the_value(kwargs: dict, name: str) -> None:
    with pytest.raises(PolicyError, match=name):
        AnytimeWSD(_opt(), **kwargs)


def test_begin_decay_rejects_bad_counts() -> None:
    sched = AnytimeWSD(_opt())
    _lrs(sched, 5)
    with pytest.raises(PolicyError, match="steps"):
        sched.begin_decay(0)
    with pytest.raises(PolicyError, match="at must be >= the current step 5"):
        sched.begin_decay(3, at=2)
