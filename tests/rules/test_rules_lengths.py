"""Lengths fitted to the run: SGDR's whole cycles, warmup of at least one step, and
OneCycleLR only where the scheduler is stepped every batch.

The behaviour is read off the LR curves (``ScheduleSpec.curve`` and torch's own
schedulers), not restated from the resolving code.
"""

from __future__ import annotations

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

from lradvisor.errors import RulesError
from lradvisor.rules import Recommendation, TaskProfile, advise, load_rules, suggest
from lradvisor.schedules import ScheduleSpec


def family_rec(profile: TaskProfile, family: str) -> Recommendation:
    return next(r for r in suggest(profile) if r.spec.family == family)


def restarts(curve: list[float]) -> list[int]:
    """The steps at which the LR jumps back up (a warm restart)."""
    return [i for i in range(1, len(curve)) if curve[i] > curve[i - 1] * (1 + 1e-9)]


def torch_lrs(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return out


# -- SGDR: whole cycles that end with the run, at the floor --------------------------------
SGDR_RUNS = [dict(epochs=e, steps_per_epoch=s) for e in (20, 25, 50, 100) for s in (None, 40)]


@pytest.mark.parametrize("run", SGDR_RUNS, ids=lambda r: f"{r['epochs']}x{r['steps_per_epoch']}")
def test_sgdr_ends_at_the_floor_with_the_run(run):
    profile = TaskProfile("scratch", arch="cnn", optimizer="sgd", **run)
    sgdr = family_rec(profile, "cosine_restarts")
    total, peak, floor = sgdr.total_steps, sgdr.spec.peak_lr, 1e-6
    curve = sgdr.spec.curve(total)
    # As low as the guide's cosine annealing over the run ends (one scheduler step per
    # epoch cannot come closer), and within 1e-3 of the peak of the floor when it can.
    cosine_end = family_rec(profile, "cosine").spec.curve(total)[-1]
    assert (curve[-1] - floor) / peak <= max(1e-3, (cosine_end - floor) / peak) + 1e-12
    if run["steps_per_epoch"]:
        assert (curve[-1] - floor) / peak <= 1e-3


@pytest.mark.parametrize("epochs", [20, 25, 50, 100])
def test_sgdr_first_cycle_is_near_ten_epochs_and_the_curve_is_torchs(epochs):
    profile = TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=epochs,
                          steps_per_epoch=40)
    sgdr = family_rec(profile, "cosine_restarts")
    curve = sgdr.spec.curve(sgdr.total_steps)
    first = restarts(curve)[0]
    assert 10 / 2 <= first / 40 <= 10 * 2
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=sgdr.spec.peak_lr)
    reference = torch_lrs(CosineAnnealingWarmRestarts(opt, T_0=first, T_mult=2,
                                                      eta_min=1e-6), sgdr.total_steps)
    assert curve == pytest.approx(reference, rel=1e-9, abs=1e-12)
    assert f"the first {first / 40:.3g} epochs, each 2x the one before" in sgdr.rationale


@pytest.mark.parametrize(("epochs", "cycles"), [(30, 2), (70, 3), (150, 4)])
def test_sgdr_counted_in_epochs_restarts_every_ten_where_whole_cycles_fit(epochs, cycles):
    sgdr = family_rec(TaskProfile("scratch", arch="cnn", epochs=epochs), "cosine_restarts")
    curve = sgdr.spec.curve(epochs)
    assert restarts(curve) == [10 * (2 ** i - 1) for i in range(1, cycles)]
    assert sgdr.spec.curve(epochs + 1)[-1] == pytest.approx(sgdr.spec.peak_lr)  # next: restart


@pytest.mark.parametrize("epochs", [1, 5, 20, 25])
def test_sgdr_rationale_says_one_cycle_where_no_more_fit(epochs):
    sgdr = family_rec(TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=epochs),
                      "cosine_restarts")
    assert restarts(sgdr.spec.curve(epochs)) == []
    unit = "epoch" if epochs == 1 else "epochs"
    assert f"one cycle, the whole run ({epochs} {unit})" in sgdr.rationale
    assert "first cycle 10 epochs" not in sgdr.rationale


@pytest.mark.parametrize("profile", [
    TaskProfile("scratch", arch="cnn", total_steps=100),
    TaskProfile("scratch", arch="cnn", total_steps=1000),
    TaskProfile("scratch", arch="cnn", epochs=20, steps_per_epoch=40, batch_size=4096),
], ids=["100-steps", "1000-steps", "20x40-large-batch-warmup"])
def test_sgdr_never_restarts_at_the_end_of_the_run(profile):
    sgdr = family_rec(profile, "cosine_restarts")
    curve = sgdr.spec.curve(profile.steps)
    assert (curve[-1] - 1e-6) / sgdr.spec.peak_lr <= 1e-3
    assert curve[-1] == min(curve[(restarts(curve) or [0])[-1]:])


def test_whole_cycles_in_a_rules_file_are_checked():
    base = ('[[rule]]\nid = "x"\nreason = "y"\nfamily = "cosine_restarts"\n'
            'params = {{ {} }}\n')
    load_rules(base.format('t0_fraction = { epochs = 5, whole_cycles = "t_mult" }'))
    with pytest.raises(RulesError, match=r"whole_cycles names the parameter by which each "
                                         r"cycle grows, one of .*t_mult.*, but got 'gamma'"):
        load_rules(base.format('t0_fraction = { epochs = 5, whole_cycles = "gamma" }'))
    with pytest.raises(RulesError, match=r"whole_cycles is for a \*_fraction length"):
        load_rules(base.format('t0_steps = { epochs = 5, whole_cycles = "t_mult" }'))


def test_a_user_rule_fits_whole_cycles_of_its_own_growth_in_a_run(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[rule]]\nid = "mine"\nreason = "y"\nfamily = "cosine_restarts"\n'
                    'when = { task = "quick" }\nscore = 1000\nparams = { t0_fraction = '
                    '{ epochs = 4, whole_cycles = "t_mult" }, t_mult = 3 }\n')
    best = advise(TaskProfile("quick", epochs=52, steps_per_epoch=10), [path]).best
    curve = best.spec.curve(520)
    assert restarts(curve) == [40, 160]  # 4, 12 and 36 epochs: 52
    assert best.spec.curve(521)[-1] == pytest.approx(best.spec.peak_lr)


# -- warmup: at least one step where a rule asks for it ------------------------------------
def warmup_length(curve: list[float], peak: float) -> int:
    """Steps spent below the peak before first reaching it."""
    return next(i for i, lr in enumerate(curve) if lr >= peak * (1 - 1e-12))


@pytest.mark.parametrize("profile", [
    TaskProfile("pretrain", arch="transformer", optimizer="adamw", epochs=5),
    TaskProfile("pretrain", arch="transformer", optimizer="adamw", total_steps=5),
    TaskProfile("finetune", epochs=3),
    TaskProfile("finetune", total_steps=2),
    TaskProfile("scratch", arch="cnn", total_steps=7, batch_size=4096),
], ids=["pretrain-5-epochs", "pretrain-5-steps", "finetune-3-epochs", "finetune-2-steps",
        "large-batch-7-steps"])
def test_warmup_asked_for_lasts_at_least_one_step(profile):
    total = profile.steps
    asked = 0
    for rec in suggest(profile):
        if "warmup" not in rec.rationale.lower() or rec.spec.family == "onecycle":
            continue
        asked += 1
        curve = rec.spec.curve(total)
        # The guide: warmup_epochs = max(1, int(0.1 * total_epochs)); 5% for large batches.
        share = 0.05 if profile.batch_size else 0.1
        assert warmup_length(curve, rec.spec.peak_lr) == max(1, int(share * total)), rec
        unit = profile.interval  # a run counted in epochs alone: its steps are epochs
        assert f"rounds to no {unit}, so warmup lasts 1 {unit}" in rec.rationale
    assert asked >= 2


def test_warmup_is_unchanged_where_it_already_has_steps():
    best = advise(TaskProfile("pretrain", arch="transformer", optimizer="adamw",
                              epochs=3, steps_per_epoch=288)).best
    assert best.spec.params["warmup_fraction"] == 0.1
    assert warmup_length(best.spec.curve(864), best.spec.peak_lr) == 86
    assert "rounds to no step" not in best.rationale


def test_a_one_step_run_gets_no_warmup_step():
    best = advise(TaskProfile("finetune", total_steps=1)).best
    assert "warmup_steps" not in best.spec.params
    assert best.spec.curve(1) == [best.spec.peak_lr]


def test_the_spec_itself_keeps_its_fraction():  # the search's sampled specs: unchanged
    assert ScheduleSpec("cosine", {"warmup_fraction": 0.1}).warmup_steps(5) == 0


# -- OneCycleLR: stepped every batch --------------------------------------------------------
@pytest.mark.parametrize("profile", [
    TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=25),
    TaskProfile("scratch", arch="mlp", epochs=25),
    TaskProfile("quick", epochs=10),
], ids=["scratch-cnn", "scratch-mlp", "quick"])
def test_onecycle_counted_in_epochs_ranks_last_of_the_guides_and_says_why(profile):
    recs = suggest(profile)
    families = [r.spec.family for r in recs]
    onecycle = recs[families.index("onecycle")]
    guides = [r for r in recs if not r.rules[0].startswith("any-") and r is not onecycle]
    assert guides and all(r.score > onecycle.score for r in guides)
    assert families.index("onecycle") == len(guides)
    assert "every batch, not every epoch" in onecycle.rationale
    assert "steps per epoch" in onecycle.rationale


def test_onecycle_counted_in_epochs_is_not_among_the_top_three_for_a_cnn():
    recs = suggest(TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=25))
    assert "onecycle" not in [r.spec.family for r in recs[:3]]


@pytest.mark.parametrize("profile", [
    TaskProfile("scratch", arch="cnn", optimizer="sgd", epochs=25, steps_per_epoch=40),
    TaskProfile("scratch", arch="cnn", optimizer="sgd", total_steps=1000),
], ids=["epochs-x-steps", "total-steps"])
def test_onecycle_stepped_every_batch_keeps_its_place(profile):
    recs = suggest(profile)
    assert [r.spec.family for r in recs[:2]] == ["cosine", "onecycle"]
    assert "every batch" not in recs[1].rationale
