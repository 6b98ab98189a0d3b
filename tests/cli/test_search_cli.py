"""``lradvisor search`` and ``lradvisor studies``: real subprocesses and CliRunner."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from lradvisor.cli import cli as cli_group
from lradvisor.cli._spec import read_spec_file
from lradvisor.errors import StudyError
from tests.conftest import interrupt_cli

ROOT = Path(__file__).resolve().parents[2]
TRAINABLES = ROOT / "tests" / "search" / "search_trainables.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "lradvisor", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One real `lradvisor search` subprocess from a spec file, flags overriding it."""
    where = tmp_path_factory.mktemp("cli")
    (where / "study.toml").write_text(
        f'trainable = "{TRAINABLES}:quadratic"\nstudy = "c"\ntrials = 40\nrungs = [0.25, 1.0]\n'
        '[profile]\ntask = "scratch"\ntotal_steps = 40\n'
    )
    proc = run("search", "--spec", "study.toml", "--trials", "4", cwd=where)
    return where, proc


def test_search_prints_progress_and_the_full_run_recommendation(searched):
    where, proc = searched
    assert proc.returncode == 0, proc.stderr
    assert "search rung" in proc.stderr and "best" in proc.stderr and "pruned" in proc.stderr
    assert "Recommended schedule for the full run (40 steps), from study 'c'" in proc.stdout
    assert "Evidence: study 'c': last evaluated at 100% of the run" in proc.stdout
    runners_up = proc.stdout.split("Runners-up:")[1]  # the other finalist, with its numbers
    assert "2. " in runners_up and "A finalist at 100% of the run: worst seed" in runners_up
    assert "The pick led it by" in runners_up
    assert (where / "studies" / "lradvisor.db").exists()  # the default storage, created
    study = optuna.load_study(study_name="c", storage=f"sqlite:///{where}/studies/lradvisor.db")
    assert len([t for t in study.trials if t.user_attrs["rung"] == 0]) == 4  # flag beat file


def test_the_bar_ends_at_the_runs_made_when_the_budget_stops_short_of_its_estimate(
        searched):
    where, _ = searched
    storage = f"sqlite:///{where}/bar.db"  # not the module's shared database
    proc = run("search", "--spec", "study.toml", "--study", "bar", "--trials", "8",
               "--budget", "2.5", "--storage", storage, cwd=where)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="bar", storage=storage)
    last = [s for s in re.split(r"[\r\n]", proc.stderr) if "search rung" in s][-1]
    done, total = map(int, re.search(r"(\d+)/(\d+)", last).groups())
    assert done == total == len(study.trials) < 12, last  # 12: the estimate at the start


def invoke(where, *args):
    old = Path.cwd()
    os.chdir(where)
    try:
        return CliRunner().invoke(cli_group, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def test_studies_list_show_best_export_delete(searched):
    where, _ = searched
    listed = invoke(where, "studies", "list")
    assert listed.exit_code == 0 and listed.output.splitlines()[1].startswith("c ")
    shown = invoke(where, "studies", "show", "c", "--plot", "plots")
    assert shown.exit_code == 0
    assert "Recommendation:" in shown.output and "finalist" in shown.output
    for name in ("lr_curves.png", "val_curves.png", "families.png"):
        data = (where / "plots" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    answered = json.loads(invoke(where, "suggest", "--study", "c", "--format", "json").output)
    assert answered["alternatives"] and answered["alternatives"][0]["rationale"].startswith(
        "A finalist at 100% of the run")
    best = invoke(where, "studies", "best", "c", "--format", "json")
    assert json.loads(best.output)["total_steps"] == 40
    csv_out = invoke(where, "studies", "export", "c", "--format", "csv").output.splitlines()
    assert csv_out[0].startswith("number,state,value,rung") and len(csv_out) > 5
    exported = json.loads(invoke(where, "studies", "export", "c", "--format", "json").output)
    assert exported["trials"][0]["curve"] and exported["user_attrs"]["recommendation"]
    assert invoke(where, "studies", "delete", "c", "--yes").exit_code == 0
    assert "No studies" in invoke(where, "studies", "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--trainable", "no_such_module_xyz:train"),
         "Error: trainable 'no_such_module_xyz:train'"),
        (("--trainable", f"{TRAINABLES}:quadratic", "--storage", "nosuchdb://x/y"),
         "Error: cannot open study storage"),
    ],
)
def test_bad_trainable_or_storage_is_one_line_exit_2(tmp_path, args, message):
    proc = run("search", "--task", "scratch", "--total-steps", "40", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(message) and "Traceback" not in proc.stderr


def _line_of(text: str) -> int:
    """The line of ``search_trainables.py`` that holds ``text``."""
    return next(i for i, line in enumerate(TRAINABLES.read_text().splitlines(), 1)
                if text in line)


def test_a_search_whose_every_trial_fails_says_so_in_one_line_exit_1(tmp_path):
    """It exited 0 and printed only 'No recommendation yet', never the error."""
    proc = run("search", "--task", "scratch", "--total-steps", "40", "--trainable",
               f"{TRAINABLES}:always_fails", "--trials", "3", "--format", "json",
               "--storage", f"sqlite:///{tmp_path}/f.db", "--study", "f", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert json.loads(proc.stdout) is None  # stdout is still one JSON document
    where = f"{TRAINABLES}:{_line_of('no batches for')} in always_fails"
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("Error: search: every trial failed (3 of 3); the first: ValueError: no "
                    f"batches for 4 steps (at {where})")
    assert "Traceback" not in proc.stderr and "No recommendation yet" not in proc.stderr
    kept = _kept(tmp_path, "f")  # the failed trials are stored, with the same line
    assert [t.state.name for t in kept] == ["FAIL"] * 3
    assert kept[0].user_attrs["error"] == "ValueError: no batches for 4 steps (at " \
        f"{where})"


def test_a_search_with_failed_trials_names_them_and_the_first_error(tmp_path):
    result = CliRunner().invoke(cli_group, [
        "search", "--task", "scratch", "--total-steps", "40", "--trainable",
        f"{TRAINABLES}:fails_on_onecycle", "--trials", "4", "--rungs", "0.25,1",
        "--storage", f"sqlite:///{tmp_path}/p.db", "--study", "p"])
    assert result.exit_code == 0, result.output
    failed = [t for t in _kept(tmp_path, "p") if t.state.name == "FAIL"]
    runs = len(_kept(tmp_path, "p"))
    line = _line_of("boom: onecycle at peak")
    assert (f"{len(failed)} of the {runs} trial(s) run failed; the first (trial "
            f"{failed[0].number}): RuntimeError: boom: onecycle at peak") in result.stderr
    assert f"search_trainables.py:{line} in fails_on_onecycle)\n" in result.stderr
    assert "Recommended schedule for the full run" in result.stdout


def _interrupted_after_two_trials(tmp_path, trainable: str,
                                  delay: float = 0.0) -> tuple[int, str]:
    """Start a search of ``trainable`` (1 s a trial), send it Ctrl-C ``delay`` seconds
    after the progress bar says two trials have finished (each is then committed); its
    exit status and stderr."""
    return interrupt_cli(
        "search", "--task", "scratch", "--total-steps", "40", "--trainable",
        f"{TRAINABLES}:{trainable}", "--trials", "30", "--storage",
        f"sqlite:///{tmp_path}/i.db", "--study", "i",
        after=r"\b([2-9]|[1-9]\d+)/\d+ \[", delay=delay, cwd=tmp_path,
        env={"SLOW_SECONDS": "1.0"})


def _kept(tmp_path, name: str = "i") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name,
                             storage=f"sqlite:///{tmp_path}/{name}.db").trials


def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(tmp_path):
    code, err = _interrupted_after_two_trials(tmp_path, "slow")
    assert code == 130, err[-3000:]
    assert "Interrupted: finished trials are kept in study 'i'" in err
    assert "Traceback" not in err
    kept = _kept(tmp_path)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in kept) >= 2


def test_ctrl_c_that_the_trainable_swallows_still_stops_the_search(tmp_path):
    """Ctrl-C half a second into the third trial, which catches KeyboardInterrupt and
    returns: that trial completes, and the search stops before the next one (it would
    otherwise run 30 trials and the rungs)."""
    code, err = _interrupted_after_two_trials(tmp_path, "swallows_ctrl_c", delay=0.5)
    assert code == 130, err[-3000:]
    assert "Interrupted: finished trials are kept in study 'i'" in err
    assert "Traceback" not in err
    kept = _kept(tmp_path)
    # the third trial completes (or, should Ctrl-C miss its sleep, is failed as
    # interrupted); none starts after it
    assert len(kept) <= 3
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in kept) >= 2


def test_a_resume_after_a_kill_runs_the_killed_trial_again(tmp_path):
    """SIGKILL mid-trial leaves that trial RUNNING; the next search on the study fails it
    as interrupted (its process is gone) and runs its configuration again (before, it
    stayed RUNNING for ever and its configuration counted as run)."""
    args = ("search", "--task", "scratch", "--total-steps", "40", "--trainable",
            f"{TRAINABLES}:slow", "--trials", "3", "--storage", f"sqlite:///{tmp_path}/k.db",
            "--study", "k", "--budget", "1")
    code, err = interrupt_cli(*args, after=r"\b1/\d+ \[", delay=0.5, cwd=tmp_path,
                              env={"SLOW_SECONDS": "1.0"}, sig=signal.SIGKILL)
    assert code == -signal.SIGKILL, err[-2000:]
    [killed] = [t for t in _kept(tmp_path, "k") if t.state.name == "RUNNING"]
    proc = run(*args, cwd=tmp_path, env={"SLOW_SECONDS": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    trials = _kept(tmp_path, "k")
    assert not [t for t in trials if t.state.name == "RUNNING"]
    cut = trials[killed.number]
    assert (cut.state.name, cut.user_attrs["error"]) == ("FAIL", "interrupted")
    again = [t for t in trials[killed.number + 1:] if t.user_attrs["rung"] == 0
             and t.user_attrs["spec"] == killed.user_attrs["spec"]]
    assert [t.state.name for t in again] == ["COMPLETE"]


def test_spec_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('workload = "digits-cnn"\nspeed = 3\n')
    with pytest.raises(StudyError, match="unknown key 'speed'"):
        read_spec_file(str(bad))
    bad.write_text("workload = \n")
    with pytest.raises(StudyError, match="not valid TOML"):
        read_spec_file(str(bad))
    with pytest.raises(StudyError, match="no study spec file"):
        read_spec_file(str(tmp_path / "missing.toml"))


@pytest.mark.parametrize(("line", "message"), [
    ('seed = "x"', "seed in .* must be an integer, but got 'x'"),
    ("trials = true", "trials in .* must be an integer, but got True"),
    ('timeout = "soon"', "timeout in .* must be a number, but got 'soon'"),
    ("lr_find = 1", "lr_find in .* must be true or false, but got 1"),
    ("profile = 3", r"profile in .* must be a table \(\[profile\]\), but got 3"),
    ("storage = 5", "storage in .* must be a string, but got 5"),
])
def test_spec_file_settings_of_the_wrong_type_name_it(tmp_path, line, message):
    """Each wrong type is one error naming the setting (before: numpy's TypeError for a
    text seed, a string of rules read one character at a time)."""
    bad = tmp_path / "bad.toml"
    bad.write_text(f'workload = "digits-cnn"\n{line}\n')
    with pytest.raises(StudyError, match=message):
        read_spec_file(str(bad))


def test_a_spec_files_one_rules_file_may_be_a_string(tmp_path):
    spec = tmp_path / "one.toml"
    spec.write_text('workload = "digits-cnn"\nrules = "mine.toml"\n')
    assert read_spec_file(str(spec))["rules"] == ["mine.toml"]


@pytest.mark.parametrize(("args", "message"), [
    (("--seed", "-1"), "Error: seed must be an integer in [0, 4294967295], but got -1."),
    (("--seed", "4294967296"), "Error: seed must be an integer in [0, 4294967295]"),
    (("--timeout", "nan"), "Error: timeout must be a number of seconds > 0, but got nan."),
    (("--timeout", "0"), "Error: timeout must be a number of seconds > 0, but got 0.0."),
    (("--families", ""), "Error: families must list at least one item, but got ''."),
    (("--families", ","), "Error: families must list at least one item, but got ','."),
])
def test_bad_seed_timeout_or_families_is_one_line_exit_2(tmp_path, args, message):
    """Before: numpy's traceback for the seed; a NaN timeout never passed, 0 ran nothing;
    an empty --families searched every family."""
    proc = run("search", "--task", "scratch", "--total-steps", "40", "--trainable",
               f"{TRAINABLES}:quadratic", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(message), proc.stderr
    assert not (tmp_path / "studies").exists()


def test_shipped_study_specs_parse():
    for path in sorted((ROOT / "studies").glob("*.toml")):
        settings = read_spec_file(str(path))
        assert settings["workload"] == path.stem and settings["trials"] >= 1
