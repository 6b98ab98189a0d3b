"""Invariants over random valid specs of every family (hypothesis).

Specs are drawn from each parameter's search range (the space the search explores),
with lengths given as fractions or as steps, and random run lengths. For every one:
the LR is finite, positive and never above the peak; warmup never decreases; the built
torch scheduler follows the pure curve; it pickles; and a run saved mid-way and loaded
into a fresh optimizer and scheduler continues exactly as the uninterrupted run.

The one LR that may be 0 is step 0 of a warmup with ``warmup_start_factor=0`` (HF's
warmup starts at 0 too).
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_helpers import assert_close, drive, make_optimizer

from lradvisor.schedules import FAMILY_NAMES, Param, ScheduleSpec, build_scheduler, get_family
from lradvisor.schedules._params import length_steps

PEAK = 0.01
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Parameters the search does not tune, drawn from a plausible range instead.
UNSEARCHED = {
    ("multistep", "milestones"): st.lists(st.floats(0.01, 1.0), max_size=4),
    ("polynomial", "end_ratio"): st.floats(0.0, 0.5),
    ("cyclic", "gamma"): st.floats(0.95, 1.0),
    ("cyclic", "step_down_fraction"): st.none() | st.floats(0.01, 0.3),
    ("plateau", "mode"): st.sampled_from(["min", "max"]),
    ("plateau", "threshold"): st.floats(0.0, 0.1),
    ("plateau", "threshold_mode"): st.sampled_from(["rel", "abs"]),
    ("wsd", "decay_fraction"): st.floats(0.01, 1.0),
}


def _value(family: str, p: Param) -> st.SearchStrategy[Any]:
    if (family, p.name) in UNSEARCHED:
        return UNSEARCHED[(family, p.name)]
    if p.name == "warmup_fraction":
        return st.floats(0.0, 0.5)
    if p.name == "warmup_start_factor":
        # 0 (HF), 1, or a normal float: a subnormal start (5e-324) times a peak below 1
        # underflows to an LR of exactly 0, which says nothing about the schedule.
        return st.sampled_from([0.0, 1.0]) | st.floats(1e-6, 1.0)
    if p.search is None:
        return st.just(p.default)
    if p.kind in ("str", "bool"):
        return st.sampled_from(p.search)
    if p.kind == "int":
        return st.integers(*p.search)
    return st.floats(*p.search)


@st.composite
def specs_and_runs(draw: st.DrawFn, family: str) -> tuple[ScheduleSpec, int]:
    """A valid spec of ``family`` and a run length it fits: warmup at most half the run
    (as warmup_fraction is at most 0.5), the other lengths in steps within what follows
    the warmup (they are parts of it)."""
    total = draw(st.integers(1, 240))
    params: dict[str, Any] = {}
    warmup_first = sorted(get_family(family).all_params,
                          key=lambda p: not p.name.startswith("warmup_"))
    for p in warmup_first:
        if p.length and draw(st.booleans()):  # the length in steps instead
            high = total // 2 if p.name == "warmup_fraction" else \
                total - length_steps(params, "warmup", total)
            params[p.steps_name] = draw(st.integers(1 if p.low_open else 0, high))
        else:
            params[p.name] = draw(_value(family, p))
    return ScheduleSpec(family, params), total


def metric_stream(seed: int, n: int) -> list[float]:
    """A noisy, flattening loss curve, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [1.0 / (1 + 0.05 * i) + rng.uniform(0, 0.05) for i in range(n)]


@pytest.mark.parametrize("family", FAMILY_NAMES)
@SETTINGS
@given(data=st.data())
def test_curve_is_bounded_and_warmup_rises(family, data):
    """Finite, > 0 (but warmup step 0 from 0), <= peak; warmup non-decreasing; the built
    scheduler follows the curve (plateau: without metrics)."""
    spec, total = data.draw(specs_and_runs(family))
    curve = spec.curve(total, peak_lr=PEAK)
    warmup = spec.warmup_steps(total)
    assert len(curve) == total
    for step, lr in enumerate(curve):
        assert math.isfinite(lr)
        assert lr <= PEAK * (1 + 1e-12), f"step {step}: {lr} above the peak"
        zero_ok = step == 0 and warmup > 0 and spec.params["warmup_start_factor"] == 0
        assert lr > 0 or (zero_ok and lr == 0), f"step {step}: {lr}"
    assert all(a <= b for a, b in zip(curve[:warmup], curve[1:warmup], strict=False))
    opt = make_optimizer(PEAK)
    assert_close(drive(opt, build_scheduler(opt, spec, total), total), curve)


@pytest.mark.parametrize("family", FAMILY_NAMES)
@SETTINGS
@given(data=st.data())
def test_pickles_and_resumes_exactly(family, data):
    """Pickling works; save at step k, load into fresh ones: the identical LR sequence."""
    spec, total = data.draw(specs_and_runs(family))
    stop = data.draw(st.integers(0, total))
    metrics = metric_stream(data.draw(st.integers(0, 2**16)), total) if family == "plateau" \
        else None

    opt = make_optimizer(PEAK)
    whole = drive(opt, build_scheduler(opt, spec, total), total, metrics)

    opt = make_optimizer(PEAK)
    sched = build_scheduler(opt, spec, total)
    first = drive(opt, sched, stop, metrics)
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.get_last_lr() == sched.get_last_lr()
    saved = copy.deepcopy((opt.state_dict(), sched.state_dict()))
    opt2 = make_optimizer(PEAK)
    sched2 = build_scheduler(opt2, spec, total)
    opt2.load_state_dict(saved[0])
    sched2.load_state_dict(saved[1])
    rest = drive(opt2, sched2, total - stop, metrics[stop:] if metrics else None)
    assert first + rest == whole
