"""Specs survive JSON: every family's default, and lengths given in steps."""

from __future__ import annotations

import pytest

from lradvisor.schedules import FAMILY_NAMES, ScheduleSpec, get_family


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_default_spec_round_trips(family):
    """Default spec -> JSON -> spec is equal, and its defaults validate."""
    spec = ScheduleSpec(family, peak_lr=1e-3)
    again = ScheduleSpec.from_json(spec.to_json())
    assert again == spec
    assert again.to_json() == spec.to_json()


STEPS_FORMS = [
    ("step", {"step_steps": 30, "warmup_steps": 5}),
    ("cosine_restarts", {"t0_steps": 10}),
    ("inverse_sqrt", {"timescale_steps": 500}),
    ("cyclic", {"step_up_steps": 20, "step_down_steps": 40}),
    ("wsd", {"decay_steps": 100, "warmup_steps": 10}),
    ("plateau", {"warmup_steps": 3}),
]


@pytest.mark.parametrize(("family", "params"), STEPS_FORMS, ids=[f for f, _ in STEPS_FORMS])
def test_steps_form_round_trips(family, params):
    """A length given as ``<stem>_steps`` stays in steps through JSON."""
    spec = ScheduleSpec(family, params)
    again = ScheduleSpec.from_json(spec.to_json())
    assert again == spec
    for name, value in params.items():
        assert again.params[name] == value
        assert name.replace("_steps", "_fraction") not in again.params


def test_every_family_declares_search_ranges_that_validate():
    """Each searched parameter's range ends and its default are valid values."""
    for family in FAMILY_NAMES:
        fam = get_family(family)
        for p in fam.all_params:
            if p.search is None:
                continue
            values = p.search if p.kind in ("str", "bool") else (p.search[0], p.search[-1])
            for value in values:
                assert ScheduleSpec(family, {p.name: value}).params[p.name] == value


RELATIVE_CASES = [
    *STEPS_FORMS,
    ("wsd", {"decay_steps": 30, "warmup_fraction": 0.1, "decay_shape": "linear"}),
    ("cosine_restarts", {"t0_steps": 12, "warmup_steps": 8}),
    ("inverse_sqrt", {"timescale_steps": 20, "warmup_steps": 10}),
]


@pytest.mark.parametrize(("family", "params"), RELATIVE_CASES,
                         ids=[f"{f}-{'-'.join(p)}" for f, p in RELATIVE_CASES])
def test_relative_to_keeps_the_schedule_at_its_own_length(family, params):
    """Lengths restated as fractions give the same LR at every step of the run they came
    from: warmup is a part of the run, the other lengths a part of what follows it."""
    spec = ScheduleSpec(family, params)
    relative = spec.relative_to(200)
    assert not any(k.endswith("_steps") for k in relative.params)
    assert relative.curve(200) == pytest.approx(spec.curve(200), abs=1e-12)


@pytest.mark.parametrize(("family", "name"), [
    ("step", "gamma"), ("cosine", "min_lr_ratio"), ("plateau", "mode"),
    ("wsd", "decay_shape"), ("onecycle", "three_phase"), ("onecycle", "anneal_strategy"),
])
def test_a_null_parameter_takes_its_default(family, name):
    """``null`` in a spec's JSON is a parameter not given: the spec equals the default one
    (before, ``step`` with ``gamma: null`` validated and failed when built)."""
    spec = ScheduleSpec.from_json(f'{{"family": "{family}", "params": {{"{name}": null}}}}')
    assert spec == ScheduleSpec(family)
    default = next(p.default for p in get_family(family).all_params if p.name == name)
    assert spec.params[name] == default
