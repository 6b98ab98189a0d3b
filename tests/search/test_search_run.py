"""run_search end to end on real torch trainables and real SQLite files."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from lradvisor.errors import StudyError, TrainableError
from lradvisor.rules import TaskProfile, advise
from lradvisor.schedules import ScheduleSpec
from lradvisor.search import Fidelity, best_recommendation, run_search

FILE = str(Path(__file__).parent / "search_trainables.py")
PROFILE = {"task": "scratch", "total_steps": 40}


def search(tmp_path, fn="quadratic", **kwargs):
    kwargs.setdefault("n_trials", 6)
    kwargs.setdefault("storage", f"sqlite:///{tmp_path}/s.db")
    kwargs.setdefault("study_name", "s")
    kwargs.setdefault("profile", PROFILE)
    return run_search(f"{FILE}:{fn}", device="cpu", **kwargs)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return search(tmp_path_factory.mktemp("run"), n_trials=8, seed=3)


def test_rules_top_recommendations_are_the_first_trials(result):
    recs = advise(TaskProfile(**PROFILE)).recommendations
    first = [ScheduleSpec.from_json(t.user_attrs["spec"]) for t in result.study.trials[:3]]
    assert first == [r.spec for r in recs[:3]]
    assert [t.user_attrs["origin"] for t in result.study.trials[:3]] == [
        "rules", "rules-alt", "rules-alt"]


def test_trials_climb_the_rungs_with_lineage(result):
    trials = result.study.trials
    by_number = {t.number: t for t in trials}
    rungs = {t.user_attrs["rung"] for t in trials}
    assert rungs == {0, 1, 2}
    for t in trials:
        assert t.user_attrs["total_steps"] == max(1, round(t.user_attrs["fidelity"] * 40))
        if t.user_attrs["rung"] > 0:
            parent = by_number[t.user_attrs["parent"]]
            assert parent.user_attrs["rung"] == t.user_attrs["rung"] - 1
            if t.user_attrs["origin"] in ("promoted", "finalist"):
                assert parent.user_attrs["spec"] == t.user_attrs["spec"]
    finals = [t for t in trials if t.user_attrs["rung"] == 2]
    assert sorted(t.user_attrs["seed"] for t in finals) == [3, 3, 4, 4]  # 2 finalists x 2


def test_lr_is_searched_again_at_the_longer_rung(result):
    variants = [t for t in result.study.trials if t.user_attrs["origin"].startswith("lr x")]
    assert {t.user_attrs["origin"] for t in variants} == {"lr x0.5", "lr x2"}
    for t in variants:
        parent = result.study.trials[t.user_attrs["parent"]]
        ratio = (ScheduleSpec.from_json(t.user_attrs["spec"]).peak_lr
                 / ScheduleSpec.from_json(parent.user_attrs["spec"]).peak_lr)
        assert ratio == pytest.approx(float(t.user_attrs["origin"][4:]))


def test_steps_are_counted_and_recommendation_states_its_evidence(result):
    trials = result.study.trials
    assert result.steps_used == sum(t.user_attrs["steps_used"] for t in trials)
    assert result.full_run_equivalents == pytest.approx(result.steps_used / 40)
    rec = result.recommendation
    assert rec.total_steps == 40
    assert result.evidence["length_steps"] == 40 and result.evidence["fraction"] == 1.0
    assert result.evidence["trials_at_length"] == 4
    assert result.evidence["seeds"] == 2
    assert "2 seed" in rec.evidence and "4 trial(s) reached that length" in rec.evidence
    assert "worst seed" in rec.rationale
    stored = result.study.user_attrs["recommendation"]
    assert stored["evidence_data"]["length_steps"] == 40
    assert ScheduleSpec.from_dict({k: stored[k] for k in ("family", "params", "peak_lr")}) \
        == rec.spec
    for key in ("profile", "fidelity", "rules", "prior", "full_steps"):
        assert key in result.study.user_attrs


def test_best_recommendation_reads_the_stored_one(tmp_path):
    first = search(tmp_path, n_trials=4, fidelity=Fidelity(rungs=(0.25, 1.0)))
    rec = best_recommendation(f"sqlite:///{tmp_path}/s.db", "s")
    assert rec.spec == first.recommendation.spec and rec.evidence == first.recommendation.evidence
    with pytest.raises(StudyError, match="no study named 'nope'"):
        best_recommendation(f"sqlite:///{tmp_path}/s.db", "nope")


def test_failing_trainable_is_recorded_and_the_study_goes_on(tmp_path):
    res = search(tmp_path, "fails_on_onecycle", n_trials=4, fidelity=Fidelity(rungs=(0.25, 1.0)))
    failed = [t for t in res.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("RuntimeError: boom: onecycle" in t.user_attrs["error"] for t in failed)
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in res.study.trials)
    assert res.recommendation is not None and res.recommendation.spec.family != "onecycle"


def test_a_trainable_that_exits_fails_its_trial_and_the_study_goes_on(tmp_path):
    """``sys.exit`` in the user's loop is their code failing: before, it ended the whole
    search silently and left the trial RUNNING."""
    res = search(tmp_path, "exits_on_onecycle", n_trials=4,
                 fidelity=Fidelity(rungs=(0.25, 1.0)))
    failed = [t for t in res.study.trials if t.state == optuna.trial.TrialState.FAIL]
    line = Path(FILE).read_text().splitlines().index("        sys.exit(3)") + 1
    assert failed and all(t.user_attrs["error"] == (  # where in the user's file, too
        f"SystemExit: 3 (at tests/search/search_trainables.py:{line} in exits_on_onecycle)")
        for t in failed)
    assert not any(t.state == optuna.trial.TrialState.RUNNING for t in res.study.trials)
    assert res.recommendation is not None and res.recommendation.spec.family != "onecycle"


def test_a_trainable_file_that_exits_on_import_is_one_error(tmp_path):
    script = tmp_path / "cli_script.py"
    script.write_text("import sys\nsys.exit(0)\ndef train(ctx):\n    return 1.0\n")
    with pytest.raises(TrainableError, match="raised SystemExit: 0"):
        run_search(f"{script}:train", profile=PROFILE, storage=f"sqlite:///{tmp_path}/a.db")


def test_a_resume_with_other_families_or_profile_is_refused(tmp_path):
    """A study's family choices and profile are fixed once it has trials (before, other
    families crashed in Optuna and left a trial RUNNING; another profile was taken)."""
    fid = Fidelity(rungs=(0.25, 1.0))
    search(tmp_path, n_trials=1, fidelity=fid, families=["cosine", "wsd", "step"])
    with pytest.raises(StudyError, match="searches the families cosine,wsd,step, not "
                                         "cosine,wsd; resume it with --families"):
        search(tmp_path, n_trials=1, fidelity=fid, families=["cosine", "wsd"])
    with pytest.raises(StudyError, match="made for the profile 'task=scratch.*not 'task=finetune"):
        search(tmp_path, n_trials=1, fidelity=fid, families=["cosine", "wsd", "step"],
               profile={**PROFILE, "task": "finetune"})
    trials = search(tmp_path, n_trials=1, fidelity=fid,
                    families=["cosine", "wsd", "step"]).study.trials
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)


def test_a_rules_file_giving_lengths_in_steps_runs_its_sampled_trials(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nid = "mine"\nwhen = { task = "scratch" }\nfamily = "wsd"\n'
                     'params = { decay_steps = 8 }\nscore = 200\nreason = "8-step decay."\n')
    result = search(tmp_path, n_trials=5, families=["wsd"], rules_files=[str(rules)])
    first_rung = [t for t in result.study.trials if t.user_attrs["rung"] == 0]
    assert [t.user_attrs["origin"] for t in first_rung] == ["rules"] + ["sampled"] * 4
    assert all(t.state.name != "FAIL" for t in result.study.trials), [
        t.user_attrs.get("error") for t in result.study.trials]
    for t in first_rung:  # 8 of the 40 steps: a fifth of the run at every length
        assert ScheduleSpec.from_json(t.user_attrs["spec"]).params["decay_fraction"] == 0.2


def test_nan_is_pruned_as_diverged(tmp_path):
    res = search(tmp_path, "nan_on_plateau", n_trials=4, fidelity=Fidelity(rungs=(0.25, 1.0)))
    plateau = [t for t in res.study.trials
               if ScheduleSpec.from_json(t.user_attrs["spec"]).family == "plateau"]
    assert plateau
    for t in plateau:
        assert t.state == optuna.trial.TrialState.PRUNED and t.user_attrs["diverged"]
    assert res.recommendation.spec.family != "plateau"


def test_a_maximizing_search_runs_plateau_with_mode_max(tmp_path):
    """ctx.report feeds plateau the study's value: in a study that maximises it (an
    accuracy), mode ``min`` cut the LR while the model improved. The rules' plateau
    (their second fine-tuning pick) and the sampled ones run with mode ``max``."""
    res = search(tmp_path, n_trials=6, direction="maximize",
                 profile={"task": "finetune", "total_steps": 40},
                 families=["linear", "plateau", "cosine"],
                 fidelity=Fidelity(rungs=(0.25, 1.0)))
    plateau = [t for t in res.study.trials
               if ScheduleSpec.from_json(t.user_attrs["spec"]).family == "plateau"]
    assert any(t.user_attrs["origin"] == "rules-alt" for t in plateau)
    assert {ScheduleSpec.from_json(t.user_attrs["spec"]).params["mode"] for t in plateau} \
        == {"max"}
    minimizing = search(tmp_path, n_trials=2, study_name="m",
                        profile={"task": "finetune", "total_steps": 40},
                        fidelity=Fidelity(rungs=(0.25, 1.0)))
    modes = {ScheduleSpec.from_json(t.user_attrs["spec"]).params.get("mode")
             for t in minimizing.study.trials}
    assert "max" not in modes and "min" in modes


def test_families_restrict_what_is_sampled(tmp_path):
    res = search(tmp_path, n_trials=6, families=["wsd", "linear"],
                 fidelity=Fidelity(rungs=(0.25, 1.0)))
    families = {ScheduleSpec.from_json(t.user_attrs["spec"]).family for t in res.study.trials}
    assert families <= {"wsd", "linear"}


def test_resume_by_name_adds_trials_and_keeps_the_first(tmp_path):
    fid = Fidelity(rungs=(0.25, 1.0))
    first = search(tmp_path, n_trials=3, fidelity=fid)
    numbers = [t.number for t in first.study.trials]
    second = search(tmp_path, n_trials=3, fidelity=fid)
    trials = second.study.trials
    assert [t.number for t in trials[: len(numbers)]] == numbers
    assert len([t for t in trials if t.user_attrs["rung"] == 0]) == 6
    assert not any(t.user_attrs["origin"].startswith("rules") for t in trials[len(numbers):])
    assert second.study_steps == sum(t.user_attrs["steps_used"] for t in trials)
    with pytest.raises(StudyError, match=r"runs rungs \[0.25, 1.0\], not \[0.5, 1.0\]"):
        search(tmp_path, n_trials=1, fidelity=Fidelity(rungs=(0.5, 1.0)))


def test_a_resume_runs_the_rules_pick_that_an_interrupt_cut_off(tmp_path):
    """Ctrl-C during the first trial fails the rules' pick as interrupted; the resumed
    search runs it again first, and it reaches the finals (it once counted as run)."""
    fid = Fidelity(rungs=(0.25, 1.0))
    ctrl_c = tmp_path / "ctrl-c"  # while it exists, the trainable is Ctrl-C'd at once
    ctrl_c.touch()
    script = tmp_path / "cut.py"  # one trainable: a resume with another is refused
    script.write_text(
        "import pathlib, runpy\n"
        f"_quadratic = runpy.run_path({FILE!r})['quadratic']\n\n\n"
        "def train(ctx):\n"
        f"    if pathlib.Path({str(ctrl_c)!r}).exists():\n"
        "        raise KeyboardInterrupt\n"
        "    return _quadratic(ctx)\n")
    args = {"profile": PROFILE, "storage": f"sqlite:///{tmp_path}/s.db", "study_name": "s",
            "n_trials": 3, "fidelity": fid, "device": "cpu"}
    first = run_search(f"{script}:train", **args)
    assert first.interrupted
    [cut] = first.study.trials
    assert [r.error for r in first.records] == ["interrupted"]  # the summary counts it
    assert (cut.state.name, cut.user_attrs["origin"]) == ("FAIL", "rules")
    ctrl_c.unlink()
    second = run_search(f"{script}:train", **args)
    again = second.study.trials[1]
    assert (again.state.name, again.user_attrs["origin"]) == ("COMPLETE", "rules")
    assert again.params == cut.params
    finals = [t for t in second.study.trials if t.user_attrs["rung"] == 1]
    assert any(t.user_attrs["parent"] == again.number for t in finals)


def test_a_budget_of_three_runs_the_trials_it_was_asked_for(tmp_path):
    """The README's ``--trials 16 --budget 3``: its rungs once ended at 0.33 and 0.345 of
    the run, which left the first rung the rules' 3 trials and no sampled one."""
    res = search(tmp_path, n_trials=16, budget=3.0)
    first = [t for t in res.study.trials if t.user_attrs["rung"] == 0]
    assert len(first) == 16
    assert res.steps_used <= 3.0 * 40


def test_budget_caps_the_steps(tmp_path):
    res = search(tmp_path, n_trials=30, budget=2.0)
    assert res.steps_used <= 2.0 * 40
    assert res.evidence["fraction"] == 0.25  # the final rung shrank to fit


def test_faults_before_any_trial(tmp_path):
    with pytest.raises(TrainableError):
        run_search("nope_module_xyz:train", profile=PROFILE, storage=f"sqlite:///{tmp_path}/a.db")
    with pytest.raises(StudyError, match="full run's length"):
        search(tmp_path, profile={"task": "scratch"})
    search(tmp_path, n_trials=1, fidelity=Fidelity(rungs=(0.5, 1.0)), study_name="d")
    with pytest.raises(StudyError, match="exists with direction minimize"):
        search(tmp_path, direction="maximize", study_name="d")
    with pytest.raises(StudyError, match="cannot open study storage"):
        search(tmp_path, storage="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not (tmp_path / "a.db").exists()


def test_smallest_builtin_workload_end_to_end(tmp_path):
    res = run_search(workload="digits-cnn", n_trials=3, storage=f"sqlite:///{tmp_path}/w.db",
                     fidelity=Fidelity(rungs=(0.05, 0.1)), device="cpu")
    assert res.full_steps == 800
    assert res.evidence["length_steps"] == 80
    assert math.isfinite(res.recommendation.score) and res.recommendation.score < 2.4


def test_the_rules_configuration_reaches_the_finals_within_a_budget(tmp_path):
    # A budget that cannot run every promoted configuration still runs the rules' one,
    # unpruned, and makes it a finalist: the final comparison includes the rules' answer.
    result = search(tmp_path, n_trials=12, budget=4, seed=1)
    records = result.records
    last = max(r.rung for r in records)
    rules_key = next(r.key for r in records if r.rung == 0 and r.origin == "rules")
    up = [r for r in records if r.rung == 1 and r.origin == "rules"]
    assert len(up) == 1 and up[0].state == "COMPLETE" and up[0].key == rules_key
    assert last == 2 and rules_key in {r.key for r in records if r.rung == last}


def test_sgd_proxies_train_at_the_peak_their_length_wants_and_store_the_full_runs(tmp_path):
    # The shipped [[horizon]] rule for SGD (b = 0.5): each proxy at a fraction f of the
    # run trains at its spec's peak (the full run's) times f^-0.5; the trainable returns
    # the peak it was handed, so each trial's value shows what it trained with.
    from lradvisor.search._recommend import study_recommendation

    sgd = {"task": "scratch", "optimizer": "sgd", "total_steps": 40}
    result = search(tmp_path, "returns_peak", n_trials=6, budget=2, seed=0, profile=sgd)
    done = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    assert {t.user_attrs["fidelity"] for t in done} == {0.1, 0.25}
    for t in done:
        full = ScheduleSpec.from_json(t.user_attrs["spec"]).peak_lr
        assert t.value == pytest.approx(full * t.user_attrs["fidelity"] ** -0.5)
        assert t.user_attrs["proxy_peak_lr"] == pytest.approx(t.value)
    rec, evidence = result.recommendation, result.evidence
    winner = result.study.trials[evidence["trial"]]
    assert rec.spec == ScheduleSpec.from_json(winner.user_attrs["spec"])  # the full run's
    assert evidence["proxy_peak_lr"] == pytest.approx(winner.value)
    assert "at 25% of the run at" in rec.rationale and "rule horizon-sgd:" in rec.rationale
    result.study.set_user_attr("recommendation", None)  # recomputed from the study alone
    assert study_recommendation(result.study) == rec
    full = search(tmp_path, "returns_peak", n_trials=3, profile=sgd, study_name="full",
                  fidelity=Fidelity(rungs=(0.25, 1.0)))
    finals = [t for t in full.study.trials if t.user_attrs["fidelity"] == 1.0]
    assert finals and all(
        t.value == ScheduleSpec.from_json(t.user_attrs["spec"]).peak_lr
        and "proxy_peak_lr" not in t.user_attrs for t in finals)
    adam = search(tmp_path, "returns_peak", n_trials=3, budget=2, study_name="adam",
                  profile={**sgd, "optimizer": "adam"})
    assert all(t.value == ScheduleSpec.from_json(t.user_attrs["spec"]).peak_lr
               for t in adam.study.trials if t.state.name == "COMPLETE")


def test_a_resume_with_the_same_families_in_another_order_keeps_the_studys_order(tmp_path):
    """Before: refused ('searches the families cosine,wsd,step, not step,cosine,wsd'), as
    was every resume after a learned guide ranked the same families otherwise."""
    fid = Fidelity(rungs=(0.25, 1.0))
    made = len(search(tmp_path, n_trials=1, fidelity=fid,
                      families=["cosine", "wsd", "step"]).study.trials)
    again = search(tmp_path, n_trials=2, fidelity=fid, families=["step", "cosine", "wsd"])
    assert list(again.study.user_attrs["space"]["families"]) == ["cosine", "wsd", "step"]
    assert again.trials_run > 0 and len(again.study.trials) == made + again.trials_run
    assert all(t.state != optuna.trial.TrialState.FAIL for t in again.study.trials)
