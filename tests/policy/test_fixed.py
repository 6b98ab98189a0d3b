"""The policy's fixed schedules past their end: the spec's curve, whichever class runs it."""

from __future__ import annotations

import warnings

import pytest
import torch

from lradvisor import ScheduleSpec
from lradvisor.policy import ResumeWarning, SchedulePolicy, check_resume


def _opt(*lrs: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr}
                            for lr in lrs])


def _run(opt: torch.optim.Optimizer, sched, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("min_lr_ratio", [0.0, 0.1])
@pytest.mark.parametrize("lrs", [(1.0,), (1.0, 0.1)])  # the native class, then SpecLR
def test_cosine_is_held_at_its_floor_past_the_end(lrs, min_lr_ratio) -> None:
    spec = ScheduleSpec.create("cosine", min_lr_ratio=min_lr_ratio, peak_lr=0.5)
    opt = _opt(*lrs)
    sched = SchedulePolicy.from_spec(spec).attach(opt, total_steps=10)
    got = _run(opt, sched, 25)
    expected = [spec.lr(step, total_steps=10) for step in range(25)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert got[10:] == [pytest.approx(0.5 * min_lr_ratio, abs=1e-12)] * 15
    if len(lrs) == 1:  # torch's own class, as before (checkpoints name it)
        assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR)
        assert type(sched).__name__ == "CosineAnnealingLR"
        with pytest.warns(UserWarning, match="epoch parameter"):
            sched.step(30)  # torch's closed-form path (an epoch given) holds it too
        assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * min_lr_ratio, abs=1e-12)


def test_a_cosine_run_resumed_longer_stays_at_the_floor_as_warned() -> None:
    """Resumed with a longer length, the saved 20-step cosine ends at step 20 (as the
    warnings say), instead of climbing back to the peak by step 40."""
    spec = ScheduleSpec.create("cosine", peak_lr=0.1)
    opt, policy = _opt(0.1), SchedulePolicy.from_spec(spec)
    _run(opt, policy.attach(opt, total_steps=20), 10)
    ckpt = {"optimizer": opt.state_dict(), "policy": policy.state_dict(), "step": 10}

    opt2, resumed = _opt(0.1), SchedulePolicy.from_spec(spec)
    sched = resumed.attach(opt2, total_steps=40)
    codes = [issue.code for issue in check_resume(ckpt, total_steps=40, warn=False)]
    assert codes == ["length-changed"]  # "...so the LR reaches its end early"
    opt2.load_state_dict(ckpt["optimizer"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed.load_state_dict(ckpt["policy"])
    assert [w.category for w in caught] == [ResumeWarning]  # "follows the saved schedule"
    got = _run(opt2, sched, 30)
    expected = [spec.lr(step, total_steps=20) for step in range(10, 40)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert max(got[10:]) == 0.0  # was 0.1 at step 40: the peak again
