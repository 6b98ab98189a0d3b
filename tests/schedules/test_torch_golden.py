"""Golden LR tables: our pure curves and built schedulers against torch's own classes.

Each case maps a spec onto the torch class's arguments (lengths to steps, floors to
``eta_min``); the LR sequences must agree step by step to 1e-9 relative. Warmup variants
are checked against ``SequentialLR([LinearLR(start_factor, 1, warmup), decay], [warmup])``.
"""

from __future__ import annotations

import pytest
from schedule_helpers import assert_close, built_lrs, drive, make_optimizer, reference_lrs
from torch.optim import lr_scheduler as tl

from lradvisor.schedules import ScheduleSpec

PEAK = 0.3

# (id, spec, total steps, torch factory(optimizer, total after warmup))
NO_WARMUP = [
    ("constant", ScheduleSpec("constant"), 20, lambda o, t: tl.ConstantLR(o, 1.0, 0)),
    ("step", ScheduleSpec.create("step", step_fraction=0.25, gamma=0.5), 41,
     lambda o, t: tl.StepLR(o, step_size=10, gamma=0.5)),
    ("step-steps", ScheduleSpec.create("step", step_steps=7, gamma=0.3), 30,
     lambda o, t: tl.StepLR(o, step_size=7, gamma=0.3)),
    ("step-steps-the-whole-run", ScheduleSpec.create("step", step_steps=30), 30,  # the most
     lambda o, t: tl.StepLR(o, step_size=30, gamma=0.1)),  # allowed: its drop ends the run
    ("multistep", ScheduleSpec.create("multistep", milestones=[0.9, 0.3, 0.6, 0.6], gamma=0.2),
     40, lambda o, t: tl.MultiStepLR(o, milestones=[12, 24, 24, 36], gamma=0.2)),
    ("multistep-a-milestone-at-the-end", ScheduleSpec.create("multistep", milestones=[0.5, 1]),
     40, lambda o, t: tl.MultiStepLR(o, milestones=[20, 40])),  # legal, as in torch: no step
    # trains at the LR after its drop (nor after step_fraction=1's, step-steps-the-whole-run)
    ("exponential", ScheduleSpec.create("exponential", final_ratio=0.05), 50,
     lambda o, t: tl.ExponentialLR(o, gamma=0.05 ** (1 / 50))),
    ("linear", ScheduleSpec.create("linear", min_lr_ratio=0.1), 30,
     lambda o, t: tl.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=30)),
    ("linear-to-zero", ScheduleSpec("linear"), 25,
     lambda o, t: tl.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=25)),
    ("cosine", ScheduleSpec.create("cosine", min_lr_ratio=0.01), 40,
     lambda o, t: tl.CosineAnnealingLR(o, T_max=40, eta_min=0.01 * PEAK)),
    ("cosine_restarts", ScheduleSpec.create("cosine_restarts", t0_steps=5, t_mult=2,
                                            min_lr_ratio=0.02), 75,
     lambda o, t: tl.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.02 * PEAK)),
    ("cosine_restarts-default", ScheduleSpec("cosine_restarts"), 70,
     lambda o, t: tl.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2)),
    ("cosine_restarts-t0-the-whole-run", ScheduleSpec.create("cosine_restarts", t0_steps=30),
     30, lambda o, t: tl.CosineAnnealingWarmRestarts(o, T_0=30)),  # the longest allowed
    ("cosine_restarts-tmult1", ScheduleSpec.create("cosine_restarts", t0_fraction=0.2,
                                                   t_mult=1), 50,
     lambda o, t: tl.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=1)),
    ("polynomial", ScheduleSpec.create("polynomial", power=2.0), 30,
     lambda o, t: tl.PolynomialLR(o, total_iters=30, power=2.0)),
    ("polynomial-sqrt", ScheduleSpec.create("polynomial", power=0.5), 30,
     lambda o, t: tl.PolynomialLR(o, total_iters=30, power=0.5)),
    ("onecycle", ScheduleSpec("onecycle"), 50,
     lambda o, t: tl.OneCycleLR(o, max_lr=PEAK, total_steps=50, cycle_momentum=False)),
    ("onecycle-linear", ScheduleSpec.create("onecycle", anneal_strategy="linear",
                                            pct_start=0.45, div_factor=10.0,
                                            final_div_factor=100.0), 47,
     lambda o, t: tl.OneCycleLR(o, max_lr=PEAK, total_steps=47, pct_start=0.45,
                                anneal_strategy="linear", div_factor=10.0,
                                final_div_factor=100.0, cycle_momentum=False)),
    ("onecycle-3phase-cos", ScheduleSpec.create("onecycle", three_phase=True), 53,
     lambda o, t: tl.OneCycleLR(o, max_lr=PEAK, total_steps=53, three_phase=True,
                                cycle_momentum=False)),
    ("onecycle-3phase-linear", ScheduleSpec.create("onecycle", three_phase=True,
                                                   anneal_strategy="linear", pct_start=0.2),
     60, lambda o, t: tl.OneCycleLR(o, max_lr=PEAK, total_steps=60, three_phase=True,
                                    pct_start=0.2, anneal_strategy="linear",
                                    cycle_momentum=False)),
    ("cyclic-triangular", ScheduleSpec.create("cyclic", step_up_steps=5, step_down_steps=3), 40,
     lambda o, t: tl.CyclicLR(o, base_lr=0.1 * PEAK, max_lr=PEAK, step_size_up=5,
                              step_size_down=3, cycle_momentum=False)),
    ("cyclic-half-cycles-of-the-whole-run", ScheduleSpec.create(
        "cyclic", step_up_steps=30, step_down_steps=30), 30,  # the longest allowed
     lambda o, t: tl.CyclicLR(o, base_lr=0.1 * PEAK, max_lr=PEAK, step_size_up=30,
                              step_size_down=30, cycle_momentum=False)),
    ("cyclic-triangular2", ScheduleSpec.create("cyclic", mode="triangular2", base_ratio=0.05,
                                               step_up_fraction=0.1), 60,
     lambda o, t: tl.CyclicLR(o, base_lr=0.05 * PEAK, max_lr=PEAK, step_size_up=6,
                              mode="triangular2", cycle_momentum=False)),
    ("cyclic-exp_range", ScheduleSpec.create("cyclic", mode="exp_range", gamma=0.97,
                                             step_up_steps=4, step_down_steps=6), 50,
     lambda o, t: tl.CyclicLR(o, base_lr=0.1 * PEAK, max_lr=PEAK, step_size_up=4,
                              step_size_down=6, mode="exp_range", gamma=0.97,
                              cycle_momentum=False)),
]


@pytest.mark.parametrize(("name", "spec", "total", "factory"), NO_WARMUP,
                         ids=[c[0] for c in NO_WARMUP])
def test_curve_matches_torch_class(name, spec, total, factory):
    """The pure curve (no torch) equals the torch class's LR at every step."""
    expected = reference_lrs(lambda o: factory(o, total), total, PEAK)
    assert_close(spec.curve(total, peak_lr=PEAK), expected)


@pytest.mark.parametrize(("name", "spec", "total", "factory"), NO_WARMUP,
                         ids=[c[0] for c in NO_WARMUP])
def test_built_scheduler_is_the_native_class(name, spec, total, factory):
    """Without warmup, build_scheduler returns torch's class, driving the same LRs."""
    expected = reference_lrs(lambda o: factory(o, total), total, PEAK)
    cls, ours = built_lrs(spec.replace(peak_lr=PEAK), total, PEAK)
    assert cls == spec.definition.torch_class
    assert_close(ours, expected)


def test_built_cosine_holds_its_floor_past_the_end_where_torchs_climbs_back():
    """Within the run torch's CosineAnnealingLR step for step; after it, the family's
    curve (``spec.lr``: the floor), where torch's class, a cosine of period 2 * T_max,
    climbs back to the peak. Before, build_scheduler returned torch's class as it is."""
    from lradvisor.schedules import build_scheduler

    spec = ScheduleSpec.create("cosine", min_lr_ratio=0.1, peak_lr=PEAK)
    torch_lrs = reference_lrs(lambda o: tl.CosineAnnealingLR(o, T_max=20, eta_min=0.1 * PEAK),
                              45, PEAK)
    opt = make_optimizer(PEAK)
    sched = build_scheduler(opt, spec, 20)
    ours = drive(opt, sched, 45)
    assert isinstance(sched, tl.CosineAnnealingLR) and type(sched).__name__ == "CosineAnnealingLR"
    assert_close(ours[:21], torch_lrs[:21])
    assert_close(ours, [spec.lr(step, total_steps=20) for step in range(45)])
    assert torch_lrs[40] == pytest.approx(PEAK) and ours[40] == pytest.approx(0.1 * PEAK)


# (id, spec without warmup, total, warmup steps, start factor, decay factory(opt, rest))
WITH_WARMUP = [
    ("constant", ScheduleSpec("constant"), 30, 6, 0.1, lambda o, t: tl.ConstantLR(o, 1.0, 0)),
    ("step", ScheduleSpec.create("step", step_fraction=0.25, gamma=0.5), 48, 8, 0.2,
     lambda o, t: tl.StepLR(o, step_size=10, gamma=0.5)),
    ("multistep", ScheduleSpec.create("multistep", milestones=[0.5, 0.75]), 50, 10, 0.01,
     lambda o, t: tl.MultiStepLR(o, milestones=[20, 30], gamma=0.1)),
    ("exponential", ScheduleSpec.create("exponential", final_ratio=0.1), 45, 5, 0.5,
     lambda o, t: tl.ExponentialLR(o, gamma=0.1 ** (1 / 40))),
    ("linear", ScheduleSpec.create("linear", min_lr_ratio=0.05), 40, 10, 0.1,
     lambda o, t: tl.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=30)),
    ("cosine", ScheduleSpec.create("cosine", min_lr_ratio=0.1), 40, 4, 0.25,
     lambda o, t: tl.CosineAnnealingLR(o, T_max=36, eta_min=0.1 * PEAK)),
    ("cosine_restarts", ScheduleSpec.create("cosine_restarts", t0_steps=4, t_mult=2), 33, 5,
     0.3, lambda o, t: tl.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2)),
    ("polynomial", ScheduleSpec.create("polynomial", power=1.5), 36, 6, 0.2,
     lambda o, t: tl.PolynomialLR(o, total_iters=30, power=1.5)),
]


@pytest.mark.parametrize(("name", "spec", "total", "warmup", "start", "factory"), WITH_WARMUP,
                         ids=[c[0] for c in WITH_WARMUP])
def test_warmup_matches_linear_lr_then_torch_class(name, spec, total, warmup, start, factory):
    """Warmup + decay equals SequentialLR(LinearLR warmup, the torch decay class)."""

    def sequential(opt):
        ramp = tl.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=warmup)
        return tl.SequentialLR(opt, [ramp, factory(opt, total - warmup)], milestones=[warmup])

    expected = reference_lrs(sequential, total, PEAK)
    ours = spec.replace(warmup_steps=warmup, warmup_start_factor=start, peak_lr=PEAK)
    assert_close(ours.curve(total), expected)
    cls, built = built_lrs(ours, total, PEAK)
    assert cls == "LambdaLR"
    assert_close(built, expected)


def test_warmup_fraction_resolves_like_warmup_steps():
    """``warmup_fraction`` is ``round(fraction * total)`` steps: same curve as the steps form."""
    by_fraction = ScheduleSpec.create("cosine", warmup_fraction=0.1)
    by_steps = ScheduleSpec.create("cosine", warmup_steps=10)
    assert by_fraction.curve(100) == by_steps.curve(100)


def test_polynomial_with_end_ratio_falls_back_to_lambda_lr():
    """torch's PolynomialLR decays to 0 only; a floor gives LambdaLR (HF's shape, tested there)."""
    cls, lrs = built_lrs(ScheduleSpec.create("polynomial", end_ratio=0.1), 20, PEAK)
    assert cls == "LambdaLR"
    assert lrs[0] == PEAK and min(lrs) > 0.1 * PEAK


def test_onecycle_empty_phase_falls_back_where_torch_divides_by_zero():
    """pct_start * total == 1 makes torch's first phase empty (ZeroDivisionError at step 0);
    we build LambdaLR instead, reaching the peak at step 0 and matching torch afterwards."""
    spec = ScheduleSpec.create("onecycle", pct_start=0.25)
    with pytest.raises(ZeroDivisionError):
        reference_lrs(lambda o: tl.OneCycleLR(o, max_lr=PEAK, total_steps=4, pct_start=0.25,
                                              cycle_momentum=False), 4, PEAK)
    cls, lrs = built_lrs(spec, 4, PEAK)
    assert cls == "LambdaLR"
    assert lrs[0] == pytest.approx(PEAK, rel=1e-12)


def test_multiple_lrs_use_lambda_lr_per_group():
    """Param groups with different LRs get LambdaLR, each scaled by its own LR."""
    from lradvisor.schedules import build_scheduler

    opt = make_optimizer(0.1, groups=2)
    opt.param_groups[1]["lr"] = 0.01
    sched = build_scheduler(opt, ScheduleSpec.create("cosine", min_lr_ratio=0.1), 10)
    assert type(sched).__name__ == "LambdaLR"
    drive(opt, sched, 5)
    ref = make_optimizer(1.0)
    ref_lr = drive(ref, tl.CosineAnnealingLR(ref, T_max=10, eta_min=0.1), 6)[-1]
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1 * ref_lr, 0.01 * ref_lr])


def test_a_peak_lr_goes_to_the_largest_group_and_the_others_keep_their_ratios():
    """With a peak, groups at 0.1 and 0.01 run at 0.5 and 0.05: torch's own cosine over
    those two LRs, step by step (they used to be flattened to 0.5 both)."""
    from lradvisor.schedules import build_scheduler

    opt = make_optimizer(0.1, groups=2)
    opt.param_groups[0]["lr"] = 0.01  # a backbone at a tenth of its head
    sched = build_scheduler(opt, ScheduleSpec.create("cosine", peak_lr=0.5), 20)
    assert [g["initial_lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.5])
    assert opt.param_groups[1]["lr"] == 0.5  # the largest group: the peak itself, unrounded
    ref = make_optimizer(0.5, groups=2)
    ref.param_groups[0]["lr"] = 0.05
    expected = tl.CosineAnnealingLR(ref, T_max=20)
    for _ in range(20):
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [g["lr"] for g in ref.param_groups], rel=1e-9, abs=1e-15)
        drive(opt, sched, 1)
        drive(ref, expected, 1)
    again = build_scheduler(opt, ScheduleSpec.create("cosine", peak_lr=0.2), 20)
    assert type(again).__name__ == "LambdaLR"  # set again: ratios from initial_lr
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.02, 0.2])


@pytest.mark.parametrize("peak", ["0.5", 1])
def test_a_peak_lr_the_spec_accepts_is_written_as_its_float(peak):
    """build_scheduler(peak_lr="0.5") is taken as the spec takes it: the optimizer gets
    the validated float (the raw string reached the optimizer's arithmetic: TypeError)."""
    from schedule_helpers import make_optimizer

    from lradvisor.schedules import build_scheduler

    opt = make_optimizer(0.1, groups=2)
    sched = build_scheduler(opt, ScheduleSpec.create("cosine"), 20, peak_lr=peak)
    assert type(sched).__name__ == "CosineAnnealingLR"
    for group in opt.param_groups:
        assert type(group["lr"]) is float and group["lr"] == float(peak)
        assert type(group["initial_lr"]) is float and group["initial_lr"] == float(peak)


@pytest.mark.parametrize("peak", [0, -0.1, float("nan"), float("inf"), "fast", None, True])
def test_set_peak_refuses_a_bad_peak_in_one_line_and_writes_nothing(peak):
    """set_peak is public: a bad peak is refused as the spec refuses it (a negative one
    became negative LRs in the optimizer, which torch's own constructors refuse)."""
    from schedule_helpers import make_optimizer

    from lradvisor.errors import SpecError
    from lradvisor.schedules import set_peak

    opt = make_optimizer(0.1, groups=2)
    with pytest.raises(SpecError, match=r"^peak_lr must be a number > 0, but got ") as info:
        set_peak(opt, peak)
    assert repr(peak) in str(info.value) and "\n" not in str(info.value)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]
    assert all("initial_lr" not in g for g in opt.param_groups)
