"""The rung logic on hand-made records: promotion, lineage, seeds, tie-breaking."""

from __future__ import annotations

from lradvisor.schedules import ScheduleSpec
from lradvisor.search import Fidelity
from lradvisor.search._rungs import Record, choose, leaderboard, lineage, next_runs


def spec(lr: float, family: str = "cosine") -> ScheduleSpec:
    return ScheduleSpec.create(family, peak_lr=lr)


def rec(number, rung, lr, value, *, state="COMPLETE", seed=0, origin="sampled", parent=None,
        diverged=False, family="cosine"):
    return Record(number, rung, spec(lr, family), seed, state, value, origin, parent,
                  diverged=diverged)


FIRST = [
    rec(0, 0, 0.011, 5.0, origin="rules"),
    rec(1, 0, 0.02, 1.0),
    rec(2, 0, 0.03, 2.0),
    rec(3, 0, 0.04, None, state="PRUNED"),
    rec(4, 0, 0.05, 3.0),
    rec(5, 0, 0.06, 4.0),
]


def test_leaderboard_ranks_completed_and_judges_by_worst_seed():
    records = [rec(0, 2, 0.1, 1.0, seed=0), rec(1, 2, 0.1, 3.0, seed=1),
               rec(2, 2, 0.2, 2.0, seed=0), rec(3, 2, 0.2, 2.5, seed=1)]
    board = leaderboard(records, 2, "minimize")
    assert [e.spec.peak_lr for e in board] == [0.2, 0.1]  # worst seeds 2.5 < 3.0
    assert board[0].score == 2.5
    maxed = leaderboard(records, 2, "maximize")  # worst seed is now the lower value
    assert [(e.spec.peak_lr, e.score) for e in maxed] == [(0.2, 2.0), (0.1, 1.0)]


def test_a_diverged_configuration_is_off_the_board():
    records = [rec(0, 1, 0.1, 1.0), rec(1, 1, 0.1, None, state="PRUNED", seed=1, diverged=True)]
    assert leaderboard(records, 1, "minimize") == []


def test_middle_rung_promotes_top_third_and_rules_pick_then_searches_the_leaders_lr():
    runs = next_runs(FIRST, 1, Fidelity(), "minimize", seed=7)
    # 6 finished -> ceil(6/3) = 2 promoted; the rules' pick (5.0 at rung 0) joins them,
    # first (a budget that runs short cuts a sampled one) and as origin "rules" (never
    # pruned)
    assert [(r.spec.peak_lr, r.origin, r.parent) for r in runs] == [
        (0.011, "rules", 0), (0.02, "promoted", 1), (0.03, "promoted", 2),
    ]
    assert {r.rung for r in runs} == {1} and {r.seed for r in runs} == {7}
    # once they ran, the rung-1 leader (the rules' pick here) gets its LR x0.5 and x2
    ran = [*FIRST, rec(6, 1, 0.02, 0.9, parent=1, seed=7), rec(7, 1, 0.03, 0.8, parent=2, seed=7),
           rec(8, 1, 0.011, 0.7, parent=0, seed=7, origin="rules")]
    variants = next_runs(ran, 1, Fidelity(), "minimize", seed=7)
    assert [(r.spec.peak_lr, r.origin, r.parent) for r in variants] == [
        (0.0055, "lr x0.5", 0), (0.022, "lr x2", 0),
    ]
    tried = [*ran, rec(9, 1, 0.0055, 0.6, parent=0, seed=7, origin="lr x0.5"),
             rec(10, 1, 0.022, 0.65, parent=0, seed=7, origin="lr x2")]
    assert next_runs(tried, 1, Fidelity(), "minimize", seed=7) == []  # one LR round only


def test_a_worker_taking_one_lr_variant_at_a_time_still_gets_every_factor():
    # Workers run one plan at a time: after lr x0.5 ran (and now leads the rung), the
    # rung's leader as it stood before any variant (the rules' pick) still owes its x2,
    # and nothing is planned around the new leader.
    ran = [*FIRST, rec(6, 1, 0.02, 0.9, parent=1, seed=7), rec(7, 1, 0.03, 0.8, parent=2, seed=7),
           rec(8, 1, 0.011, 0.7, parent=0, seed=7, origin="rules"),
           rec(9, 1, 0.0055, 0.6, parent=0, seed=7, origin="lr x0.5")]
    runs = next_runs(ran, 1, Fidelity(), "minimize", seed=7)
    assert [(r.spec.peak_lr, r.origin, r.parent, r.seed) for r in runs] == [
        (0.022, "lr x2", 0, 7),
    ]
    # a variant that is running already counts as taken
    running = [*ran, Record(10, 1, spec(0.022), 7, "RUNNING", None, "lr x2", 0)]
    assert next_runs(running, 1, Fidelity(), "minimize", seed=7) == []
    # once both ran (pruned counts as run), nothing more at this rung
    both = [*ran, rec(10, 1, 0.022, None, state="PRUNED", parent=0, seed=7, origin="lr x2")]
    assert next_runs(both, 1, Fidelity(), "minimize", seed=7) == []
    # an interrupted variant runs again
    cut = [*ran, Record(10, 1, spec(0.022), 7, "FAIL", None, "lr x2", 0, error="interrupted")]
    assert [r.origin for r in next_runs(cut, 1, Fidelity(), "minimize", seed=7)] == ["lr x2"]


def test_runs_already_made_are_not_repeated_unless_interrupted():
    done = [*FIRST, rec(6, 1, 0.02, 0.5, parent=1),
            Record(7, 1, spec(0.03), 0, "FAIL", None, "promoted", 2, error="interrupted")]
    runs = next_runs(done, 1, Fidelity(), "minimize")
    lrs = [r.spec.peak_lr for r in runs]
    assert 0.02 not in [r.spec.peak_lr for r in runs if r.origin == "promoted"]
    assert 0.03 in lrs  # the interrupted one runs again


def test_last_rung_runs_finalists_on_seeds():
    middle = [*FIRST, rec(6, 1, 0.02, 0.9, parent=1), rec(7, 1, 0.03, 0.8, parent=2),
              rec(8, 1, 0.011, 0.7, parent=0, origin="rules")]
    runs = next_runs(middle, 2, Fidelity(), "minimize", seed=3)
    assert [(r.spec.peak_lr, r.seed, r.parent, r.origin) for r in runs] == [
        (0.011, 3, 8, "finalist"), (0.011, 4, 8, "finalist"),
        (0.03, 3, 7, "finalist"), (0.03, 4, 7, "finalist"),
    ]


def test_the_rules_configuration_takes_the_last_finalist_place_when_not_in_the_top():
    middle = [*FIRST, rec(6, 1, 0.02, 0.9, parent=1), rec(7, 1, 0.03, 0.8, parent=2),
              rec(8, 1, 0.011, 1.5, parent=0, origin="rules")]  # third on the board
    runs = next_runs(middle, 2, Fidelity(), "minimize", seed=3)
    assert [(r.spec.peak_lr, r.seed, r.parent) for r in runs] == [
        (0.03, 3, 7), (0.03, 4, 7), (0.011, 3, 8), (0.011, 4, 8)]
    three = next_runs(middle, 2, Fidelity(finalists=3), "minimize", seed=3)
    assert [r.spec.peak_lr for r in three[::2]] == [0.03, 0.02, 0.011]  # already in the top


def test_choose_prefers_lower_peak_among_tied_and_reports_evidence():
    records = [
        *FIRST,
        rec(10, 2, 0.03, 1.000, seed=0, parent=2), rec(11, 2, 0.03, 1.002, seed=1, parent=2),
        rec(12, 2, 0.02, 1.003, seed=0, parent=1), rec(13, 2, 0.02, 1.004, seed=1, parent=1),
        rec(14, 0, 0.3, None, state="PRUNED", diverged=True),
    ]
    choice = choose(records, Fidelity(tie=0.005), "minimize")
    assert choice.rung == 2
    assert choice.entry.spec.peak_lr == 0.02  # within 0.5% of the best, lower LR
    assert choice.reached == 4
    assert choice.diverged_lr == 0.3
    strict = choose(records, Fidelity(tie=0.0), "minimize")
    assert strict.entry.spec.peak_lr == 0.03


def _short_final(rules_worst: float, best_worst: float, direction: str = "minimize"):
    """Finals at rung 1 of two: the rules' configuration (0.011) against one at 0.02."""
    return [*FIRST,
            rec(10, 1, 0.02, best_worst, seed=0, parent=1, origin="finalist"),
            rec(11, 1, 0.02, best_worst, seed=1, parent=1, origin="finalist"),
            rec(12, 1, 0.011, rules_worst, seed=0, parent=0, origin="finalist"),
            rec(13, 1, 0.011, rules_worst, seed=1, parent=0, origin="finalist")]


def test_a_short_final_keeps_the_rules_configuration_unless_beaten_by_the_trust_margin():
    short = Fidelity(rungs=(0.1, 0.25))
    narrow = choose(_short_final(1.03, 1.0), short, "minimize")  # a 3% lead
    assert narrow.entry.spec.peak_lr == 0.011
    assert abs(narrow.kept_rules - 0.03) < 1e-9
    wide = choose(_short_final(1.10, 1.0), short, "minimize")  # a 10% lead wins
    assert wide.entry.spec.peak_lr == 0.02 and wide.kept_rules is None
    off = choose(_short_final(1.03, 1.0), Fidelity(rungs=(0.1, 0.25), trust=0.0), "minimize")
    assert off.entry.spec.peak_lr == 0.02
    higher = choose(_short_final(0.97, 1.0), short, "maximize")  # 3% below when maximising
    assert higher.entry.spec.peak_lr == 0.011


def _short_final_vs(lr: float, family: str, rules_worst: float, best_worst: float):
    """Finals at rung 1 of two: the rules' cosine at 0.011 against ``family`` at ``lr``."""
    return [*FIRST, rec(6, 0, lr, 0.5, family=family),
            rec(10, 1, lr, best_worst, seed=0, parent=6, origin="finalist", family=family),
            rec(11, 1, lr, best_worst, seed=1, parent=6, origin="finalist", family=family),
            rec(12, 1, 0.011, rules_worst, seed=0, parent=0, origin="finalist"),
            rec(13, 1, 0.011, rules_worst, seed=1, parent=0, origin="finalist")]


def test_the_trust_margin_is_for_higher_peaks_only():
    short = Fidelity(rungs=(0.1, 0.25))
    for lr in (0.011, 0.005):  # the same peak, or a lower one: a 3% lead stands
        lower = choose(_short_final_vs(lr, "wsd", 1.03, 1.0), short, "minimize")
        assert (lower.entry.spec.family, lower.entry.spec.peak_lr) == ("wsd", lr)
        assert lower.kept_rules is None and abs(lower.waived - 0.03) < 1e-9
    higher = choose(_short_final_vs(0.0111, "wsd", 1.03, 1.0), short, "minimize")
    assert higher.entry.spec.family == "cosine" and higher.waived is None  # 1% higher: kept
    clear = choose(_short_final_vs(0.005, "wsd", 1.10, 1.0), short, "minimize")
    assert clear.waived is None and clear.kept_rules is None  # beyond the margin anyway
    full = choose(_short_final_vs(0.005, "wsd", 1.03, 1.0), Fidelity(rungs=(0.1, 1.0)),
                  "minimize")
    assert full.entry.spec.family == "wsd" and full.waived is None  # no margin at full length


def test_a_held_back_best_does_not_hide_a_lower_peak_finalist_that_leads_the_rules():
    short = Fidelity(rungs=(0.1, 0.25), finalists=3)
    records = [*_short_final_vs(0.02, "wsd", 1.04, 1.0), rec(7, 0, 0.008, 0.6, family="linear"),
               rec(14, 1, 0.008, 1.02, seed=0, parent=7, origin="finalist", family="linear"),
               rec(15, 1, 0.008, 1.02, seed=1, parent=7, origin="finalist", family="linear")]
    choice = choose(records, short, "minimize")  # wsd at 2x leads by 4%, linear at 0.7x by 2%
    assert (choice.entry.spec.family, choice.entry.spec.peak_lr) == ("linear", 0.008)
    assert choice.kept_rules is None and abs(choice.waived - 0.02 / 1.02) < 1e-9
    behind = [*records[:-2], rec(14, 1, 0.008, 1.05, seed=0, parent=7, origin="finalist",
                                 family="linear"),
              rec(15, 1, 0.008, 1.05, seed=1, parent=7, origin="finalist", family="linear")]
    from lradvisor.search._recommend import alternatives_of, recommend

    rec_, data = recommend(records, short, direction="minimize", full_steps=100,
                           study_name="s")
    wsd, rules_ = alternatives_of(data)
    assert "It led the pick by 2.0%, at a peak LR higher than the rules'" in wsd.rationale
    assert rules_.rationale.endswith("The pick led it by 2.0%.")
    kept = choose(behind, short, "minimize")  # the linear one trails the rules': kept
    assert kept.entry.spec.family == "cosine" and abs(kept.kept_rules - 0.04) < 1e-9


def test_the_other_finalists_come_as_runners_up_with_their_numbers():
    from lradvisor.search._recommend import alternatives_of, recommend

    short = Fidelity(rungs=(0.1, 0.25))
    rec_, data = recommend(_short_final(1.03, 1.0), short, direction="minimize",
                           full_steps=100, study_name="s")
    (held,) = alternatives_of(data)  # the pick is the rules' configuration, kept
    assert held.spec.peak_lr == 0.02 and held.total_steps == 100 and held.score == 1.0
    # 3.0% = (1.03 - 1) / 1: relative to the leader, as the pick's rationale says it
    assert "led the pick, the rules' configuration, by 3.0%, at a peak LR higher than the " \
        "rules' configuration's (1.8x the pick's), within the 5%" in held.rationale
    assert "led it by only 3.0%" in rec_.rationale
    _, wide = recommend(_short_final(1.10, 1.0), short, direction="minimize",
                        full_steps=100, study_name="s")
    (rules_,) = alternatives_of(wide)
    assert rules_.spec.peak_lr == 0.011
    assert rules_.rationale.endswith("The pick led it by 10.0%.")
    assert alternatives_of(None) == [] and alternatives_of({}) == []  # older studies
    _, early = recommend(FIRST, short, direction="minimize", full_steps=100, study_name="s")
    first, second = alternatives_of(early)  # stopped at the first rung: no finals yet
    assert first.rationale.startswith("A configuration at 10% of the run: worst seed 2 ")
    assert first.rationale.endswith("The pick led it by 100.0%.") and second.score == 3.0


def test_a_rationale_says_when_a_lower_peak_lead_stood_within_the_margin():
    from lradvisor.search._recommend import recommend

    rec_, _ = recommend(_short_final_vs(0.005, "wsd", 1.03, 1.0), Fidelity(rungs=(0.1, 0.25)),
                        direction="minimize", full_steps=100, study_name="s")
    assert rec_.spec.family == "wsd"
    assert "led the rules' configuration by 3.0% at 25% of the run, within the 5% trust " \
        "margin, but at a peak LR no higher than the rules'" in rec_.rationale


def test_a_full_length_final_needs_no_trust_margin():
    full = Fidelity(rungs=(0.1, 1.0))
    choice = choose(_short_final(1.03, 1.0), full, "minimize")
    assert choice.entry.spec.peak_lr == 0.02 and choice.kept_rules is None


def test_a_rationale_says_when_the_rules_configuration_was_kept():
    from lradvisor.search._recommend import recommend

    rec_, _ = recommend(_short_final(1.03, 1.0), Fidelity(rungs=(0.1, 0.25)),
                        direction="minimize", full_steps=100, study_name="s")
    assert rec_.spec.peak_lr == 0.011
    assert "rules' configuration, kept" in rec_.rationale
    assert "3.0%" in rec_.rationale and "25% of the run" in rec_.rationale


def test_a_short_final_says_at_which_peak_its_proxies_trained():
    from lradvisor.search._recommend import Horizon, recommend

    horizon = Horizon(0.5, "horizon-sgd: SGD.")
    short = Fidelity(rungs=(0.1, 0.25))
    rec_, data = recommend(_short_final(1.10, 1.0), short, direction="minimize",
                           full_steps=100, study_name="s", horizon=horizon)
    assert rec_.spec.peak_lr == 0.02  # the full run's peak, as stored
    assert data["horizon"] == 0.5 and abs(data["proxy_peak_lr"] - 0.04) < 1e-12
    assert "at 25% of the run at 0.04 = 0.02 x 0.25^-0.5; rule horizon-sgd: SGD." \
        in rec_.rationale
    full, full_data = recommend(_short_final(1.10, 1.0), Fidelity(rungs=(0.1, 1.0)),
                                direction="minimize", full_steps=100, study_name="s",
                                horizon=horizon)
    plain, plain_data = recommend(_short_final(1.10, 1.0), short, direction="minimize",
                                  full_steps=100, study_name="s")
    assert full.spec.peak_lr == plain.spec.peak_lr == 0.02
    assert full_data["proxy_peak_lr"] is None and plain_data["horizon"] is None
    assert "proxies" not in full.rationale + plain.rationale


def test_horizon_reads_the_study_prior():
    from lradvisor.search._recommend import Horizon

    attrs = {"prior": {"lr_default": 0.1, "horizon": 0.5, "horizon_reason": "h: r."}}
    assert Horizon.of(attrs) == Horizon(0.5, "h: r.")
    assert Horizon.of({"prior": {"lr_default": 0.1}}) is None and Horizon.of({}) is None


def test_choose_falls_back_to_the_longest_rung_reached():
    choice = choose(FIRST, Fidelity(), "minimize")
    assert choice.rung == 0 and choice.entry.spec.peak_lr == 0.02
    assert choose([], Fidelity(), "minimize") is None


def test_lineage_walks_parents():
    records = [*FIRST, rec(6, 1, 0.02, 0.9, parent=1), rec(9, 2, 0.02, 0.5, parent=6)]
    assert lineage(records, 9) == [1, 6, 9]


def test_an_exact_tie_with_the_rules_is_called_a_tie():
    """The same worst-seed value at the same peak: the rationale said "It led the rules'
    configuration by -0.0%", and the rules' runner-up "The pick led it by 0.0%"."""
    from lradvisor.search._recommend import alternatives_of, recommend

    short = Fidelity(rungs=(0.1, 0.25))
    records = _short_final_vs(0.011, "wsd", 1.0, 1.0)
    pick, data = recommend(records, short, direction="minimize", full_steps=100,
                           study_name="s")
    rules_ = next(a for a in alternatives_of(data) if a.spec.family == "cosine")
    assert pick.spec.family == "wsd"  # the tie goes to the earlier finalist, and says so
    assert "It tied the rules' configuration at 25% of the run" in pick.rationale
    assert rules_.rationale.endswith("It tied with the pick.")
    assert "-0.0%" not in pick.rationale and "by 0.0%" not in rules_.rationale
