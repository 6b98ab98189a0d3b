"""PlateauPruner on real in-memory Optuna studies; make_pruner's table; bad settings."""

from __future__ import annotations

import math
import random
import statistics

import numpy as np
import optuna
import pytest
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from lradvisor.errors import PrunerError
from lradvisor.plateau import PlateauDetector
from lradvisor.schedules import ScheduleSpec
from lradvisor.search._pruner import PRUNER_NAMES, PlateauPruner, make_pruner
from lradvisor.search._reference import _levels_at_lr, _percentile, _Ref, schedule_phase

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings(
    f"ignore::{ExperimentalWarning.__module__}.ExperimentalWarning"
)

TOTAL = 100
FLOORS = (0.30, 0.32, 0.35, 0.40, 0.45)  # the completed trials' final losses
COSINE = ScheduleSpec.create("cosine")
WSD = ScheduleSpec.create("wsd")  # stable at the peak until 80% of the run


def loss(progress: float, floor: float) -> float:
    """A completed-trial-like loss curve: from 1 down to ``floor``."""
    return floor + (1.0 - floor) * math.exp(-6.0 * progress)


def curve(fn, total: int = TOTAL, every: int = 5, until: float = 1.0) -> dict[int, float]:
    """``{step: fn(step / total)}`` at every ``every`` steps up to ``until`` of the run."""
    return {s: fn(s / total) for s in range(every, int(until * total) + 1, every)}


def make_study(
    pruner: optuna.pruners.BasePruner,
    floors: tuple[float, ...] = FLOORS,
    *,
    total: int = TOTAL,
    spec: ScheduleSpec | None = COSINE,
    rung: int | None = None,
    direction: str = "minimize",
) -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=pruner)
    sign = -1.0 if direction == "maximize" else 1.0
    for floor in floors:
        values = curve(lambda p, f=floor: sign * loss(p, f), total=total)
        attrs: dict[str, object] = {"total_steps": total}
        if spec is not None:
            attrs["spec"] = spec.to_json()
        if rung is not None:
            attrs["rung"] = rung
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=values[max(values)],
                intermediate_values=values,
                user_attrs=attrs,
            )
        )
    return study


def first_pruned(study: optuna.Study, values: dict[int, float], **attrs: object) -> int | None:
    """Report ``values`` one by one; the first step where the trial is pruned, or None."""
    trial = study.ask()
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    for step in sorted(values):
        trial.report(values[step], step)
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return step
    study.tell(trial, state=TrialState.FAIL)  # leave the completed set as it was
    return None


def stuck(progress: float) -> float:
    """Drops a little, then stays at 0.8: a run whose LR is far too low or too high."""
    return max(0.8, 1.0 - progress)


def noisy(fn, sigma: float, seed: int):
    rng = random.Random(seed)
    return lambda p: fn(p) + rng.gauss(0.0, sigma)


# -- decision table ---------------------------------------------------------------------
def test_startup_trials_are_never_pruned_for_being_worse() -> None:
    study = make_study(PlateauPruner(n_startup_trials=5), FLOORS[:4])
    assert first_pruned(study, curve(stuck), total_steps=TOTAL) is None
    study = make_study(PlateauPruner(n_startup_trials=5), FLOORS)
    assert first_pruned(study, curve(stuck), total_steps=TOTAL) is not None


@pytest.mark.parametrize("n_done", [0, 5])
def test_a_diverging_trial_is_pruned_at_once(n_done: int) -> None:
    """NaN or a blow-up prunes at the report that shows it, even in startup and warmup."""
    study = make_study(PlateauPruner(), FLOORS[:n_done])
    # in line with the best completed trial until the NaN: nothing else would prune it
    nan_run = {5: loss(0.05, 0.3), 10: loss(0.1, 0.3), 15: math.nan, 20: 0.8}
    assert first_pruned(study, nan_run, total_steps=TOTAL) == 15
    blow_up = {1: 1.0, 3: 0.9, 5: 1.5, 7: 3.5, 9: 9.0}  # within the pruner's warmup
    assert first_pruned(study, blow_up, total_steps=TOTAL) == 7


def test_a_stuck_trial_worse_than_completed_ones_is_pruned_early() -> None:
    study = make_study(PlateauPruner())
    step = first_pruned(study, curve(stuck), total_steps=TOTAL)
    assert step is not None and step <= 50


def test_a_flat_but_better_trial_is_not_pruned() -> None:
    """It plateaus (its curve is flat after mid-run) but is the best there is."""
    study = make_study(PlateauPruner())
    better = curve(lambda p: max(0.25, math.exp(-6.0 * p)))
    assert PlateauDetector().plateaued(list(better.values()))
    assert first_pruned(study, better, total_steps=TOTAL) is None


def test_a_trial_in_line_with_the_best_is_not_pruned() -> None:
    study = make_study(PlateauPruner())
    assert first_pruned(study, curve(noisy(lambda p: loss(p, 0.30), 0.005, 0)),
                        total_steps=TOTAL) is None


def flat_from_mid(progress: float) -> float:
    """Like the completed trials until 30% of the run, then flat at 0.5."""
    return max(0.5, loss(progress, 0.3))


@pytest.mark.parametrize("margin", [1.5, math.inf])
def test_a_flat_wsd_trial_in_its_stable_phase_is_kept_a_cosine_one_is_not(margin: float) -> None:
    """Same curve, same progress: wsd's LR is still at its peak with the decay to come."""
    values = curve(flat_from_mid, until=0.75)
    # with margin inf, the comparison at equal LR is off too: the plateau rule alone
    pruner = PlateauPruner(hopeless_margin=margin,
                           behind_percentile=None if math.isinf(margin) else 50.0)
    assert first_pruned(make_study(pruner), values, total_steps=TOTAL,
                        spec=WSD.to_json()) is None
    step = first_pruned(make_study(pruner), values, total_steps=TOTAL, spec=COSINE.to_json())
    assert step is not None
    if math.isinf(margin):  # the plateau rule alone: not before cosine's LR is past mid-run
        assert schedule_phase(COSINE, step, TOTAL) == "final"


def test_the_plateau_clause_waits_for_the_high_lr_phase_to_end() -> None:
    """With the hopeless and behind checks off, a flat cosine trial is pruned only once
    past mid-run."""
    values = curve(flat_from_mid, every=2)
    pruner = PlateauPruner(hopeless_margin=math.inf, behind_percentile=None)
    cosine_step = first_pruned(make_study(pruner), values, total_steps=TOTAL,
                               spec=COSINE.to_json())
    plain_step = first_pruned(make_study(pruner), values, total_steps=TOTAL)
    assert plain_step is not None and cosine_step is not None
    assert plain_step < cosine_step
    assert schedule_phase(COSINE, plain_step, TOTAL) == "high"
    assert schedule_phase(COSINE, cosine_step, TOTAL) == "final"


def test_a_trial_whose_lr_just_fell_is_judged_once_its_reports_show_the_fall() -> None:
    """A step decay at 60% of the run: flat at 0.8 before it, the loss falls only in
    the reports after it. At the drop no decay is left ahead (phase "final"), but the
    last reports are the old LR's: the plateau clause waits for the window to pass the
    drop, then judges what the decay did (kept when it helped, pruned when not)."""
    spec = ScheduleSpec.create("step", step_fraction=0.6, gamma=0.1)
    assert schedule_phase(spec, 60, TOTAL) == "final"
    pruner = PlateauPruner(hopeless_margin=math.inf, behind_percentile=None)
    after = {65: 0.35, 70: 0.28}
    helped = {s: 0.8 if s <= 60 else after.get(s, 0.25) for s in range(5, TOTAL + 1, 5)}
    assert first_pruned(make_study(pruner), helped, total_steps=TOTAL,
                        spec=spec.to_json()) is None
    stuck_after = {s: 0.8 for s in range(5, TOTAL + 1, 5)}
    step = first_pruned(make_study(pruner), stuck_after, total_steps=TOTAL,
                        spec=spec.to_json())
    assert step is not None and step >= 60 + 4 * 5  # once its 5-report window is past it


def test_a_trial_behind_at_equal_lr_is_pruned_in_its_high_phase_wsd_at_its_peak_is_not() -> None:
    """The behind check alone (hopeless off): a cosine trial worse than most completed
    cosine trials at the same LR goes while its LR is still high; the same curve under
    wsd, still at its peak LR, is compared with their levels at the peak: kept."""
    values = curve(lambda p: max(0.6, loss(p, 0.3)), until=0.75)
    pruner = PlateauPruner(hopeless_margin=math.inf)
    step = first_pruned(make_study(pruner), values, total_steps=TOTAL, spec=COSINE.to_json())
    assert step is not None and schedule_phase(COSINE, step, TOTAL) == "high"
    assert first_pruned(make_study(pruner), values, total_steps=TOTAL,
                        spec=WSD.to_json()) is None
    # and it is a real rule: off, the cosine trial is kept in its high phase
    off = PlateauPruner(hopeless_margin=math.inf, behind_percentile=None)
    late = first_pruned(make_study(off), values, total_steps=TOTAL, spec=COSINE.to_json())
    assert late is None or schedule_phase(COSINE, late, TOTAL) == "final"


def test_an_adaptive_trial_behind_at_the_same_progress_is_pruned() -> None:
    """A ``plateau``-schedule trial's LR depends on its metric, unknown to the pruner:
    the behind check compares it at the same progress; the plateau rule never judges
    it (a flat curve is what makes it decay)."""
    values = curve(lambda p: max(0.6, loss(p, 0.3)))
    adaptive = ScheduleSpec.create("plateau").to_json()
    behind = PlateauPruner(hopeless_margin=math.inf)
    assert first_pruned(make_study(behind), values, total_steps=TOTAL, spec=adaptive) is not None
    off = PlateauPruner(hopeless_margin=math.inf, behind_percentile=None)
    assert first_pruned(make_study(off), values, total_steps=TOTAL, spec=adaptive) is None


def test_a_constant_lr_trial_behind_at_the_same_progress_is_pruned() -> None:
    """No decay ahead: its level is near what it will reach, so it is compared at the same
    progress (at equal LR, LR 1, it would meet only the cosine trials' first values)."""
    values = curve(lambda p: max(0.6, loss(p, 0.3)))
    constant = ScheduleSpec.create("constant").to_json()
    behind = first_pruned(make_study(PlateauPruner(hopeless_margin=math.inf)), values,
                          total_steps=TOTAL, spec=constant)
    off = PlateauPruner(hopeless_margin=math.inf, behind_percentile=None)
    plateau_only = first_pruned(make_study(off), values, total_steps=TOTAL, spec=constant)
    assert behind is not None and plateau_only is not None and behind < plateau_only


def test_a_rising_lr_counts_as_warmup() -> None:
    """onecycle's ramp to its peak is judged as a warmup (no comparison at equal LR)."""
    onecycle = ScheduleSpec.create("onecycle")
    assert schedule_phase(onecycle, 10, TOTAL) == "warmup"
    assert schedule_phase(onecycle, 40, TOTAL) == "high"


def test_a_hopeless_trial_is_pruned_even_in_a_protected_phase() -> None:
    """wsd at its peak LR, but barely moving from the start: no decay can save it."""
    barely = curve(lambda p: 1.0 - 0.05 * p, until=0.75)
    step = first_pruned(make_study(PlateauPruner()), barely, total_steps=TOTAL,
                        spec=WSD.to_json())
    assert step is not None and schedule_phase(WSD, step, TOTAL) == "high"


def test_comparisons_use_relative_progress_across_run_lengths() -> None:
    """The same curve in relative terms is pruned at the same progress in a 4x longer run."""
    short = first_pruned(make_study(PlateauPruner()), curve(stuck), total_steps=TOTAL)
    long = first_pruned(make_study(PlateauPruner()), curve(stuck, total=4 * TOTAL, every=20),
                        total_steps=4 * TOTAL)
    assert short is not None and long is not None
    assert long / (4 * TOTAL) == short / TOTAL
    # a good long run is not judged at its step 100 against the short runs' ends
    good_long = curve(lambda p: loss(p, 0.30), total=4 * TOTAL, every=20)
    assert first_pruned(make_study(PlateauPruner()), good_long, total_steps=4 * TOTAL) is None


def test_run_length_defaults_to_the_completed_trials_last_step() -> None:
    with_attr = first_pruned(make_study(PlateauPruner()), curve(stuck), total_steps=TOTAL)
    without = first_pruned(make_study(PlateauPruner()), curve(stuck))
    assert with_attr == without


def test_only_trials_of_the_same_rung_are_compared() -> None:
    study = make_study(PlateauPruner(), rung=0)
    assert first_pruned(study, curve(stuck), total_steps=TOTAL, rung=1) is None
    assert first_pruned(study, curve(stuck), total_steps=TOTAL, rung=0) is not None


def test_maximize_mirrors_minimize() -> None:
    for fn in (stuck, lambda p: loss(p, 0.25), flat_from_mid):
        low = first_pruned(make_study(PlateauPruner()), curve(fn), total_steps=TOTAL)
        high = first_pruned(make_study(PlateauPruner(), direction="maximize"),
                            curve(lambda p, fn=fn: -fn(p)), total_steps=TOTAL)
        assert low == high


def test_warmup_progress_delays_every_check_but_divergence() -> None:
    step = first_pruned(make_study(PlateauPruner(warmup_progress=0.6)), curve(stuck),
                        total_steps=TOTAL)
    assert step is not None and step >= 60
    nan_run = {5: 1.0, 10: math.nan}
    assert first_pruned(make_study(PlateauPruner(warmup_progress=0.6)), nan_run) == 10


def test_interval_steps_checks_only_at_interval_starts() -> None:
    """Optuna's rule: checks at warmup + k * interval (warmup 10% of 100 = step 10)."""
    values = curve(flat_from_mid)
    step = first_pruned(make_study(PlateauPruner(interval_steps=20)), values, total_steps=TOTAL)
    assert step is not None and (step - 10) % 20 == 0
    assert first_pruned(make_study(PlateauPruner()), values, total_steps=TOTAL) != step


def test_should_prune_inside_optimize_with_the_search_attrs() -> None:
    """End to end: study.optimize with trials that set total_steps and spec."""
    study = optuna.create_study(pruner=PlateauPruner(n_startup_trials=3))
    floors = [0.3, 0.35, 0.4, 0.9, 0.9, 0.28]

    def objective(trial: optuna.Trial) -> float:
        floor = floors[trial.number]
        trial.set_user_attr("total_steps", TOTAL)
        trial.set_user_attr("spec", COSINE.to_json())
        value = 1.0
        for step in range(5, TOTAL + 1, 5):
            value = max(floor, loss(step / TOTAL, 0.3)) if floor > 0.5 else loss(
                step / TOTAL, floor)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=len(floors))
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED] * 2 + [TrialState.COMPLETE]


# -- side by side with Optuna's PatientPruner ---------------------------------------------
def test_patient_pruner_stops_a_noisy_improving_best_trial_that_plateau_keeps() -> None:
    """PatientPruner counts reports without a new best, so noise alone stops the eventual
    best trial (final 0.25 against completed trials' 0.30 to 0.45) in most of 20 seeds."""
    patient_pruned = plateau_pruned = 0
    for seed in range(20):
        values = curve(noisy(lambda p: loss(p, 0.25), 0.02, seed=seed))
        patient = optuna.pruners.PatientPruner(None, patience=3)
        patient_pruned += first_pruned(make_study(patient), values, total_steps=TOTAL) is not None
        plateau_pruned += first_pruned(make_study(PlateauPruner()), values,
                                       total_steps=TOTAL) is not None
    assert patient_pruned >= 10
    assert plateau_pruned == 0


def test_plateau_stops_a_creeping_stuck_trial_that_patient_pruner_keeps() -> None:
    """A new best by 5e-6 each report is improvement to PatientPruner; to the detector it
    is a plateau (under its 0.1% threshold), and the trial is worse than the others."""
    values = curve(lambda p: 0.8 - 1e-4 * p)
    patient = optuna.pruners.PatientPruner(None, patience=3)
    assert first_pruned(make_study(patient), values, total_steps=TOTAL) is None
    assert PlateauDetector().plateaued(list(values.values()))
    assert first_pruned(make_study(PlateauPruner()), values, total_steps=TOTAL) is not None


# -- phases -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "step", "phase"),
    [
        (ScheduleSpec.create("cosine"), 30, "high"),
        (ScheduleSpec.create("cosine"), 60, "final"),
        (ScheduleSpec.create("cosine", warmup_fraction=0.1), 5, "warmup"),
        (ScheduleSpec.create("wsd"), 70, "high"),
        (ScheduleSpec.create("wsd"), 95, "final"),
        (ScheduleSpec.create("constant"), 30, "final"),
        (ScheduleSpec.create("step"), 10, "high"),
        (ScheduleSpec.create("onecycle"), 35, "high"),
        (ScheduleSpec.create("plateau"), 90, "adaptive"),
    ],
)
def test_schedule_phase(spec: ScheduleSpec, step: int, phase: str) -> None:
    assert schedule_phase(spec, step, TOTAL) == phase


def test_a_restart_cycle_cut_short_by_the_run_still_has_its_decay_to_come() -> None:
    """digits-cnn's winner in one benchmark seed: SGDR whose second cycle (3x the
    first) the run ends about halfway through, at 0.44 of the peak. At 65% of the run
    its LR is 0.86 of the peak and will fall to 0.52 of that: a decay to come."""
    spec = ScheduleSpec.create("cosine_restarts", t0_fraction=0.375, t_mult=3,
                               min_lr_ratio=0.0256)
    fn = spec.multiplier_fn(80)
    assert fn(52) == pytest.approx(0.863, abs=0.001)
    assert fn(79) == pytest.approx(0.445, abs=0.001)
    assert schedule_phase(spec, 52, 80) == "high"
    assert schedule_phase(spec, 52, 80, decay_ratio=0.5) == "final"  # the old default


def test_percentile_matches_numpy() -> None:
    values = sorted(random.Random(0).random() for _ in range(7))
    for q in (0.0, 10.0, 25.0, 50.0, 99.0, 100.0):
        assert _percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_reference_levels_are_medians_of_the_window_before_the_lr_fell() -> None:
    """A reference's level at an LR: the median of the ``window`` reports ending at
    its last report no later than ``progress`` whose LR multiplier was still >= it."""
    rng = random.Random(3)
    refs = []
    for total in (40, 100, 250):
        trial = optuna.trial.create_trial(
            value=0.3, params={}, distributions={},
            intermediate_values={s: rng.random() for s in range(5, total + 1, 5)},
            user_attrs={"spec": WSD.to_json(), "total_steps": total})
        refs.append(_Ref.of(trial, 1.0, 3))
    ref = refs[1]  # wsd: multiplier 1 to 80% of its run, then decays to its floor
    assert ref.level_at_lr(0.9, 1.0, 3) == statistics.median(ref.values[13:16])  # 0.7–0.8
    assert ref.level_at_lr(0.5, 1.0, 3) == statistics.median(ref.values[7:10])  # 0.4–0.5
    assert ref.level_at_lr(0.02, 1.0, 3) == ref.values[0]  # before its first report
    assert ref.level_at_progress(0.9, 3) == statistics.median(ref.values[15:18])
    # all at once, as the pruner asks: each one's level where its LR was last >= 0.6
    # (wsd's 1-sqrt decay passes 0.6 at 83% of the run)
    short, long_ = refs[0], refs[2]  # reports every 12.5% and every 2% of the run
    assert _levels_at_lr(refs, 0.95, 0.6, 3) == [
        statistics.median(short.values[3:6]),  # steps 20–30 of 40
        statistics.median(ref.values[13:16]),  # steps 70–80 of 100
        statistics.median(long_.values[38:41]),  # steps 195–205 of 250
    ]


# -- constructor and factory ----------------------------------------------------------------
BAD = [
    ("detector", "plateau"),
    ("n_startup_trials", -1),
    ("n_startup_trials", 1.5),
    ("warmup_progress", 1.0),
    ("warmup_progress", -0.1),
    ("interval_steps", 0),
    ("percentile", 101.0),
    ("behind_percentile", -1.0),
    ("hopeless_margin", -1.0),
    ("high_lr", 0.0),
    ("decay_ratio", 1.0),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v!r}" for n, v in BAD])
def test_bad_pruner_setting_raises_naming_it(name: str, value: object) -> None:
    with pytest.raises(PrunerError, match=rf"{name} must be .*but got {name}="):
        PlateauPruner(**{name: value})  # type: ignore[arg-type]


def test_trailing_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        PlateauPruner(None, 5, 0.1, 1, 25.0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("none", optuna.pruners.NopPruner),
        ("median", optuna.pruners.MedianPruner),
        ("patient", optuna.pruners.PatientPruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("wilcoxon", optuna.pruners.WilcoxonPruner),
        ("plateau", PlateauPruner),
    ],
)
def test_make_pruner_builds_each_name(name: str, cls: type) -> None:
    assert type(make_pruner(name)) is cls


def test_make_pruner_covers_every_name() -> None:
    assert set(PRUNER_NAMES) == {
        "none", "median", "patient", "successive_halving", "hyperband", "wilcoxon", "plateau",
    }


def test_make_pruner_passes_arguments() -> None:
    patient = make_pruner("patient", patience=1, n_startup_trials=0)
    # patience 1 then the median rule: a worsening trial goes once it stops improving
    worsening = curve(lambda p: stuck(p) + 0.01 * p)
    assert first_pruned(make_study(patient), worsening, total_steps=TOTAL) is not None
    assert first_pruned(make_study(make_pruner("patient", patience=30)), worsening) is None
    plateau = make_pruner("plateau", n_startup_trials=6)
    assert first_pruned(make_study(plateau), curve(stuck), total_steps=TOTAL) is None


def test_make_pruner_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(PrunerError, match="unknown pruner 'asha'; allowed: none, median"):
        make_pruner("asha")


def test_make_pruner_bad_arguments_raise_pruner_error() -> None:
    with pytest.raises(PrunerError, match="'median'"):
        make_pruner("median", n_startup_trials=-1)
    with pytest.raises(PrunerError, match="'none'"):
        make_pruner("none", patience=3)
    with pytest.raises(PrunerError, match="percentile"):
        make_pruner("plateau", percentile=-5)
