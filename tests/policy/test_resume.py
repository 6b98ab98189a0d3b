"""check_resume: the resumed-run mistakes, each shown with the real torch behaviour."""

from __future__ import annotations

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR

from lradvisor import ScheduleSpec
from lradvisor.policy import PolicyError, ResumeWarning, SchedulePolicy, check_resume


def _model_opt() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Linear(2, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _steps(opt, sched, n: int) -> None:
    for _ in range(n):
        opt.step()
        sched.step()


def _codes(issues) -> list[str]:
    return [i.code for i in issues]


def test_a_complete_checkpoint_passes() -> None:
    model, opt = _model_opt()
    sched = CosineAnnealingLR(opt, T_max=100)
    _steps(opt, sched, 40)
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "step": 40}
    assert check_resume(ckpt, total_steps=100) == []


def test_missing_scheduler_state_is_reported_and_warned() -> None:
    model, opt = _model_opt()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 40}
    with pytest.warns(ResumeWarning, match="restarts its schedule at step 0"):
        issues = check_resume(ckpt, total_steps=100)
    assert _codes(issues) == ["no-scheduler-state"]


def test_onecycle_resumed_longer_overruns_as_torch_does() -> None:
    _, opt = _model_opt()
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=50)
    _steps(opt, sched, 30)
    ckpt = {"optimizer": opt.state_dict(), "lr_scheduler": sched.state_dict(), "step": 30}
    issues = check_resume(ckpt, total_steps=60, warn=False)
    assert _codes(issues) == ["length-changed", "onecycle-overrun"]
    assert "Tried to step 51 times" in issues[1].message
    # what torch itself does when the resumed run goes on to 60 steps:
    _, opt2 = _model_opt()
    resumed = OneCycleLR(opt2, max_lr=0.1, total_steps=50)
    resumed.load_state_dict(ckpt["lr_scheduler"])
    with pytest.raises(ValueError, match="Tried to step 5[12] times"):
        _steps(opt2, resumed, 30)


def test_changed_length_of_a_policy_and_step_mismatch() -> None:
    _, opt = _model_opt()
    policy = SchedulePolicy.from_spec(ScheduleSpec.create("cosine", warmup_fraction=0.1))
    sched = policy.attach(opt, 100)
    _steps(opt, sched, 20)
    ckpt = {"policy": policy.state_dict(), "global_step": 25}
    issues = check_resume(ckpt, total_steps=200, warn=False)
    assert _codes(issues) == ["length-changed", "step-mismatch"]
    assert "built for 100 steps, the resumed run has 200" in issues[0].message
    assert "taken 20 steps but the checkpoint is at step 25" in issues[1].message


def test_a_finished_schedule_and_lightning_layout(tmp_path) -> None:
    _, opt = _model_opt()
    sched = CosineAnnealingLR(opt, T_max=10)
    _steps(opt, sched, 10)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "lr_schedulers": [sched.state_dict()]}, path)
    issues = check_resume(path, total_steps=10, step=10, warn=False)
    assert _codes(issues) == ["schedule-finished"]
    assert "lr_schedulers" in issues[0].where


def test_per_epoch_policy_is_not_compared_with_the_optimizer_step() -> None:
    _, opt = _model_opt()
    policy = SchedulePolicy.from_spec("cosine")
    sched = policy.attach(opt, epochs=10)
    _steps(opt, sched, 3)
    assert check_resume({"policy": policy.state_dict(), "step": 300}, total_steps=10) == []


def test_unreadable_checkpoint_is_an_error(tmp_path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PolicyError, match="cannot read checkpoint"):
        check_resume(path)


def test_constant_family_scheduler_is_not_read_as_a_zero_length_run() -> None:
    """build_scheduler's ``constant`` is ConstantLR(total_iters=0): no planned length."""
    from lradvisor import build_scheduler

    _, opt = _model_opt()
    sched = build_scheduler(opt, "constant", 100)
    assert type(sched).__name__ == "ConstantLR" and sched.total_iters == 0
    _steps(opt, sched, 10)
    assert check_resume({"scheduler": sched.state_dict(), "step": 10}, total_steps=100,
                        warn=False) == []


def test_plateau_lr_is_compared_by_its_steps_not_its_metrics() -> None:
    """PlateauLR stepped per batch and given observe() after each evaluation, as the
    generated code says: its last_epoch counts the 2 metrics, steps_done the 10 steps."""
    from lradvisor import build_scheduler

    _, opt = _model_opt()
    sched = build_scheduler(opt, ScheduleSpec.create("plateau", warmup_steps=2), 100)
    for step in range(1, 11):
        opt.step()
        sched.step()
        if step % 5 == 0:
            sched.observe(1.0)
    assert (sched.last_epoch, sched.steps_done) == (2, 10)
    ckpt = {"scheduler": sched.state_dict(), "step": 10}
    assert check_resume(ckpt, total_steps=100, warn=False) == []
    late = check_resume({**ckpt, "step": 12}, total_steps=100, warn=False)
    assert _codes(late) == ["step-mismatch"]
    assert "taken 10 steps but the checkpoint is at step 12" in late[0].message
