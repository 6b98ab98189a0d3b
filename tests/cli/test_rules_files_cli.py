"""``--rules FILE`` as a user gives it: each bad file is one line naming it, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import one_line, run_cli

PROFILE = ("--task", "scratch", "--arch", "cnn", "--epochs", "30", "--steps-per-epoch", "100")


def rule(body: str) -> bytes:
    return f'[[rule]]\nid = "r1"\nreason = "x"\nfamily = "cosine"\n{body}\n'.encode()


def lr(body: str) -> bytes:
    return f'[[lr]]\nid = "l1"\nreason = "x"\n{body}\n'.encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[[rule]]\nid = "r1"\nreason = "caf\xe9"\nfamily = "cosine"\n',
         r"is not UTF-8 text \(byte 0xe9"),
        (rule("score = nan"), r"\('r1'\): score must be a finite number, but got nan"),
        (rule("score = inf"), r"score must be a finite number, but got inf"),
        (lr("peak = 0.1\nrange = [0.01, inf]"), r"\('l1'\): range must be \[low, high\]"),
        (rule("params = { warmup_fraction = { epochs = inf, default = 0.1 } }"),
         r"params.warmup_fraction = .*a value table is"),
        (rule("when = { epochs = { min = nan } }"), r"when.epochs = .*\(min <= max\)"),
        (rule("when = { epochs = { min = 10, max = 5 } }"), r"when.epochs = .*\(min <= max\)"),
        (rule("when = { epochs = [] }"), r"when.epochs = \[\]: a list of values matches none"),
        (rule('params = { warmup_fraction = "0.1" }'),
         r"params.cosine.warmup_fraction must be a number in \[0, 0.5\], but got the text"),
        (rule('prior = { warmup_fraction = "x" }'), r"\('r1'\): prior.warmup_fraction must"),
        (b'[[rule]]\nid = "scratch-cnn-cosinus"\nenabled = false\n',
         r"rule 'scratch-cnn-cosinus': enabled = false switches off no rule"),
    ],
)
def test_a_bad_rules_file_is_one_line_naming_it_exit_2(tmp_path, content, message):
    path = tmp_path / "mine.toml"
    path.write_bytes(content)
    proc = run_cli("suggest", *PROFILE, "--rules", str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr
    assert re.search(message, proc.stderr), proc.stderr


def test_a_rule_whose_decay_passes_the_runs_end_is_refused_for_that_run(tmp_path):
    """Its wsd decay of 5000 steps was cut to the 3000-step run without a word; the rule
    is still fine for a run it fits."""
    path = tmp_path / "mine.toml"
    path.write_text('[[rule]]\nid = "mine"\nwhen = { task = "scratch" }\nfamily = "wsd"\n'
                    'score = 1000\nparams = { decay_steps = 5000 }\nreason = "Mine."\n')
    proc = run_cli("suggest", "--task", "scratch", "--total-steps", "3000", "--rules", str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"Error: {path}: rule 'mine' gives an invalid schedule for task=scratch length=3000 "
        "steps: wsd.decay_steps must be an integer in [1, 3000] (the steps of this run after "
        "warmup), but got 5000."]
    proc = run_cli("suggest", "--task", "scratch", "--total-steps", "6000", "--rules", str(path))
    assert proc.returncode == 0, proc.stderr


TRAINABLES = Path(__file__).resolve().parents[1] / "search" / "search_trainables.py"


def test_a_rule_whose_warmup_passes_half_the_run_is_refused_alike_by_suggest_and_search(
        tmp_path):
    """Its warmup_steps = 60 of a 100-step run was suggested, and a search of it failed
    every trial with 'cosine.warmup_fraction must be a number in [0, 0.5], but got 0.6'
    (exit 1, the rules' own trial left out): a parameter the file never gave."""
    path = tmp_path / "mine.toml"
    path.write_text('[[rule]]\nid = "mine"\nwhen = { task = "scratch" }\nfamily = "cosine"\n'
                    'score = 1000\nparams = { warmup_steps = 60 }\nreason = "Mine."\n')
    line = (f"Error: {path}: rule 'mine' gives an invalid schedule for task=scratch length=100 "
            "steps: cosine.warmup_steps must be an integer in [0, 50] (at most half the steps "
            "of this run), but got 60.")
    length = ("--task", "scratch", "--total-steps", "100", "--rules", str(path))
    assert one_line(run_cli("suggest", *length, cwd=tmp_path)) == line
    searched = run_cli("search", *length, "--families", "cosine", "--trials", "3",
                       "--trainable", f"{TRAINABLES}:quadratic",
                       "--storage", f"sqlite:///{tmp_path / 's.db'}", cwd=tmp_path)
    assert one_line(searched) == line  # before any trial: no study made
    assert not (tmp_path / "s.db").exists()
    proc = run_cli("suggest", "--task", "scratch", "--total-steps", "120", "--rules", str(path))
    assert proc.returncode == 0, proc.stderr  # 60 is half of a 120-step run


def test_switching_off_a_shipped_rule_still_works(tmp_path):
    path = tmp_path / "off.toml"
    path.write_text('[[rule]]\nid = "scratch-cnn-cosine"\nenabled = false\n')
    proc = run_cli("suggest", *PROFILE, "--rules", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "scratch-cnn-cosine" not in proc.stdout.split('"trace"')[0]


def test_a_resume_with_other_rules_is_refused(tmp_path):
    storage = f"sqlite:///{tmp_path / 'st.db'}"
    first, other = tmp_path / "a.toml", tmp_path / "b.toml"
    for path, peak in ((first, 0.05), (other, 0.02)):
        path.write_text(f'[[lr]]\nid = "mine"\nwhen = {{ task = "scratch" }}\npeak = {peak}\n'
                        'range = [0.01, 0.2]\nscore = 1000\nreason = "Mine."\n')
    args = ("search", "--workload", "digits-cnn", "--create-only", "--study", "s",
            "--storage", storage, "--trials", "4")
    assert run_cli(*args, "--rules", str(first)).returncode == 0
    assert run_cli(*args, "--rules", str(first)).returncode == 0  # the same rules: resumed
    for given in (("--rules", str(other)), ()):
        proc = run_cli(*args, *given)
        assert proc.returncode == 2, proc.stderr
        assert "study 's' was made with other rules" in proc.stderr
        assert proc.stderr.count("\n") == 1


def test_a_resume_after_the_rules_file_changed_its_schedule_is_refused(tmp_path):
    """The same path, edited between the search and its resume: a new floor inside the
    searched range leaves the prior as it was, so the resume went on and ran a second
    'rules' trial with the new schedule beside the old one. What the rules conclude is
    compared, not the file's bytes: an edit of the reason alone still resumes."""
    storage = f"sqlite:///{tmp_path / 'st.db'}"
    path = tmp_path / "mine.toml"

    def write(floor: float, reason: str) -> None:
        path.write_text(f'[[rule]]\nid = "mine"\nwhen = {{ task = "scratch" }}\n'
                        f'family = "cosine"\nscore = 1000\nparams = {{ min_lr_ratio = {floor} }}'
                        f'\nreason = "{reason}"\n')

    args = ("search", "--workload", "digits-cnn", "--create-only", "--study", "s",
            "--storage", storage, "--trials", "4", "--rules", str(path))
    write(0.01, "Mine.")
    assert run_cli(*args).returncode == 0
    write(0.01, "Mine, in other words.")
    assert run_cli(*args).returncode == 0, "an edit that changes no conclusion resumes"
    write(0.02, "Mine.")
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: study 's' was made with rules that recommended cosine(min_lr_ratio=0.01) "
        "peak 0.1, but they now recommend cosine(min_lr_ratio=0.02) peak 0.1; resume it "
        "with the --rules files as they were or use another --study name."]


def test_serve_refuses_a_rules_file_that_clashes_with_the_guide_at_start(tmp_path):
    path = tmp_path / "clash.toml"
    path.write_text('[[lr]]\nid = "scratch-cnn-cosine"\npeak = 0.1\nrange = [0.01, 1]\n'
                    'reason = "x"\n')
    proc = run_cli("serve", "--port", "0", "--storage", f"sqlite:///{tmp_path / 's.db'}",
                   "--rules", str(path), timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "lr 'scratch-cnn-cosine' would replace a rule of the same id" in proc.stderr
