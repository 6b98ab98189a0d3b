"""Resuming a study from the command line (``search --study NAME`` that exists) and
creating one for workers (``search --create-only``), through a real ``lradvisor``
subprocess on real SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
TRAINABLES = ROOT / "tests" / "search" / "search_trainables.py"
QUICK = ("--task", "scratch", "--total-steps", "40", "--trials", "1", "--rungs", "0.25,1",
         "--study", "s")


def _search(tmp_path, fn, *args):
    return run_cli("search", "--trainable", f"{TRAINABLES}:{fn}", *QUICK, "--storage",
                   f"sqlite:///{tmp_path}/s.db", *args, cwd=tmp_path)


def test_a_resume_with_another_trainable_is_one_line_naming_both(tmp_path):
    """Before: it ran and overwrote the stored trainable (exit 0), mixing two models'
    values in one study."""
    assert _search(tmp_path, "quadratic").returncode == 0
    proc = _search(tmp_path, "returns_peak")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"Error: study 's' trains '{TRAINABLES}:quadratic', not '{TRAINABLES}:returns_peak'"
        ": trial values of another model do not compare; use another --study name.")


def test_a_resume_under_another_pruner_and_seed_is_shown_beside_the_creations(tmp_path):
    """Before: the resume's pruner and seed overwrote the creation's without a word, and
    ``studies show`` showed neither."""
    assert _search(tmp_path, "quadratic").returncode == 0
    again = _search(tmp_path, "quadratic", "--pruner", "median", "--seed", "3")
    assert again.returncode == 0, again.stderr
    show = run_cli("studies", "show", "s", "--storage", f"sqlite:///{tmp_path}/s.db",
                   cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    lines = show.stdout.splitlines()
    assert "created with: pruner plateau, sampler tpe, seed 0" in lines
    resumed = [line for line in lines if line.startswith("resumed ")]
    assert len(resumed) == 1 and resumed[0].endswith(
        " with: pruner median, sampler tpe, seed 3"), show.stdout


def _run_settings(tmp_path):
    """The study's stored settings: the creation's, its resumes', its first-rung trials'
    seeds (finalists run the seed and the next)."""
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db")
    attrs = study.user_attrs
    resumes = [{k: v for k, v in r.items() if k != "at"} for r in attrs.get("resumes", [])]
    seeds = {t.user_attrs.get("seed") for t in study.trials if t.user_attrs.get("rung") == 0}
    return (attrs["pruner"], attrs["sampler"], attrs["seed"]), resumes, seeds


def test_a_resume_without_pruner_sampler_or_seed_keeps_the_studys(tmp_path):
    """Before: the resume ran with the defaults (plateau, tpe, seed 0) and recorded them
    as a change, as Optuna's ``load_if_exists`` never does; ``studies show`` said it was
    resumed with other settings."""
    made = _search(tmp_path, "quadratic", "--pruner", "median", "--sampler", "random",
                   "--seed", "7")
    assert made.returncode == 0, made.stderr
    again = _search(tmp_path, "quadratic")
    assert again.returncode == 0, again.stderr
    assert _run_settings(tmp_path) == (("median", "random", 7), [], {7})
    show = run_cli("studies", "show", "s", "--storage", f"sqlite:///{tmp_path}/s.db",
                   cwd=tmp_path)
    assert "created with: pruner median, sampler random, seed 7" in show.stdout.splitlines()
    assert "resumed " not in show.stdout, show.stdout


def test_a_spec_files_settings_count_as_given_and_a_resume_without_them_keeps_them(
        tmp_path):
    """A spec file's pruner and seed are given: they make the study, a resume by flags
    alone keeps them, and the file's other seed is recorded as a change."""
    spec = tmp_path / "s.toml"
    body = (f'trainable = "{TRAINABLES}:quadratic"\ntask = "scratch"\ntotal_steps = 40\n'
            f'trials = 1\nrungs = [0.25, 1]\nstudy = "s"\n'
            f'storage = "sqlite:///{tmp_path}/s.db"\npruner = "median"\n')
    spec.write_text(body + "seed = 7\n")
    made = run_cli("search", "--spec", str(spec), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert _search(tmp_path, "quadratic").returncode == 0
    assert _run_settings(tmp_path) == (("median", "tpe", 7), [], {7})
    spec.write_text(body + "seed = 8\n")
    again = run_cli("search", "--spec", str(spec), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _run_settings(tmp_path) == (
        ("median", "tpe", 7), [{"pruner": "median", "sampler": "tpe", "seed": 8}], {7, 8})


def test_create_only_again_without_settings_keeps_the_studys_for_its_workers(tmp_path):
    """Before: ``search --create-only`` again without --pruner/--seed recorded plateau and
    seed 0 as a resume, and the workers ran with them."""
    made = _search(tmp_path, "quadratic", "--create-only", "--pruner", "median", "--seed", "7")
    assert made.returncode == 0, made.stderr
    again = _search(tmp_path, "quadratic", "--create-only", "--format", "json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert (data["pruner"], data["sampler"], data["seed"]) == ("median", "tpe", 7)
    assert _run_settings(tmp_path)[:2] == (("median", "tpe", 7), [])


def test_create_only_with_format_json_prints_the_study_as_json(tmp_path):
    """Before: the text for people (``created study 's'; start workers with: ...``)
    whatever --format said, which no JSON reader takes."""
    url = f"sqlite:///{tmp_path}/s.db"
    proc = _search(tmp_path, "quadratic", "--create-only", "--format", "json", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["study"] == "s" and data["storage"] == url
    assert data["trainable"] == f"{TRAINABLES}:quadratic"
    assert (data["trials"], data["rungs"], data["full_steps"]) == (1, [0.25, 1.0], 40)
    assert (data["pruner"], data["sampler"], data["seed"]) == ("plateau", "tpe", 7)
    assert data["worker"] == f"lradvisor worker --study s --storage {url}"
    assert optuna.load_study(study_name="s", storage=url).user_attrs["seed"] == 7


def test_a_resume_judges_its_trials_beside_those_an_older_version_stored(tmp_path):
    """Before f8d6f5b a rule's ``warmup_steps = 8`` stayed in steps in every sampled
    spec, so such a study holds trials with 8 warmup steps in a 10-step proxy, past the
    half of the run that build_scheduler has allowed since bb01fd8. Resumed, every new
    rung-0 trial failed with that SpecError ('4 of the 6 trial(s) run failed'): the
    pruner built the stored trials' LR from inside the trainable's report."""
    from lradvisor.schedules import ScheduleSpec

    url = f"sqlite:///{tmp_path}/s.db"
    assert _search(tmp_path, "quadratic", "--families", "cosine").returncode == 0
    study = optuna.load_study(study_name="s", storage=url)
    stored = ScheduleSpec.create("cosine", warmup_steps=8, peak_lr=0.01).to_json()
    for i in range(6):
        values = {step: 40.0 - step * (i + 1) for step in (2, 4, 6, 8, 10)}
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=values[10],
            intermediate_values=values,
            user_attrs={"spec": stored, "total_steps": 10, "rung": 0, "steps_used": 10}))
    proc = _search(tmp_path, "quadratic", "--families", "cosine", "--trials", "4")
    assert proc.returncode == 0, proc.stderr
    assert "trial(s) run failed" not in proc.stderr, proc.stderr


def test_a_study_an_older_guide_made_is_refused_naming_what_changed_not_rules_files(tmp_path):
    """A study of an epoch-stepped finetune made before 0aaba69 fixed warmup_start_factor
    at 0; today's guide starts such a warmup at 1/(w+1). Its resume (and a worker) was
    told to 'resume it with the --rules files it was made with', though none was ever
    given, and not what changed."""
    url = f"sqlite:///{tmp_path}/s.db"
    args = ("search", "--trainable", f"{TRAINABLES}:quadratic", "--task", "finetune",
            "--arch", "transformer", "--epochs", "12", "--trials", "2", "--study", "ep",
            "--storage", url)
    assert run_cli(*args, "--create-only", cwd=tmp_path).returncode == 0
    study = optuna.load_study(study_name="ep", storage=url)
    prior = study.user_attrs["rules_prior"]  # as the older guide concluded it
    for family in prior["families"]:
        family["fixed"]["warmup_start_factor"] = 0.0
    study.set_user_attr("rules_prior", prior)
    changed = "linear.warmup_start_factor was fixed at 0.0, now fixed at 0.5; "
    resumed = run_cli(*args, cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    [line] = resumed.stderr.strip().splitlines()
    assert changed + "it was made with --rules files, or by an lradvisor version" in line
    worker = run_cli("worker", "--study", "ep", "--storage", url, "--device", "cpu",
                     cwd=tmp_path)
    assert worker.returncode == 2, worker.stderr
    [line] = worker.stderr.strip().splitlines()
    assert line.endswith(changed + "it was made by an lradvisor version whose guide "
                         "concluded otherwise: run its workers with that version, or create "
                         "another study."), line
