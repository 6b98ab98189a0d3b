"""The search space: derived from the rules' prior, define-by-run, replayable."""

from __future__ import annotations

import math
import warnings

import optuna
import pytest

from lradvisor.errors import SpecError, StudyError
from lradvisor.rules import TaskProfile, advise
from lradvisor.schedules import ScheduleSpec, get_family
from lradvisor.search import SearchSpace, make_sampler
from tests.conftest import WSD_STEPS_RULE

PRIOR = advise(TaskProfile("scratch", total_steps=100)).prior


def sample_many(space: SearchSpace, n: int = 30, sampler: str = "random"):
    study = optuna.create_study(sampler=make_sampler(sampler, seed=1))
    specs = []
    for _ in range(n):
        trial = study.ask()
        specs.append(space.sample(trial))
        study.tell(trial, 1.0)
    return study, specs


def test_space_comes_from_the_prior():
    space = SearchSpace.from_prior(PRIOR)
    assert space.names == tuple(f.family for f in PRIOR.families)
    assert (space.lr_low, space.lr_high) == (PRIOR.lr_low, PRIOR.lr_high)
    onecycle = {d.name: d for d in space.family("onecycle").dims}
    assert (onecycle["pct_start"].low, onecycle["pct_start"].high) == PRIOR.families[1].ranges[
        "pct_start"]  # narrowed by the prior, not the Param's own (0.1, 0.5)
    assert "warmup_fraction" not in {d.name for d in space.family("cosine").dims}  # fixed


def test_a_proxy_trains_at_the_full_runs_peak_times_fraction_to_the_minus_horizon():
    sgd = SearchSpace.from_prior(advise(TaskProfile("scratch", optimizer="sgd",
                                                    total_steps=100)).prior)
    adam = SearchSpace.from_prior(advise(TaskProfile("scratch", optimizer="adam",
                                                     total_steps=100)).prior)
    assert (sgd.horizon, adam.horizon) == (0.5, None)
    assert sgd.to_dict()["horizon"] == 0.5
    spec = ScheduleSpec.create("cosine", peak_lr=0.05)
    assert sgd.proxy_spec(spec, 0.25) == ScheduleSpec.create("cosine", peak_lr=0.1)
    assert sgd.proxy_spec(spec, 0.1).peak_lr == pytest.approx(0.05 * 10 ** 0.5)
    assert sgd.proxy_spec(spec, 1.0) is spec and adam.proxy_spec(spec, 0.25) is spec
    assert sgd.proxy_spec(ScheduleSpec.create("cosine"), 0.25).peak_lr is None


def test_samples_are_valid_specs_within_their_ranges():
    space = SearchSpace.from_prior(PRIOR)
    study, specs = sample_many(space)
    assert {s.family for s in specs} <= set(space.names)
    for spec, trial in zip(specs, study.trials, strict=False):
        assert PRIOR.lr_low <= spec.peak_lr <= PRIOR.lr_high
        # define-by-run: only the chosen family's parameters are in the trial
        assert all(k in ("family", "peak_lr") or k.startswith(spec.family + ".")
                   for k in trial.params)
        for dim in space.family(spec.family).dims:
            assert dim.contains(spec.params[dim.name])


def test_families_restrict_and_an_unprioritised_family_uses_its_param_ranges():
    space = SearchSpace.from_prior(PRIOR, ["wsd", "cosine"])
    _, specs = sample_many(space, 20)
    assert {s.family for s in specs} == {"wsd", "cosine"}
    wsd = {d.name: d for d in space.family("wsd").dims}
    params = {p.name: p for p in get_family("wsd").all_params}
    assert (wsd["decay_fraction"].low, wsd["decay_fraction"].high) == params[
        "decay_fraction"].search
    with pytest.raises(SpecError, match="unknown schedule family 'cosin'"):
        SearchSpace.from_prior(PRIOR, ["cosin"])
    with pytest.raises(StudyError, match="not in this search"):
        space.family("onecycle")


def test_fixed_spec_replays_through_the_trial_unchanged():
    space = SearchSpace.from_prior(PRIOR)
    spec = ScheduleSpec.create("onecycle", pct_start=0.25, div_factor=10.0, peak_lr=0.01)
    study = optuna.create_study()
    study.enqueue_trial(space.params_of(spec))
    trial = study.ask()
    assert space.sample(trial, spec) == spec
    assert trial.params["onecycle.pct_start"] == 0.25 and trial.params["peak_lr"] == 0.01


def test_values_outside_the_space_are_not_recorded():
    space = SearchSpace.from_prior(PRIOR)
    spec = ScheduleSpec.create("cosine", min_lr_ratio=0.0, peak_lr=0.5)  # 0 on a log range
    assert space.params_of(spec) == {"family": "cosine"}


# A rules file stating lengths in steps, as users who think in steps write them.
STEPS_RULES = WSD_STEPS_RULE + """
[[rule]]
id = "mine-step"
when = { task = "pretrain" }
family = "step"
params = { step_steps = 60, warmup_steps = 20 }
score = 190
reason = "Drop every 60 steps after 20 of warmup."
"""


def test_a_length_a_rule_gives_in_steps_is_sampled_as_the_fraction_the_rules_trial_has(
        tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(STEPS_RULES)
    advice = advise(TaskProfile("pretrain", arch="transformer", optimizer="adamw",
                                total_steps=200), [str(rules)])
    space = SearchSpace.from_prior(advice.prior, ["wsd", "step"], total_steps=200)
    assert "decay_fraction" not in {d.name for d in space.family("wsd").dims}
    assert "step_fraction" not in {d.name for d in space.family("step").dims}
    _, specs = sample_many(space, 20)  # raised "give decay_fraction or decay_steps, not both"
    by_family = {r.spec.family: r.spec.relative_to(200) for r in advice.recommendations}
    assert {s.family for s in specs} == {"wsd", "step"}
    for spec in specs:
        assert not any(k.endswith("_steps") for k in spec.params)  # proxies keep the shape
        rules_spec = by_family[spec.family]
        for name in ("decay_fraction", "step_fraction", "warmup_fraction"):
            assert spec.params.get(name) == rules_spec.params.get(name)
    wsd = next(s for s in specs if s.family == "wsd")
    assert wsd.params["decay_fraction"] == pytest.approx(30 / 180)  # after 10% warmup
    step = next(s for s in specs if s.family == "step")
    assert (step.params["warmup_fraction"], step.params["step_fraction"]) == (0.1, 60 / 180)


def test_bad_lr_range_is_refused():
    with pytest.raises(StudyError, match="peak LR range"):
        SearchSpace.build(["cosine"], lr_low=0.1, lr_high=0.01)


class _CountingStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage on SQLite, counting its reads of a study's trials."""

    reads = 0

    def _get_trials(self, *args, **kwargs):
        type(self).reads += 1
        return super()._get_trials(*args, **kwargs)


def test_tpe_sees_first_rung_trials_only_and_reads_the_study_once_per_trial(tmp_path):
    space = SearchSpace.from_prior(PRIOR)
    ours = optuna.create_study(storage=_CountingStorage(f"sqlite:///{tmp_path}/a.db"),
                               sampler=make_sampler("tpe", seed=1, startup=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plain = optuna.create_study(sampler=optuna.samplers.TPESampler(
            seed=1, multivariate=True, group=True, n_startup_trials=4))
    reads = []
    for i in range(16):
        a, b = ours.ask(), plain.ask()
        before = _CountingStorage.reads
        spec = space.sample(a)
        reads.append(_CountingStorage.reads - before)
        assert space.sample(b) == spec  # the same draws as a study without longer rungs
        value = abs(math.log10(spec.peak_lr) + 2) + 0.1 * len(spec.family)
        ours.tell(a, value)
        plain.tell(b, value)
        if i % 3 == 0:  # a promoted run: far better (it ran longer), but not first-rung
            ours.add_trial(optuna.trial.create_trial(
                params=a.params, distributions=a.distributions, value=value - 10,
                user_attrs={"rung": 1}))
    assert max(reads[4:]) == 1  # TPE's several groups read the study once, not per group


class _HeldValuesTPE(optuna.samplers.TPESampler):
    """Optuna's TPE, a running trial counted by the constant liar with the values it
    holds; Optuna's own also counts the values it drew for other families' groups."""

    def _get_params(self, trial, study):
        return trial.params


def test_tpe_draws_what_optunas_own_tpe_draws_over_a_long_mixed_study():
    """make_sampler's TPE shares one trial split among its parameter groups, adds each
    finished trial to the grouped space once and samples only the groups a trial asks
    for: the draws must stay Optuna's."""
    space = SearchSpace.from_prior(PRIOR)
    sampler = make_sampler("tpe", seed=7, startup=5)
    ours = optuna.create_study(sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plain = optuna.create_study(sampler=_HeldValuesTPE(
            seed=7, multivariate=True, group=True, n_startup_trials=5))
    tpe, drawn = sampler.base, []
    tpe._sample = lambda *args, _own=tpe._sample: drawn.append(args[2]) or _own(*args)
    left_running = []
    families = set()
    modelled = 0
    for i in range(60):
        a, b = ours.ask(), plain.ask()
        del drawn[:]
        spec = space.sample(a)
        assert space.sample(b) == spec, f"trial {i}"
        families.add(spec.family)
        if drawn:  # modelled (after the random start): the groups of the values this
            # trial holds, and no other family's
            assert "family" in drawn[0], f"trial {i}: {drawn}"
            assert {k for group in drawn for k in group} == set(a.params), f"trial {i}"
            modelled += 1
        value = abs(math.log10(spec.peak_lr) + 2.5) + 0.05 * len(spec.family)
        if i % 4 == 1:  # pruned after a few reports: the split ranks them apart
            for study, trial in ((ours, a), (plain, b)):
                for step in range(3):
                    trial.report(value + 1.0 / (step + 1), step * 10)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif i % 9 == 2:
            ours.tell(a, state=optuna.trial.TrialState.FAIL)
            plain.tell(b, state=optuna.trial.TrialState.FAIL)
        elif i % 13 == 3:  # left running for a while: the constant liar sees it
            left_running.append((a, b, value))
        else:
            ours.tell(a, value)
            plain.tell(b, value)
        if len(left_running) > 1:
            a0, b0, v0 = left_running.pop(0)
            ours.tell(a0, v0)
            plain.tell(b0, v0)
    assert len(families) >= 3  # the groups of several families were sampled
    assert modelled >= 50
