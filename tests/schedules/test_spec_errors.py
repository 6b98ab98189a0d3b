"""Bad input raises SpecError (a ValueError) naming the bad value and what is allowed."""

from __future__ import annotations

import pytest
from schedule_helpers import make_optimizer

from lradvisor.errors import SpecError
from lradvisor.schedules import FAMILY_NAMES, ScheduleSpec, build_scheduler


def test_spec_error_is_a_value_error():
    """Callers catching ValueError catch ours."""
    assert issubclass(SpecError, ValueError)


def test_unknown_family_lists_the_valid_ids():
    """An unknown family names itself and every valid id."""
    with pytest.raises(SpecError, match="'cosin'") as err:
        ScheduleSpec("cosin")
    assert all(name in str(err.value) for name in FAMILY_NAMES)


@pytest.mark.parametrize(
    ("family", "params", "allowed"),
    [
        ("step", {"gama": 0.1}, "gamma"),
        ("cyclic", {"max_lr": 1.0}, "base_ratio"),
        ("onecycle", {"warmup_fraction": 0.1}, "pct_start"),  # has its own ramp
        ("plateau", {"min_lr": 1e-6}, "min_lr_ratio"),
        ("wsd", {"decay_step": 10}, "decay_steps"),
    ],
)
def test_unknown_param_lists_the_allowed_ones(family, params, allowed):
    """An unknown parameter names itself and the family's parameters."""
    bad = next(iter(params))
    with pytest.raises(SpecError, match=f"'{bad}'.*allowed:.*{allowed}"):
        ScheduleSpec(family, params)


OUT_OF_RANGE = [
    ("step", "gamma", 0.0),
    ("step", "gamma", 1.5),
    ("step", "step_fraction", 0.0),
    ("step", "step_steps", -3),
    ("multistep", "milestones", [0.5, 1.5]),
    ("multistep", "milestones", "half"),
    ("exponential", "final_ratio", 0.0),
    ("linear", "min_lr_ratio", -0.1),
    ("cosine_restarts", "t_mult", 0),
    ("cosine_restarts", "t_mult", 1.5),
    ("cosine_restarts", "t0_fraction", 2.0),
    ("polynomial", "power", 0.0),
    ("polynomial", "end_ratio", 1.2),
    ("inverse_sqrt", "timescale_fraction", 0.0),
    ("onecycle", "pct_start", 1.0),
    ("onecycle", "anneal_strategy", "exp"),
    ("onecycle", "div_factor", 0.5),
    ("onecycle", "three_phase", "maybe"),
    ("cyclic", "mode", "triangle"),
    ("cyclic", "base_ratio", 0.0),
    ("cyclic", "gamma", 1.01),
    ("wsd", "decay_shape", "sqrt"),
    ("wsd", "decay_fraction", 0.0),
    ("wsd", "decay_steps", 0),
    ("step", "step_steps", 0),
    ("cosine_restarts", "t0_steps", 0),
    ("plateau", "factor", 1.0),
    ("plateau", "patience", -1),
    ("plateau", "patience", 2.5),
    ("plateau", "mode", "minimum"),
    ("plateau", "threshold_mode", "relative"),
    ("cosine", "warmup_fraction", 0.6),
    ("cosine", "warmup_start_factor", -0.1),
    ("cosine", "warmup_steps", -1),
    ("cosine", "min_lr_ratio", float("nan")),
    ("linear", "min_lr_ratio", True),
]


@pytest.mark.parametrize(("family", "name", "value"), OUT_OF_RANGE,
                         ids=[f"{f}.{n}={v!r}" for f, n, v in OUT_OF_RANGE])
def test_out_of_range_value_names_it(family, name, value):
    """A value outside the allowed range names the parameter and the value."""
    with pytest.raises(SpecError, match=f"{family}.{name}.*but got") as err:
        ScheduleSpec(family, {name: value})
    shown = value[-1] if isinstance(value, list) else value  # a list names its bad item
    assert repr(shown) in str(err.value)


@pytest.mark.parametrize("total", [1, 2, 3, 100, 101])
def test_the_longest_warmup_in_steps_is_half_the_run(total):
    """As warmup_fraction is at most 0.5: it builds, and a search restates it as a
    fraction of the run (warmup_steps / total <= 0.5)."""
    most = total // 2
    spec = ScheduleSpec("cosine", {"warmup_steps": most})
    build_scheduler(make_optimizer(), spec, total)
    assert spec.relative_to(total).params["warmup_fraction"] == most / total


@pytest.mark.parametrize(("family", "warmup"), [("cosine", 60), ("plateau", 51),
                                                ("wsd", 100), ("constant", 150)])
def test_a_warmup_in_steps_past_half_the_run_is_refused_alike_by_build_and_search(
        family, warmup):
    """A warmup longer than the run was 'warmup of 150 steps must be shorter than the run
    (100 steps)' (no parameter, no range); one past half the run but shorter than it
    built, and the search, restating it as a fraction, refused it as
    'cosine.warmup_fraction must be a number in [0, 0.5], but got 0.6', a parameter the
    user never wrote (every sampled trial of the family failed with it)."""
    spec = ScheduleSpec(family, {"warmup_steps": warmup})
    message = (f"{family}.warmup_steps must be an integer in [0, 50] (at most half the steps "
               f"of this run), but got {warmup}.")
    for use in (spec.curve, spec.relative_to, lambda total: build_scheduler(
            make_optimizer(), spec, total)):
        with pytest.raises(SpecError) as err:
            use(100)
        assert str(err.value) == message


def test_a_warmup_in_steps_of_a_run_of_unknown_length_is_not_checked():
    """An open-ended spec runs for as long as it is stepped: no half to compare with."""
    assert ScheduleSpec("plateau", {"warmup_steps": 10**6}).warmup_steps(None) == 10**6


@pytest.mark.parametrize("total", [0, -5, 2.5, "10", True, float("inf"), float("nan")])
def test_total_steps_must_be_a_positive_integer(total):
    """curve() names a bad total_steps."""
    with pytest.raises(SpecError, match=f"total_steps.*{total!r}"):
        ScheduleSpec("cosine").curve(total)


@pytest.mark.parametrize("total", [0, 2.5])
def test_build_checks_total_steps(total):
    """build_scheduler names a bad total_steps."""
    with pytest.raises(SpecError, match=f"total_steps.*{total!r}"):
        build_scheduler(make_optimizer(), ScheduleSpec("step"), total)


@pytest.mark.parametrize("peak", [0, -1e-3, float("nan"), float("inf"), "abc", True])
def test_peak_lr_must_be_positive(peak):
    """A spec's peak_lr names a bad value."""
    with pytest.raises(SpecError, match=f"peak_lr.*{peak!r}"):
        ScheduleSpec("cosine", peak_lr=peak)


@pytest.mark.parametrize("peak", [0, -0.1])
def test_curve_peak_lr_must_be_positive(peak):
    """curve(peak_lr=...) names a bad value (0 does not silently mean 1)."""
    with pytest.raises(SpecError, match=f"peak_lr.*{peak!r}"):
        ScheduleSpec("cosine").curve(10, peak_lr=peak)


@pytest.mark.parametrize("peak", [0, -0.1])
def test_build_peak_lr_must_be_positive(peak):
    """build_scheduler(peak_lr=...) names a bad value."""
    with pytest.raises(SpecError, match=f"peak_lr.*{peak!r}"):
        build_scheduler(make_optimizer(), ScheduleSpec("cosine"), 10, peak_lr=peak)


def test_lengths_in_fraction_and_steps_together():
    """A length given both ways is ambiguous."""
    with pytest.raises(SpecError, match="t0_fraction or t0_steps"):
        ScheduleSpec("cosine_restarts", {"t0_fraction": 0.1, "t0_steps": 10})


PAST_THE_END = [
    ("wsd", {"decay_steps": 101}, 100,
     "wsd.decay_steps must be an integer in [1, 100] (the steps of this run after warmup), "
     "but got 101."),
    ("wsd", {"decay_steps": 90, "warmup_steps": 20}, 100,
     "wsd.decay_steps must be an integer in [1, 80] (the steps of this run after warmup), "
     "but got 90."),
    ("step", {"step_steps": 500}, 100,
     "step.step_steps must be an integer in [1, 100] (the steps of this run after warmup), "
     "but got 500."),
    ("step", {"step_steps": 95, "warmup_fraction": 0.1}, 100,
     "step.step_steps must be an integer in [1, 90] (the steps of this run after warmup), "
     "but got 95."),
    ("cosine_restarts", {"t0_steps": 500}, 100,
     "cosine_restarts.t0_steps must be an integer in [1, 100] (the steps of this run after "
     "warmup), but got 500."),
    ("cosine_restarts", {"t0_steps": 95, "warmup_steps": 10}, 100,
     "cosine_restarts.t0_steps must be an integer in [1, 90] (the steps of this run after "
     "warmup), but got 95."),
    ("cyclic", {"step_up_steps": 500}, 100,  # cyclic has no warmup: the whole run
     "cyclic.step_up_steps must be an integer in [1, 100] (the steps of this run), but got "
     "500."),
    ("cyclic", {"step_up_steps": 5, "step_down_steps": 101}, 100,
     "cyclic.step_down_steps must be an integer in [1, 100] (the steps of this run), but "
     "got 101."),
]


@pytest.mark.parametrize(("family", "params", "total", "message"), PAST_THE_END,
                         ids=[f"{f}-{'-'.join(p)}" for f, p, _, _ in PAST_THE_END])
def test_a_length_in_steps_past_the_runs_end_is_refused(family, params, total, message):
    """A wsd decay longer than the run was cut to the run without a word (so it decayed
    from the first step after warmup, not as stated), and a step schedule whose first
    drop lies past the end never dropped; both are refused where the run is known, by
    the curve and by build_scheduler before the optimizer is touched."""
    spec = ScheduleSpec(family, params)
    with pytest.raises(SpecError) as err:
        spec.curve(total)
    assert str(err.value) == message
    optimizer = make_optimizer()
    with pytest.raises(SpecError) as err:
        build_scheduler(optimizer, spec, total, peak_lr=0.5)
    assert str(err.value) == message
    assert optimizer.param_groups[0]["lr"] == 0.1 and "initial_lr" not in optimizer.param_groups[0]


@pytest.mark.parametrize(("family", "params"), [("wsd", {"decay_steps": 10_000}),
                                                ("step", {"step_steps": 10_000}),
                                                ("cosine_restarts", {"t0_steps": 10_000}),
                                                ("cyclic", {"step_up_steps": 10_000})])
def test_a_length_in_steps_is_checked_only_once_the_run_is_known(family, params):
    """The spec alone is valid: one spec serves runs of many lengths."""
    assert min(ScheduleSpec(family, params).curve(10_001)) < 1.0
