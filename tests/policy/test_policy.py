"""SchedulePolicy: where it comes from, how it attaches, what it says, how it resumes."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from click.testing import CliRunner
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR

from lradvisor import ScheduleSpec
from lradvisor.cli import cli
from lradvisor.errors import SpecError
from lradvisor.policy import (
    AdaptiveDecayLR,
    AnytimeWSD,
    PolicyError,
    ResumeWarning,
    SchedulePolicy,
    SpecLR,
)
from lradvisor.rules import TaskProfile, advise


def _opt(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def _lrs(sched, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


def test_from_rules_is_the_rules_top_recommendation() -> None:
    profile = TaskProfile(task="pretrain", arch="transformer", total_steps=2000)
    policy = SchedulePolicy.from_rules(profile)
    top = advise(profile).recommendations[0]
    assert policy.spec == top.spec and policy.total_steps == 2000
    assert policy.interval == "step"
    sched = policy.attach(_opt())
    expected = top.spec.curve(2000)
    assert _lrs(sched, 2000) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_profile_with_epochs_only_is_stepped_per_epoch() -> None:
    policy = SchedulePolicy.from_rules({"task": "scratch", "arch": "cnn", "epochs": 30})
    assert (policy.interval, policy.total_steps) == ("epoch", 30)
    sched = policy.attach(_opt())
    assert "once per epoch" in policy.describe()
    assert len(_lrs(sched, 30)) == 30


def test_per_step_and_per_epoch_lengths_are_stated() -> None:
    policy = SchedulePolicy.from_spec(ScheduleSpec.create("cosine", peak_lr=0.1))
    sched = policy.attach(_opt(), epochs=4, steps_per_epoch=25)
    assert (policy.interval, policy.total_steps) == ("step", 100)
    assert isinstance(sched, CosineAnnealingLR) and sched.T_max == 100
    policy.attach(_opt(), epochs=4)
    assert (policy.interval, policy.total_steps) == ("epoch", 4)
    assert "once per epoch" in policy.describe()
    policy.attach(_opt(), 60)
    assert (policy.interval, policy.total_steps) == ("step", 60)
    assert "60 optimizer steps; call scheduler.step() once per optimizer step" in (
        policy.describe())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"total_steps": 90, "epochs": 4, "steps_per_epoch": 25}, "disagrees"),
        ({"steps_per_epoch": 25}, "needs epochs"),
        ({"total_steps": 90, "epochs": 4}, "not both"),
    ],
)
def test_attach_rejects_conflicting_lengths(kwargs: dict, match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        SchedulePolicy.from_spec("cosine").attach(_opt(), **kwargs)


def test_from_spec_takes_suggest_json_output() -> None:
    result = CliRunner().invoke(cli, ["suggest", "--task", "finetune", "--total-steps", "500",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    policy = SchedulePolicy.from_spec(result.output)
    top = advise(TaskProfile(task="finetune", total_steps=500)).recommendations[0]
    assert policy.spec == top.spec and policy.total_steps == 500


def test_describe_is_what_suggest_prints() -> None:
    result = CliRunner().invoke(cli, ["suggest", "--task", "scratch", "--arch", "cnn",
                                      "--total-steps", "3000"])
    assert result.exit_code == 0, result.output
    policy = SchedulePolicy.from_rules(TaskProfile(task="scratch", arch="cnn", total_steps=3000))
    assert policy.describe() == result.output.rstrip("\n")


def test_from_study_reads_the_stored_recommendation(tmp_path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(storage=url, study_name="s1")
    rec = advise(TaskProfile(task="finetune", total_steps=800)).recommendations[0]
    tuned = rec.spec.replace(peak_lr=3e-5)
    study.set_user_attr("recommendation", {**rec.to_dict(), **tuned.to_dict(),
                                           "evidence": "trial 3 at 800 steps"})
    policy = SchedulePolicy.from_study(url, "s1")
    assert policy.spec == tuned and policy.total_steps == 800
    assert "Evidence: trial 3 at 800 steps" in policy.describe()
    assert policy.alternatives == ()  # stored before runners-up were: none
    other = {**rec.to_dict(), "rationale": "A finalist at 25% of the run: worst seed 0.3."}
    study.set_user_attr("recommendation", {**rec.to_dict(), **tuned.to_dict(),
                                           "evidence_data": {"alternatives": [other]}})
    again = SchedulePolicy.from_study(url, "s1")
    assert [a.spec for a in again.alternatives] == [rec.spec]
    assert "Runners-up:" in again.describe() and "worst seed 0.3." in again.describe()


def test_plateau_policy_attaches_the_detector_scheduler() -> None:
    spec = ScheduleSpec.create("plateau", patience=6, factor=0.2, warmup_steps=3, peak_lr=0.01)
    policy = SchedulePolicy.from_spec(spec)
    sched = policy.attach(_opt())  # unknown length: fine for plateau
    assert isinstance(sched, AdaptiveDecayLR)
    assert sched.detector.window == 3 and sched.factor == 0.2 and sched.warmup_steps == 3
    for step in range(1, 20):
        sched.optimizer.step()
        sched.step()
        policy.observe(step, 1.0)
    assert sched.cuts == [8, 14]  # 2 * window = 6 metrics after warmup, then 6 more
    assert sched.get_last_lr() == [pytest.approx(0.01 * 0.2 * 0.2)]
    assert policy.history[0] == (1, 1.0)


def test_wsd_policy_with_a_length_is_the_spec_curve_and_can_be_cut() -> None:
    spec = ScheduleSpec.create("wsd", warmup_fraction=0.1, decay_fraction=0.2)
    policy = SchedulePolicy.from_spec(spec)
    sched = policy.attach(_opt(), 200)
    assert isinstance(sched, AnytimeWSD)
    assert _lrs(sched, 200) == pytest.approx(spec.curve(200), rel=1e-12, abs=1e-15)
    cut = SchedulePolicy.from_spec(spec)
    sched = cut.attach(_opt(), 200)
    _lrs(sched, 100)
    cut.begin_decay(20)  # cut the run at 120 steps
    assert _lrs(sched, 21)[-1] == 0.0


@pytest.mark.parametrize(("params", "total"), [({}, 2), ({"decay_fraction": 0.05}, 9)])
def test_wsd_policy_of_a_short_run_is_the_spec_curve(params: dict, total: int) -> None:
    """A decay fraction that rounds to no step is a one-step decay, the same in the policy
    as in build_scheduler (the policy used to refuse it, naming decay_steps=0)."""
    spec = ScheduleSpec.create("wsd", **params)
    sched = SchedulePolicy.from_spec(spec).attach(_opt(), total)
    assert _lrs(sched, total) == pytest.approx(spec.curve(total), rel=1e-12, abs=1e-15)


def test_wsd_policy_of_unknown_length_takes_decay_steps_from_the_spec() -> None:
    spec = ScheduleSpec.create("wsd", warmup_steps=5, decay_steps=30)
    policy = SchedulePolicy.from_spec(spec)
    sched = policy.attach(_opt())
    _lrs(sched, 50)
    policy.begin_decay()
    assert (sched.decay_start, sched.decay_steps) == (50, 30)


def test_wsd_with_relative_warmup_needs_a_length() -> None:
    with pytest.raises(PolicyError, match="warmup_fraction"):
        SchedulePolicy.from_spec(ScheduleSpec.create("wsd", warmup_fraction=0.1)).attach(_opt())


@pytest.mark.parametrize("family", ["plateau", "wsd", "cosine"])
@pytest.mark.parametrize("warmup", [11, 20, 30])
def test_a_warmup_past_half_the_run_is_refused_naming_value_and_range(
        family: str, warmup: int) -> None:
    """As build_scheduler refuses it, in the same line (it said 'warmup of 20 steps must
    be shorter than the run (20 steps)', and took 11 of 20)."""
    spec = ScheduleSpec.create(family, warmup_steps=warmup)
    with pytest.raises(SpecError) as err:
        SchedulePolicy.from_spec(spec).attach(_opt(), 20)
    assert str(err.value) == (f"{family}.warmup_steps must be an integer in [0, 10] (at most "
                              f"half the steps of this run), but got {warmup}.")


def test_begin_decay_and_observe_need_an_attached_wsd_policy() -> None:
    policy = SchedulePolicy.from_spec("cosine")
    with pytest.raises(PolicyError, match="attach"):
        policy.observe(1, 0.5)
    policy.attach(_opt(), 10)
    policy.observe(1, 0.5)  # a fixed schedule only records it
    assert policy.history == [(1, 0.5)]
    with pytest.raises(PolicyError, match="wsd"):
        policy.begin_decay(5)


def _train(policy: SchedulePolicy, model: torch.nn.Module, opt, sched, steps: range,
           data: tuple[torch.Tensor, torch.Tensor]) -> list[float]:
    x, y = data
    lrs = []
    for step in steps:
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        if step % 5 == 4:
            policy.observe(step + 1, round(loss.item(), 1))  # coarse: plateaus quickly
    return lrs


@pytest.mark.parametrize("stop", [4, 40])  # mid-warmup; after a plateau cut
def test_state_dict_resume_in_a_real_loop_is_exact(stop: int) -> None:
    spec = ScheduleSpec.create("plateau", patience=3, warmup_steps=10, peak_lr=0.05)
    data = (torch.randn(64, 4, generator=torch.Generator().manual_seed(0)),
            torch.randn(64, 1, generator=torch.Generator().manual_seed(1)))

    def fresh() -> tuple:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        policy = SchedulePolicy.from_spec(spec)
        return policy, model, opt, policy.attach(opt)

    policy, model, opt, sched = fresh()
    straight = _train(policy, model, opt, sched, range(80), data)
    policy, model, opt, sched = fresh()
    head = _train(policy, model, opt, sched, range(stop), data)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "policy": policy.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)
    policy, model, opt, sched = fresh()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    policy.load_state_dict(ckpt["policy"])
    assert head + _train(policy, model, opt, sched, range(stop, 80), data) == straight
    assert sched.cuts or stop == 4


def test_load_state_dict_refuses_another_schedule_and_warns_on_new_length() -> None:
    policy = SchedulePolicy.from_spec("cosine")
    policy.attach(_opt(), 100)
    state = policy.state_dict()
    other = SchedulePolicy.from_spec("linear")
    other.attach(_opt(), 100)
    with pytest.raises(PolicyError, match="the checkpoint runs cosine"):
        other.load_state_dict(state)
    longer = SchedulePolicy.from_spec("cosine")
    longer.attach(_opt(), 120)
    with pytest.warns(ResumeWarning, match="total_steps=120 but the schedule was saved"):
        longer.load_state_dict(state)
    with pytest.raises(PolicyError, match="not a policy state_dict"):
        longer.load_state_dict(longer.scheduler.state_dict())


def test_unknown_length_for_a_fixed_schedule_is_an_error() -> None:
    with pytest.raises(Exception, match="total_steps"):
        SchedulePolicy.from_spec("cosine").attach(_opt())


def test_fixed_policy_without_native_class_is_lambda_lr_exactly() -> None:
    spec = ScheduleSpec.create("linear", warmup_fraction=0.1, min_lr_ratio=0.1)
    policy = SchedulePolicy.from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = policy.attach(_opt(), 50)
    assert isinstance(sched, SpecLR)
    ref = LambdaLR(_opt(), spec.multiplier_fn(50))
    assert _lrs(sched, 60) == _lrs(ref, 60)  # past the end too


@pytest.mark.parametrize("family", ["cosine", "wsd", "plateau"])
def test_a_tensor_lr_is_filled_in_place_as_lambda_lr_fills_it(family: str) -> None:
    """torch.compile's recipe keeps the LR in a tensor; replacing it each step (instead of
    ``fill_``) would give the compiled optimizer step a new tensor to guard on."""
    spec = ScheduleSpec.create(family, warmup_steps=3)
    params = [torch.zeros(1, requires_grad=True)]
    ours = torch.optim.Adam(params, lr=torch.tensor(0.01), foreach=False)
    reference = torch.optim.Adam(params, lr=torch.tensor(0.01), foreach=False)
    lr = ours.param_groups[0]["lr"]
    sched = SchedulePolicy.from_spec(spec).attach(ours, 10)
    lrs = _lrs(sched, 10)
    assert ours.param_groups[0]["lr"] is lr
    assert lrs == _lrs(LambdaLR(reference, spec.multiplier_fn(10)), 10)


@pytest.mark.parametrize("stop", [3, 30])
def test_spec_lr_resumes_from_plain_data(stop: int) -> None:
    spec = ScheduleSpec.create("cosine", warmup_steps=5, min_lr_ratio=0.01)
    straight = _lrs(SpecLR(_opt(), spec, 40), 40)
    first = SpecLR(_opt(), spec, 40)
    head = _lrs(first, stop)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second = SpecLR(_opt(), spec, 40)
    second.load_state_dict(torch.load(buffer, weights_only=True))
    assert head + _lrs(second, 40 - stop) == straight


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"epochs": -2, "steps_per_epoch": -3}, "epochs=-2"),
        ({"epochs": 4, "steps_per_epoch": -3}, "steps_per_epoch=-3"),
        ({"epochs": 2.5, "steps_per_epoch": 4}, "epochs=2.5"),
        ({"epochs": 4, "steps_per_epoch": 2.5}, "steps_per_epoch=2.5"),
        ({"epochs": 0, "steps_per_epoch": 4}, "epochs=0"),
        ({"epochs": 4, "steps_per_epoch": 0}, "steps_per_epoch=0"),
        ({"epochs": 0}, "epochs=0"),
        ({"epochs": "4"}, "epochs='4'"),
    ],
)
def test_attach_rejects_a_bad_epoch_count_naming_it(kwargs: dict, named: str) -> None:
    with pytest.raises(PolicyError, match=f"must be an integer >= 1, but got {named}"):
        SchedulePolicy.from_spec("cosine").attach(_opt(), **kwargs)


def test_attach_takes_numpy_integer_lengths() -> None:
    import numpy as np

    policy = SchedulePolicy.from_spec("cosine")
    policy.attach(_opt(), epochs=np.int64(4), steps_per_epoch=np.int64(25))
    assert policy.total_steps == 100 and type(policy.total_steps) is int


def test_from_spec_of_broken_json_is_a_spec_error_quoting_it() -> None:
    from lradvisor.errors import SpecError

    with pytest.raises(SpecError, match=r"not valid JSON .*'\{\"family\": \"cosine\",'"):
        SchedulePolicy.from_spec('{"family": "cosine",')


def test_observe_of_a_non_number_is_a_policy_error_naming_it() -> None:
    policy = SchedulePolicy.from_spec("cosine")
    policy.attach(_opt(), 10)
    with pytest.raises(PolicyError, match="value='abc'"):
        policy.observe(1, "abc")
    with pytest.raises(PolicyError, match="step='one'"):
        policy.observe("one", 0.5)
    assert policy.history == []


def test_an_epochs_profile_from_suggest_is_stepped_per_epoch() -> None:
    """``suggest --epochs 10`` (no steps per epoch): its JSON gives a per-epoch policy,
    and describe() is what suggest prints, per epoch."""
    args = ["suggest", "--task", "scratch", "--arch", "cnn", "--epochs", "10", "--rules-only"]
    text = CliRunner().invoke(cli, args).output
    data = CliRunner().invoke(cli, [*args, "--format", "json"]).output
    from_json = SchedulePolicy.from_spec(data)
    assert (from_json.interval, from_json.total_steps) == ("epoch", 10)
    policy = SchedulePolicy.from_rules(TaskProfile(task="scratch", arch="cnn", epochs=10))
    assert "(10 epochs, one scheduler step per epoch)" in policy.describe()
    assert "# Call scheduler.step() once after every epoch." in policy.describe()
    assert policy.describe() == text.rstrip("\n")


def test_attach_gives_the_peak_to_the_largest_group_and_keeps_the_ratios() -> None:
    """A fine-tuning optimizer (backbone at a tenth of its head) keeps that ratio under
    the policy's peak: torch's own cosine over 0.03 and 0.3, step by step."""
    def optimizer(backbone: float, head: float) -> torch.optim.Optimizer:
        return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": backbone},
                                {"params": [torch.zeros(1, requires_grad=True)], "lr": head}])

    opt = optimizer(0.01, 0.1)
    sched = SchedulePolicy.from_spec(ScheduleSpec.create("cosine", peak_lr=0.3)).attach(opt, 30)
    ref = optimizer(0.03, 0.3)
    expected = CosineAnnealingLR(ref, T_max=30)
    for _ in range(30):
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [g["lr"] for g in ref.param_groups], rel=1e-9, abs=1e-15)
        for o, s in ((opt, sched), (ref, expected)):
            o.step()
            s.step()
