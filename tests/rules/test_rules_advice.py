"""advise(): the guide's decision table, scaled to the run, cross-checked against torch and HF.

Each scenario of the selection guide gives the guide's schedule first, with the guide's
numbers for this run; the LR curves are compared with torch's and transformers' own
schedulers built from the guide's numbers, not with our own formulas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, StepLR

from lradvisor.errors import ProfileError, RulesError
from lradvisor.rules import (
    ARCHS,
    TASKS,
    Advice,
    SearchPrior,
    TaskProfile,
    advise,
    shipped_rules,
    suggest,
)
from lradvisor.schedules import ScheduleSpec, build_scheduler


def make_opt(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def lrs(scheduler, optimizer, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def ours(spec: ScheduleSpec, steps: int) -> list[float]:
    opt = make_opt()
    return lrs(build_scheduler(opt, spec, steps), opt, steps)


def by_family(advice: Advice) -> dict[str, ScheduleSpec]:
    return {r.spec.family: r.spec for r in advice.recommendations}


# -- the guide's decision table -----------------------------------------------------------
def test_scratch_cnn_gives_cosine_to_1e6_like_torch_cosine_annealing():
    advice = advise(TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=30,
                                steps_per_epoch=10))
    best = advice.best
    assert (best.spec.family, best.total_steps, best.spec.peak_lr) == ("cosine", 300, 0.1)
    assert best.rules == ("scratch-cnn-cosine", "lr-sgd")
    opt = make_opt(0.1)
    reference = lrs(CosineAnnealingLR(opt, T_max=300, eta_min=1e-6), opt, 300)
    assert ours(best.spec, 300) == pytest.approx(reference, rel=1e-9, abs=1e-15)


def test_scratch_cnn_second_is_onecycle_pct_start_0_3_like_torch():
    advice = advise(TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=30,
                                steps_per_epoch=10))
    second = advice.recommendations[1].spec
    assert (second.family, second.params["pct_start"], second.params["anneal_strategy"]) == (
        "onecycle", 0.3, "cos")
    opt = make_opt(0.1)
    reference = lrs(OneCycleLR(opt, max_lr=0.1, epochs=30, steps_per_epoch=10,
                               pct_start=0.3, anneal_strategy="cos"), opt, 300)
    assert ours(second, 300) == pytest.approx(reference, rel=1e-9)


def test_scratch_cnn_sgdr_first_cycle_is_ten_epochs_t_mult_2():
    specs = by_family(advise(TaskProfile("scratch", arch="cnn", epochs=30, steps_per_epoch=100)))
    sgdr = specs["cosine_restarts"]
    assert sgdr.params["t0_fraction"] == pytest.approx(10 / 30)
    assert sgdr.params["t_mult"] == 2
    assert sgdr.params["min_lr_ratio"] * sgdr.peak_lr == pytest.approx(1e-6)


def test_sgdr_first_cycle_is_capped_at_the_run_and_the_rationale_says_so():
    advice = advise(TaskProfile("scratch", arch="cnn", epochs=5, steps_per_epoch=10))
    sgdr = next(r for r in advice.recommendations if r.spec.family == "cosine_restarts")
    assert sgdr.spec.params["t0_fraction"] == 1.0
    assert "one cycle, the whole run (5 epochs)" in sgdr.rationale
    assert any("1 whole cycle(s), the first 50 of 50 steps" in line for line in advice.trace)


def test_transformer_pretraining_is_warmup_10pct_then_cosine_like_hf():
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    advice = advise(TaskProfile("pretrain", arch="transformer", optimizer="adamw",
                                total_steps=2000))
    best = advice.best.spec
    assert (best.family, best.params["warmup_fraction"], best.peak_lr) == ("cosine", 0.1, 3e-4)
    assert best.warmup_steps(2000) == 200
    opt = make_opt(3e-4)
    hf = get_cosine_with_min_lr_schedule_with_warmup(opt, 200, 2000, min_lr=1e-6)
    assert ours(best, 2000) == pytest.approx(lrs(hf, opt, 2000), rel=1e-9, abs=1e-15)
    assert advice.prior.lr_low == 1e-4 and advice.prior.lr_high == 1e-3


def test_finetuning_is_warmup_then_linear_decay_like_hf_then_plateau():
    from transformers.optimization import get_linear_schedule_with_warmup

    advice = advise(TaskProfile("finetune", arch="transformer", optimizer="adamw",
                                total_steps=1000))
    best = advice.best.spec
    assert (best.family, best.peak_lr) == ("linear", 3e-5)
    opt = make_opt(3e-5)
    hf = get_linear_schedule_with_warmup(opt, num_warmup_steps=100, num_training_steps=1000)
    assert ours(best, 1000) == pytest.approx(lrs(hf, opt, 1000), rel=1e-9, abs=1e-15)
    second = advice.recommendations[1].spec
    assert second.family == "plateau"
    assert (second.params["factor"], second.params["patience"]) == (0.5, 10)


def test_plateau_has_the_guides_numbers_in_torch():
    advice = advise(TaskProfile("finetune", optimizer="sgd", epochs=40, steps_per_epoch=10))
    plateau = by_family(advice)["plateau"]
    opt = make_opt()
    sched = build_scheduler(opt, plateau, 400)
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (sched.mode, sched.factor, sched.patience) == ("min", 0.5, 10)
    assert sched.min_lrs == pytest.approx([1e-6])


@pytest.mark.parametrize("task", ["unknown-length", "scratch", "finetune", "pretrain", "quick"])
def test_unknown_length_gives_plateau_then_wsd_and_says_so(task):
    advice = advise(TaskProfile(task, arch="cnn"))
    families = [r.spec.family for r in advice.recommendations]
    assert families[:2] == ["plateau", "wsd"]
    assert set(families) <= {"plateau", "wsd", "constant"}
    assert all(r.total_steps is None for r in advice.recommendations)
    assert advice.best.rules[0] == "unknown-length-plateau"
    assert any(line.startswith("length unknown") for line in advice.trace)
    assert any(line.startswith("wsd (rule unknown-length-wsd) needs the run's end")
               for line in advice.trace)


def test_unknown_length_plateau_builds_with_no_length():
    advice = advise(TaskProfile("unknown-length", arch="transformer", steps_per_epoch=250))
    plateau = advice.best.spec
    assert plateau.params["warmup_steps"] == 250  # one epoch of warmup, in steps
    opt = make_opt()
    sched = build_scheduler(opt, plateau, None)
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_quick_is_steplr_gamma_0_1_at_each_third_like_torch():
    advice = advise(TaskProfile("quick", optimizer="sgd", epochs=9, steps_per_epoch=100))
    best = advice.best
    assert (best.spec.family, best.spec.params["gamma"]) == ("step", 0.1)
    opt = make_opt(0.1)
    reference = lrs(StepLR(opt, step_size=300, gamma=0.1), opt, 900)
    assert ours(best.spec, 900) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize(
    ("profile", "peak", "low", "high", "rule"),
    [
        (TaskProfile("scratch", optimizer="sgd"), 0.1, 0.01, 0.5, "lr-sgd"),
        (TaskProfile("pretrain", arch="transformer", optimizer="adam"), 3e-4, 1e-4, 1e-3,
         "lr-adam-pretrain"),
        (TaskProfile("finetune", arch="transformer", optimizer="adamw"), 3e-5, 1e-5, 1e-4,
         "lr-adam-finetune-transformer"),
        (TaskProfile("finetune", arch="cnn", optimizer="sgd"), 1e-2, 1e-3, 1e-1,
         "lr-sgd-finetune"),
        (TaskProfile("finetune"), 1e-4, 1e-5, 1e-3, "lr-finetune"),
        (TaskProfile("quick"), 1e-3, 1e-5, 1e-1, "lr-default"),
    ],
)
def test_peak_lr_by_optimizer_and_task(profile, peak, low, high, rule):
    advice = advise(profile)
    assert (advice.prior.lr_default, advice.prior.lr_low, advice.prior.lr_high) == (
        peak, low, high)
    assert all(r.spec.peak_lr == peak and r.rules[-1] == rule for r in advice.recommendations)


@pytest.mark.parametrize(
    ("params", "peak", "low", "high"),
    [
        (350_000_000, 3e-4, 1e-4, 1e-3),  # the reference size: as written
        (125_000_000, 4.1e-4, 1.4e-4, 1.4e-3),  # GPT-3 Small: 6e-4 there
        (175_000_000_000, 4.6e-5, 1.5e-5, 1.5e-4),  # GPT-3 175B: 6e-5 there
        (65_856, 3.9e-3, 1.3e-3, 1.3e-2),  # the charlm workload
    ],
)
def test_transformer_pretraining_peak_lr_scales_with_model_size(params, peak, low, high):
    profile = TaskProfile("pretrain", arch="transformer", optimizer="adamw",
                          total_steps=1000, model_params=params)
    advice = advise(profile)
    assert (advice.prior.lr_default, advice.prior.lr_low, advice.prior.lr_high) == (
        peak, low, high)
    assert {r.spec.peak_lr for r in advice.recommendations} == {peak}
    assert advice.best.rules[-1] == "lr-adam-pretrain-transformer-size"
    assert any("model_params" in line and "scales its peak LR" in line
               for line in advice.trace)
    if peak != 3e-4:
        assert f"peak LR {peak:g}." in advice.best.rationale


def test_model_size_scales_only_transformer_pretraining():
    for profile in (
        TaskProfile("scratch", arch="cnn", optimizer="sgd", model_params=10_000),
        TaskProfile("finetune", arch="transformer", optimizer="adamw", model_params=10_000),
        TaskProfile("pretrain", arch="transformer", optimizer="sgd", model_params=10_000),
    ):
        unscaled = advise(replace(profile, model_params=None)).prior
        assert advise(profile).prior == unscaled, profile


def test_a_user_rule_can_scale_the_peak_by_batch_size():
    text = """
[[lr]]
id = "linear-scaling"
when = { optimizer = "sgd", batch_size = { min = 1 } }
peak = 0.1
range = [0.01, 0.5]
scale = { field = "batch_size", ref = 256, exponent = 1 }
reason = "Goyal et al.: 0.1 at batch 256, linear in the batch."
"""
    profile = TaskProfile("scratch", arch="cnn", optimizer="sgd", total_steps=100,
                          batch_size=1024)
    advice = advise(profile, [text])
    assert (advice.prior.lr_default, advice.prior.lr_low, advice.prior.lr_high) == (
        0.4, 0.04, 2.0)


def test_sgd_peak_moves_with_the_run_length_by_the_horizon_rule():
    sgd = advise(TaskProfile("scratch", arch="cnn", optimizer="sgd", total_steps=800))
    assert sgd.prior.horizon == 0.5 and sgd.prior.horizon_reason.startswith("horizon-sgd: ")
    assert any("horizon rule horizon-sgd fired" in line for line in sgd.trace)
    finetune = advise(TaskProfile("finetune", optimizer="sgd", total_steps=800))
    assert finetune.prior.horizon == 0.5
    # Adam: no shipped rule (the measured exponents disagree in sign); a fixed peak: none.
    assert advise(TaskProfile("scratch", optimizer="adam", total_steps=800)).prior.horizon is None
    fixed = advise(TaskProfile("scratch", optimizer="sgd", total_steps=800, peak_lr=0.05))
    assert fixed.prior.horizon is None and fixed.prior.horizon_reason is None


def test_a_user_rule_sets_or_switches_off_the_horizon():
    profile = TaskProfile("scratch", arch="cnn", optimizer="adamw", total_steps=800)
    mine = '[[horizon]]\nid = "adam-mine"\nwhen = { optimizer = "adamw" }\nexponent = 0.3\n' \
           'reason = "Measured on my runs."\n'
    prior = advise(profile, [mine]).prior
    assert (prior.horizon, prior.horizon_reason) == (0.3, "adam-mine: Measured on my runs.")
    off = '[[horizon]]\nid = "horizon-sgd"\nenabled = false\n'
    sgd = replace(profile, optimizer="sgd")
    assert advise(sgd, [off]).prior.horizon is None


def test_a_prior_stored_before_the_horizon_reads_as_none():
    data = advise(TaskProfile("scratch", optimizer="sgd", total_steps=800)).prior.to_dict()
    old = {k: v for k, v in data.items() if not k.startswith("horizon")}
    assert SearchPrior.from_dict(old).horizon is None
    assert SearchPrior.from_dict(data).horizon == 0.5


def test_fixed_peak_lr_is_kept_and_not_searched():
    advice = advise(TaskProfile("finetune", optimizer="adamw", total_steps=500, peak_lr=5e-5))
    assert {r.spec.peak_lr for r in advice.recommendations} == {5e-5}
    assert (advice.prior.lr_low, advice.prior.lr_high) == (5e-5, 5e-5)
    assert advice.best.rationale.endswith("Peak LR 5e-05, as given.")


def test_large_batch_adds_warmup_where_the_rule_has_none():
    advice = advise(TaskProfile("scratch", arch="cnn", total_steps=1000, batch_size=4096))
    best = advice.best
    assert best.spec.params["warmup_fraction"] == 0.05
    assert "large-batch-warmup" in best.rules and "Goyal" in best.rationale
    onecycle = by_family(advice)["onecycle"]  # OneCycle has its own ramp: no warmup added
    assert "warmup_fraction" not in onecycle.params


def test_rules_conclude_at_least_three_for_every_task_and_arch():
    for task in TASKS:
        for arch in (*ARCHS, None):
            lengths = [None] if task == "unknown-length" else [None, 1000]
            for steps in lengths:
                recs = suggest(TaskProfile(task, arch=arch, total_steps=steps))
                assert len(recs) >= 3, (task, arch, steps)
                assert len({r.spec.family for r in recs}) == len(recs)


def test_same_profile_same_advice():
    profile = TaskProfile("finetune", arch="transformer", optimizer="adamw", total_steps=1000,
                          batch_size=2048)
    assert advise(profile).to_dict() == advise(profile).to_dict()


def test_advice_dict_shape_and_prior_round_trip():
    advice = advise({"task": "scratch", "arch": "cnn", "epochs": 30, "steps_per_epoch": 100})
    data = json.loads(json.dumps(advice.to_dict()))
    assert set(data) == {"family", "params", "peak_lr", "total_steps", "rationale", "rules",
                         "score", "evidence", "alternatives", "prior", "trace", "profile"}
    assert data["family"] == "cosine" and data["profile"]["total_steps"] == 3000
    assert [a["family"] for a in data["alternatives"]][:2] == ["onecycle", "cosine_restarts"]
    assert SearchPrior.from_dict(data["prior"]) == advice.prior
    assert sum(f.weight for f in advice.prior.families) == pytest.approx(1.0, abs=1e-5)


def test_prior_ranges_hold_the_recommended_values():
    advice = advise(TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=30,
                                steps_per_epoch=100))
    for rec, prior in zip(advice.recommendations, advice.prior.families, strict=True):
        assert prior.family == rec.spec.family
        for name, value in rec.spec.params.items():
            if name in prior.ranges:
                rng = prior.ranges[name]
                inside = value in rng if isinstance(value, (str, bool)) else (
                    rng[0] <= value <= rng[1])
                assert inside, (rec.spec.family, name, value, rng)
            else:
                assert prior.fixed[name] == value
    onecycle = advice.prior.families[1]
    assert onecycle.ranges["pct_start"] == (0.2, 0.4)  # the rule's prior, not the default
    # the rule's floor 1e-6 / 0.1 lies below the family's search range: widened to hold it
    assert advice.prior.families[0].ranges["min_lr_ratio"] == (1e-5, 0.1)


# -- user rules files ---------------------------------------------------------------------
def test_user_rules_file_adds_and_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("""
[[rule]]
id = "finetune-warmup-linear"
when = { task = "finetune", length = "known" }
family = "linear"
params = { warmup_fraction = 0.06 }
score = 90
reason = "Our fine-tuning recipe: 6% warmup."

[[rule]]
id = "my-wsd"
when = { task = "finetune" }
family = "wsd"
params = { decay_fraction = 0.1 }
score = 95
reason = "We like WSD."

[[lr]]
id = "lr-finetune"
when = { task = "finetune" }
peak = 2e-5
range = [1e-5, 5e-5]
reason = "Ours."
""")
    advice = advise(TaskProfile("finetune", total_steps=1000), [path])
    top, second = advice.recommendations[:2]
    assert (top.spec.family, top.rules[0], top.spec.params["decay_fraction"]) == (
        "wsd", "my-wsd", 0.1)
    assert (second.rules[0], second.spec.params["warmup_fraction"]) == (
        "finetune-warmup-linear", 0.06)
    assert top.spec.peak_lr == 2e-5 and advice.prior.lr_high == 5e-5
    assert f"rule finetune-warmup-linear from {path} replaces the one in guide.toml." in (
        advice.trace)


def test_bad_user_rules_file_raises(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[rule]]\nid = "x"\nreason = "y"\nfamily = "cosine"\nwhen = { size = 1 }\n')
    with pytest.raises(RulesError, match=r"bad.toml: \[\[rule\]\] #1 \('x'\): unknown field "
                                         r"'size' in when"):
        advise(TaskProfile("quick", total_steps=10), [path])


def test_a_rule_giving_an_impossible_schedule_is_named(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[rule]]\nid = "late"\nreason = "y"\nfamily = "cosine"\nscore = 1000\n'
                    'params = { warmup_steps = { epochs = 3 } }\n')
    with pytest.raises(RulesError, match=r"rule 'late' gives an invalid schedule"):
        advise(TaskProfile("quick", epochs=2, steps_per_epoch=10), [path])


def test_no_rule_at_all_is_an_error(tmp_path):
    path = tmp_path / "off.toml"
    off = [r.id for r in shipped_rules() if r.kind == "rule"]
    path.write_text("".join(f'[[rule]]\nid = "{i}"\nenabled = false\n' for i in off))
    with pytest.raises(RulesError, match=r"no rule recommends a schedule for task=quick"):
        advise(TaskProfile("quick", total_steps=10), [path])


def test_profile_dict_errors_surface():
    with pytest.raises(ProfileError, match=r"unknown arch 'vit'"):
        advise({"task": "finetune", "arch": "vit"})


# -- every shipped rule gives a schedule torch can run -------------------------------------
def profile_for(when) -> TaskProfile:
    """A profile meeting ``when``: first listed value, range minimum, length 10 x 100."""
    fields: dict = {}
    for name, cond in when.items():
        value = cond[0] if isinstance(cond, tuple) else cond
        fields[name] = value.get("min", value.get("max")) if hasattr(value, "get") else value
    known = fields.pop("length", "known") == "known"
    per_epoch = fields.pop("interval", "step") == "epoch"
    batch = fields.pop("batch", None)
    if batch is not None:
        fields["batch_size"] = 4096 if batch == "large" else 32
    fields.setdefault("task", "scratch" if known else "unknown-length")
    if known:
        fields.setdefault("epochs", 10)
        if not per_epoch:
            fields.setdefault("steps_per_epoch", 100)
    return TaskProfile(**fields)


@pytest.mark.parametrize("rule", [r for r in shipped_rules() if r.kind == "rule"],
                         ids=lambda r: r.id)
def test_every_shipped_rule_builds_a_torch_scheduler(rule, tmp_path):
    others = [r.id for r in shipped_rules() if r.kind == "rule" and r.family == rule.family
              and r.id != rule.id]
    path = tmp_path / "only.toml"
    path.write_text("".join(f'[[rule]]\nid = "{i}"\nenabled = false\n' for i in others))
    profile = profile_for(rule.when)
    recs = [r for r in suggest(profile, [path]) if r.rules[0] == rule.id]
    assert len(recs) == 1
    spec = recs[0].spec
    assert ScheduleSpec.from_json(spec.to_json()) == spec
    steps = profile.steps or 500
    opt = make_opt(spec.peak_lr)
    sched = build_scheduler(opt, spec, steps)
    seen = []
    for _ in range(steps):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(1.0)
        else:
            sched.step()
    assert all(0 <= lr <= spec.peak_lr * (1 + 1e-9) for lr in seen)
    assert max(seen) == pytest.approx(spec.peak_lr, rel=1e-2)


# -- light import -------------------------------------------------------------------------
def test_importing_and_advising_loads_no_heavy_package():
    code = (
        "import sys, lradvisor.rules as r\n"
        "r.advise(r.TaskProfile('scratch', arch='cnn', epochs=3, steps_per_epoch=10))\n"
        "heavy = ('torch', 'optuna', 'numpy', 'sklearn', 'matplotlib')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"
