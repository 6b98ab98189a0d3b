"""``plateau`` / PlateauLR against torch's ReduceLROnPlateau fed the same metrics."""

from __future__ import annotations

import copy
import pickle

import pytest
from schedule_helpers import assert_close, built_lrs, drive, make_optimizer, reference_lrs
from torch.optim import lr_scheduler as tl

from lradvisor.schedules import ScheduleSpec, build_scheduler
from lradvisor.schedules._plateau_lr import PlateauLR

PEAK = 0.2
TOTAL = 120


def metric_sequence(n: int, mode: str = "min") -> list[float]:
    """A loss that improves, stalls, wobbles, improves a little, stalls again."""
    values = []
    for i in range(n):
        if i < 20:
            v = 2.0 - 0.05 * i
        elif i < 50:
            v = 1.0 + 0.002 * (i % 3)  # a plateau with noise
        elif i < 60:
            v = 0.99 - 0.0005 * (i - 50)  # tiny improvements (abs threshold matters)
        else:
            v = 0.985 + 0.01 * ((i * 7) % 5) / 5
        values.append(v if mode == "min" else 3.0 - v)  # max: an accuracy-like score
    return values


CASES = [
    ("defaults", {}, {"factor": 0.5, "patience": 10}),
    ("patience0", {"patience": 0, "factor": 0.1}, {"patience": 0, "factor": 0.1}),
    ("cooldown", {"patience": 2, "cooldown": 3, "factor": 0.7},
     {"patience": 2, "cooldown": 3, "factor": 0.7}),
    ("abs-threshold", {"threshold_mode": "abs", "threshold": 0.004, "patience": 3},
     {"threshold_mode": "abs", "threshold": 0.004, "patience": 3, "factor": 0.5}),
    ("mode-max", {"mode": "max", "patience": 4, "factor": 0.3},
     {"mode": "max", "patience": 4, "factor": 0.3}),
    ("floor", {"patience": 1, "factor": 0.2, "min_lr_ratio": 0.01},
     {"patience": 1, "factor": 0.2}),
]


def _reference(torch_kwargs: dict, min_lr_ratio: float, metrics: list[float]) -> list[float]:
    kwargs = {"min_lr": min_lr_ratio * PEAK, **torch_kwargs}
    return reference_lrs(lambda o: tl.ReduceLROnPlateau(o, **kwargs), TOTAL, PEAK, metrics)


@pytest.mark.parametrize(("name", "params", "torch_kwargs"), CASES, ids=[c[0] for c in CASES])
def test_without_warmup_it_is_reduce_lr_on_plateau(name, params, torch_kwargs):
    """step(metric) every call: the same LRs as ReduceLROnPlateau, and reductions happen."""
    spec = ScheduleSpec("plateau", params)
    metrics = metric_sequence(TOTAL, spec.params["mode"])
    expected = _reference(torch_kwargs, spec.params["min_lr_ratio"], metrics)
    cls, ours = built_lrs(spec, TOTAL, PEAK, metrics)
    assert cls == "PlateauLR"
    assert_close(ours, expected)
    assert min(expected) < PEAK  # the case exercises at least one reduction


def test_is_a_reduce_lr_on_plateau():
    """Lightning and HF's Trainer recognise it by isinstance."""
    sched = build_scheduler(make_optimizer(PEAK), ScheduleSpec("plateau"), TOTAL)
    assert isinstance(sched, tl.ReduceLROnPlateau)


def test_the_class_named_to_the_user_says_whether_it_warms_up():
    from lradvisor.codegen import torch_class_name

    plain = torch_class_name(ScheduleSpec.create("plateau"), None)
    assert plain == "PlateauLR (a ReduceLROnPlateau subclass; it can also warm up)"
    for warm in ({"warmup_steps": 3}, {"warmup_fraction": 0.1}):
        named = torch_class_name(ScheduleSpec.create("plateau", **warm), TOTAL)
        assert named == "PlateauLR (a ReduceLROnPlateau that also warms up)"


def test_curve_is_warmup_then_peak():
    """The pure curve is the envelope: linear warmup, then the peak (no plateau reached)."""
    spec = ScheduleSpec.create("plateau", warmup_steps=4, warmup_start_factor=0.2)
    expected = reference_lrs(lambda o: tl.LinearLR(o, 0.2, 1.0, total_iters=4), 10, PEAK)
    assert_close(spec.curve(10, peak_lr=PEAK), expected)


def test_warmup_then_plateau_logic_on_later_metrics():
    """Warmup follows LinearLR; metrics count once warmup is over, as for a fresh
    ReduceLROnPlateau started at the peak at that point."""
    warmup = 15
    spec = ScheduleSpec.create("plateau", warmup_steps=warmup, warmup_start_factor=0.1,
                               patience=2)
    metrics = metric_sequence(TOTAL)
    _, ours = built_lrs(spec, TOTAL, PEAK, metrics)
    ramp = reference_lrs(lambda o: tl.LinearLR(o, 0.1, 1.0, total_iters=warmup), warmup, PEAK)
    # the call after step i counts step i + 1, so metric i counts from i = warmup - 1 on
    ref_opt = make_optimizer(PEAK)
    ref = tl.ReduceLROnPlateau(ref_opt, factor=0.5, patience=2, min_lr=1e-4 * PEAK)
    ref.step(metrics[warmup - 1])
    later = drive(ref_opt, ref, TOTAL - warmup, metrics[warmup:])
    assert_close(ours[:warmup], ramp)
    assert_close(ours[warmup:], later)
    assert min(later) < PEAK


def test_observe_applies_plateau_logic_without_counting_steps():
    """step() each batch plus observe(metric) each eval equals ReduceLROnPlateau per eval."""
    metrics = metric_sequence(40)
    opt = make_optimizer(PEAK)
    sched = build_scheduler(opt, ScheduleSpec.create("plateau", patience=1), 400)
    ours = []
    for i in range(400):
        opt.step()
        sched.step()
        if i % 10 == 9:
            sched.observe(metrics[i // 10])
            ours.append(opt.param_groups[0]["lr"])
    ref_opt = make_optimizer(PEAK)
    ref = tl.ReduceLROnPlateau(ref_opt, factor=0.5, patience=1, min_lr=1e-4 * PEAK)
    expected = []
    for m in metrics:
        ref.step(m)
        expected.append(ref_opt.param_groups[0]["lr"])
    assert_close(ours, expected)
    assert sched.steps_done == 400


@pytest.mark.parametrize("stop", [3, 9, 60], ids=["mid-warmup", "warmup-end", "after-decay"])
def test_state_dict_resumes_exactly(stop):
    """Save optimizer + scheduler at ``stop``, load into fresh ones: the same LRs after."""
    spec = ScheduleSpec.create("plateau", warmup_steps=8, patience=1, cooldown=2)
    metrics = metric_sequence(TOTAL)
    opt = make_optimizer(PEAK)
    whole = drive(opt, build_scheduler(opt, spec, TOTAL), TOTAL, metrics)

    opt = make_optimizer(PEAK)
    sched = build_scheduler(opt, spec, TOTAL)
    first = drive(opt, sched, stop, metrics)
    saved = copy.deepcopy((opt.state_dict(), sched.state_dict()))
    opt2 = make_optimizer(PEAK)
    sched2 = build_scheduler(opt2, spec, TOTAL)
    opt2.load_state_dict(saved[0])
    sched2.load_state_dict(saved[1])
    rest = drive(opt2, sched2, TOTAL - stop, metrics[stop:])
    assert first + rest == whole
    assert min(whole) < PEAK


def test_pickles_mid_warmup():
    """A pickled PlateauLR keeps its warmup position."""
    opt = make_optimizer(PEAK)
    sched = PlateauLR(opt, warmup_steps=4)
    sched.step()
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.steps_done == 1 and clone.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("kwargs", [{"warmup_steps": -1}, {"warmup_start_factor": 1.5}])
def test_rejects_bad_warmup(kwargs):
    """Bad warmup arguments raise ValueError naming them."""
    with pytest.raises(ValueError, match="warmup"):
        PlateauLR(make_optimizer(PEAK), **kwargs)
