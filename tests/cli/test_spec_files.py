"""Study spec files (``search --spec``) and the flags that override them, through a real
``lradvisor`` subprocess: every bad file is one line naming the value, exit 2, and
nothing is created."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tests.conftest import one_line, run_cli

ROOT = Path(__file__).resolve().parents[2]
TRAINABLES = ROOT / "tests" / "search" / "search_trainables.py"
QUICK = (f'trainable = "{TRAINABLES}:quadratic"\ntask = "scratch"\ntotal_steps = 40\n'
         'trials = 1\nrungs = [0.25, 1.0]\n')


@pytest.mark.parametrize(("line", "message"), [
    ("rungs = [0.1, true]", "rungs in {} must be a list of numbers, but got [0.1, True]."),
    ("rungs = [[0.25], [1.0]]", "rungs in {} must be a list of numbers, but got"),
    ('families = [{ name = "cosine" }]', "families in {} must be a list of names, but got"),
    ("families = [1, 2]", "families in {} must be a list of names, but got [1, 2]."),
    ("rules = [1]", "rules in {} must be a list of file paths, but got [1]."),
])
def test_a_list_setting_with_an_item_of_the_wrong_type_is_one_line(tmp_path, line, message):
    """Before: ``true`` among the rungs was read as 1.0 and the search ran; a table
    among the families was a TypeError traceback (exit 1)."""
    spec = tmp_path / "study.toml"
    spec.write_text(QUICK.replace("rungs = [0.25, 1.0]\n", "") + line + "\n")
    proc = run_cli("search", "--spec", str(spec), cwd=tmp_path)
    assert one_line(proc).startswith("Error: " + message.format(repr(str(spec)))), proc.stderr
    assert not (tmp_path / "studies").exists()


def test_epochs_on_the_command_line_override_the_files_total_steps(tmp_path):
    """Flags win over the file: ``--total-steps`` already replaced the file's epochs,
    but ``--epochs`` against the file's ``total_steps`` was refused as a disagreement
    (``total_steps 40 disagrees with epochs x steps_per_epoch``)."""
    spec = tmp_path / "study.toml"
    spec.write_text(QUICK)
    proc = run_cli("search", "--spec", str(spec), "--epochs", "4", "--steps-per-epoch", "5",
                   "--storage", f"sqlite:///{tmp_path}/s.db", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total_steps"] == 20


@pytest.mark.parametrize("command", ["search", "worker"])
@pytest.mark.parametrize("text", ["", "# nothing yet\n", "total_steps = 40\n"])
def test_a_spec_file_that_names_nothing_to_search_says_so(tmp_path, command, text):
    """Before: ``Missing option '--task', '--workload' or '--spec'`` though --spec was
    given (and ``worker`` has neither --task nor --workload)."""
    spec = tmp_path / "study.toml"
    spec.write_text(text)
    proc = run_cli(command, "--spec", str(spec), cwd=tmp_path)
    assert one_line(proc).startswith(
        f"Error: study spec file {str(spec)!r} sets neither workload "
        'nor task: add workload = "NAME" or task = "..."'), proc.stderr
    assert not (tmp_path / "studies").exists()


def test_format_json_with_no_completed_trial_is_still_json(tmp_path):
    """Every trial failing leaves no recommendation; stdout was empty, which no JSON
    reader takes. It is ``null`` now; the search exits 1, its every trial failed."""
    trainable = tmp_path / "boom.py"
    trainable.write_text("def train(ctx):\n    raise RuntimeError('boom')\n")
    proc = run_cli("search", "--trainable", f"{trainable}:train", "--task", "scratch",
                   "--total-steps", "40", "--trials", "1", "--storage",
                   f"sqlite:///{tmp_path}/s.db", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "every trial failed (1 of 1)" in proc.stderr
    assert json.loads(proc.stdout) is None


def test_a_study_resumes_from_its_spec_file_under_another_budget(tmp_path):
    """The file's rungs are fitted to each call's budget; a resume with another
    --budget was refused (``runs rungs [0.25, 0.375], not [0.25, 0.5]``) though the
    rungs asked for were the same. The study keeps the rungs it runs; other rungs
    asked for are still refused."""
    spec = tmp_path / "study.toml"
    spec.write_text(QUICK + f'study = "s"\nstorage = "sqlite:///{tmp_path}/s.db"\n')
    first = run_cli("search", "--spec", str(spec), "--budget", "3", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli("search", "--spec", str(spec), "--budget", "4", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db")
    assert study.user_attrs["fidelity"]["rungs"] == [0.25, 0.375]
    assert len([t for t in study.trials if t.user_attrs["rung"] == 0]) == 2
    other = run_cli("search", "--spec", str(spec), "--budget", "4", "--rungs", "0.1,1",
                    cwd=tmp_path)
    assert one_line(other).startswith(
        "Error: study 's' runs rungs [0.25, 0.375], not [0.1, 1.0];"), other.stderr


@pytest.mark.parametrize(("text", "message"), [
    ('[profile]\ntask = "scratch"\ntotal_steps = 40\ntrials = 1\n',
     "'trials' in [profile] of {} is a search setting, not part of the profile: put it "
     "at the top level, above [profile]."),
    ('[profile]\ntask = "scratch"\ntotal_steps = 40\nspeed = 1\n',
     "unknown key 'speed' in [profile] of {}; allowed: task, arch,"),
    ('total_steps = 40\n[profile]\ntask = "scratch"\ntotal_steps = 80\n',
     "total_steps is set twice in {}, at the top level and in [profile]; keep one."),
])
def test_a_key_in_the_wrong_place_of_a_spec_file_is_named_with_the_file(tmp_path, text,
                                                                          message):
    """Before: a search setting in [profile] read ``unknown profile field 'trials'``
    (no file, no hint), and a length set twice took the top level's silently."""
    spec = tmp_path / "study.toml"
    spec.write_text(f'trainable = "{TRAINABLES}:quadratic"\n' + text)
    proc = run_cli("search", "--spec", str(spec), "--storage", f"sqlite:///{tmp_path}/s.db",
                   cwd=tmp_path)
    assert one_line(proc).startswith("Error: " + message.format(repr(str(spec)))), proc.stderr
    assert not (tmp_path / "s.db").exists()


def test_profile_keys_in_a_spec_files_profile_table_may_use_dashes(tmp_path):
    """As at the top level (``total-steps``); ``[profile] steps-per-epoch`` was an
    unknown profile field."""
    spec = tmp_path / "study.toml"
    spec.write_text(QUICK.replace("total_steps = 40\n", "") + "[profile]\ntotal-steps = 40\n"
                    "steps-per-epoch = 8\n")
    proc = run_cli("search", "--spec", str(spec), "--storage", f"sqlite:///{tmp_path}/s.db",
                   "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total_steps"] == 40


@pytest.mark.parametrize("name", ["study.yaml", "study.yml"])
def test_a_yaml_spec_file_is_told_that_spec_files_are_toml(tmp_path, name):
    """Spec files are TOML only (PyYAML is not a dependency); a YAML file read as
    ``not valid TOML: Expected '=' after a key`` with no word of why."""
    spec = tmp_path / name
    spec.write_text("workload: tabular-mlp\ntrials: 4\n")
    proc = run_cli("search", "--spec", str(spec), cwd=tmp_path)
    assert one_line(proc).startswith(
        f"Error: study spec file {str(spec)!r} is not valid TOML (spec "
        "files are TOML, as studies/*.toml; YAML is not read): Expected '='"), proc.stderr


def test_a_spec_file_that_cannot_be_read_is_one_line(tmp_path):
    """A spec path whose parent is a file (an OSError other than 'no such file') was a
    NotADirectoryError traceback, exit 1."""
    (tmp_path / "plain").write_text("")
    proc = run_cli("search", "--spec", str(tmp_path / "plain" / "study.toml"), cwd=tmp_path)
    assert one_line(proc).startswith(
        f"Error: study spec file {str(tmp_path / 'plain' / 'study.toml')!r}"
        " cannot be read: Not a directory."), proc.stderr


def test_a_relative_path_in_a_spec_file_is_from_where_the_command_runs(tmp_path):
    """A trainable beside its spec file, run from another folder, read ``no file
    'train.py'`` with no word of where it was looked for; it names that folder now,
    and the file beside the spec. The path from the current directory works."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "train.py").write_text(TRAINABLES.read_text())
    spec = tmp_path / "proj" / "study.toml"
    spec.write_text(QUICK.replace(f"{TRAINABLES}:quadratic", "train.py:quadratic")
                    + f'storage = "sqlite:///{tmp_path}/s.db"\n')
    proc = run_cli("search", "--spec", "proj/study.toml", cwd=tmp_path)
    assert one_line(proc).startswith(
        f"Error: trainable 'train.py' in 'proj/study.toml' is not in "
        f"{str(tmp_path)!r}: relative paths in a spec file are taken from where "
        "the command runs; the one beside the spec file is 'proj/train.py'."), proc.stderr
    assert not (tmp_path / "s.db").exists()
    spec.write_text(spec.read_text().replace("train.py:", "proj/train.py:"))
    assert run_cli("search", "--spec", "proj/study.toml", cwd=tmp_path).returncode == 0


def _created(tmp_path, *args):
    """The attributes of the study ``search --create-only ARGS`` made (exit 0)."""
    url = f"sqlite:///{tmp_path}/s.db"
    proc = run_cli("search", *args, "--study", "s", "--storage", url, "--create-only",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return optuna.load_study(study_name="s", storage=url).user_attrs


def test_workload_on_the_command_line_replaces_the_files_trainable(tmp_path):
    """Flags win over the file: --workload kept the file's trainable (the study trained
    the file's function on the workload's profile)."""
    spec = tmp_path / "study.toml"
    spec.write_text(QUICK)
    attrs = _created(tmp_path, "--spec", str(spec), "--workload", "tabular-mlp")
    assert attrs["workload"] == "tabular-mlp"
    assert attrs["trainable"] == "lradvisor.workloads._tabular_mlp:train"


def test_trainable_on_the_command_line_replaces_the_files_workload(tmp_path):
    """--trainable over a file's workload trained on the workload's profile, the study
    recording the workload; the file's workload (its trainable and profile) is
    replaced, and a profile left without a task says what to give."""
    spec = tmp_path / "study.toml"
    spec.write_text('workload = "tabular-mlp"\ntrials = 1\nrungs = [0.25, 1.0]\n')
    attrs = _created(tmp_path, "--spec", str(spec), "--trainable",
                     f"{TRAINABLES}:quadratic", "--task", "scratch", "--total-steps", "40")
    assert attrs["workload"] is None
    assert attrs["trainable"] == f"{TRAINABLES}:quadratic"
    assert attrs["profile"]["arch"] is None and attrs["full_steps"] == 40
    proc = run_cli("search", "--spec", str(spec), "--trainable", f"{TRAINABLES}:quadratic",
                   "--storage", f"sqlite:///{tmp_path}/t.db", cwd=tmp_path)
    assert one_line(proc).startswith(
        f"Error: --trainable replaces the workload 'tabular-mlp' of "
        f"{str(spec)!r}, its profile too: give --task and the run's length "
        "(--total-steps), or add --workload tabular-mlp to train on its profile."), proc.stderr
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(("args", "text", "message"), [
    (("--rungs", "0.1,,1"), "", "--rungs has an empty item in '0.1,,1': give "
     "comma-separated fractions of the run, e.g. 0.1,0.33,1."),
    (("--rungs", "0.25,1,"), "", "--rungs has an empty item in '0.25,1,'"),
    (("--families", "cosine,,wsd"), "", "--families has an empty item in 'cosine,,wsd': "
     "give comma-separated family names, e.g. cosine,wsd."),
    ((), 'rungs = "0.1,,1"\n', "rungs in {} has an empty item in '0.1,,1'"),
    ((), "trials = 0\n", "trials in {} must be an integer >= 1, but got 0."),
    (("--trials", "0"), "", "Invalid value for '--trials': 0 is not in the range x>=1."),
])
def test_an_empty_list_item_or_no_trials_is_one_line(tmp_path, args, text, message):
    """``--rungs 0.1,,1`` ran as rungs 0.1,1 (the empty item dropped without a word);
    ``trials = 0`` in a file and ``--trials 0`` were named by the Python API's word
    (``n_trials must be an integer >= 1``)."""
    spec = tmp_path / "study.toml"
    spec.write_text(QUICK.replace("trials = 1\nrungs = [0.25, 1.0]\n", "") + text)
    proc = run_cli("search", "--spec", str(spec), *args, "--storage",
                   f"sqlite:///{tmp_path}/s.db", cwd=tmp_path)
    assert one_line(proc).startswith("Error: " + message.format(repr(str(spec)))), proc.stderr
    assert not (tmp_path / "s.db").exists()
