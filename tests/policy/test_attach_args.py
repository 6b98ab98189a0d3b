"""What ``SchedulePolicy.attach`` takes as a length and as an optimizer, and what it refuses."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from lradvisor import ScheduleSpec
from lradvisor.errors import SpecError
from lradvisor.policy import PolicyError, SchedulePolicy
from lradvisor.schedules import build_scheduler


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


@pytest.mark.parametrize("family", ["cosine", "onecycle", "wsd", "plateau"])
def test_a_numpy_integer_total_steps_is_a_length(family) -> None:
    """``len(loader) * np.int64(epochs)`` is a numpy integer; ``epochs=`` took one already."""
    policy = SchedulePolicy.from_spec(ScheduleSpec.create(family, peak_lr=0.1))
    policy.attach(_opt(), total_steps=np.int64(40))
    assert policy.total_steps == 40 and type(policy.total_steps) is int
    buf = io.BytesIO()
    torch.save(policy.state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["total_steps"] == 40
    _, sched = policy.hf_optimizers(_opt(), np.int32(40))
    assert policy.total_steps == 40
    assert SchedulePolicy.from_spec(family, total_steps=np.int64(40)).attach(_opt()) is not None
    assert build_scheduler(_opt(), family, np.uint16(40)) is not None


@pytest.mark.parametrize("bad", [np.float64(40.5), np.int64(0), np.bool_(True), "40"])
def test_a_bad_total_steps_is_still_refused_naming_it(bad) -> None:
    with pytest.raises(SpecError, match=r"total_steps must be a positive integer, but got "):
        SchedulePolicy.from_spec("cosine").attach(_opt(), total_steps=bad)


@pytest.mark.parametrize(
    ("given", "named"),
    [(torch.nn.Linear(2, 1), "Linear"), (None, "None"), ([{"lr": 0.1}], "list")],
)
def test_attach_to_something_not_an_optimizer_names_it(given, named) -> None:
    """A model (or nothing) where the optimizer goes is one PolicyError naming it, not an
    AttributeError from inside torch or set_peak."""
    policy = SchedulePolicy.from_spec(ScheduleSpec.create("cosine", peak_lr=0.1))
    with pytest.raises(PolicyError, match=rf"attach needs a torch\.optim\.Optimizer.*{named}"):
        policy.attach(given, total_steps=10)
    assert policy.scheduler is None


@pytest.mark.parametrize("bad", [5, {"window": 5}, "plateau"])
def test_a_detector_that_is_not_one_is_refused_when_the_policy_is_made(bad) -> None:
    """Before: accepted, then an AttributeError from inside the first ``observe``."""
    with pytest.raises(TypeError, match=r"^detector must be a lradvisor.plateau.PlateauDetector"
                                        rf" \(or None\), but got a {type(bad).__name__}\.$"):
        SchedulePolicy.from_spec("plateau", detector=bad)


def test_no_length_for_a_schedule_that_ends_names_wsd_and_leaves_the_optimizer_alone() -> None:
    """Before: the message listed the open-ended families but not wsd, which a policy runs
    without a length, and the optimizer's LR was already set to the spec's peak."""
    opt = _opt()
    policy = SchedulePolicy.from_spec(ScheduleSpec.create("cosine", peak_lr=0.5))
    with pytest.raises(SpecError, match=r"^cosine needs the run's total_steps \(it ends\); .*"
                                        r" A policy runs wsd without a length too: "
                                        r"policy\.begin_decay\(steps\) starts its decay\.$"):
        policy.attach(opt)
    assert opt.param_groups[0]["lr"] == 0.1 and "initial_lr" not in opt.param_groups[0]
    assert policy.scheduler is None
