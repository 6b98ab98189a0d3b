"""click's own errors (a bad choice, a wrong type, a missing option, an unknown command)
read as ours do: one line naming the value and what is allowed, exit 2, in a real
subprocess."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(("args", "line"), [
    (("suggest", "--task", "bogus"),
     "Error: Invalid value for '--task': 'bogus' is not one of 'scratch', 'pretrain', "
     "'finetune', 'unknown-length', 'quick'. (see `lradvisor suggest --help`)"),
    (("search", "--trials", "abc"),
     "Error: Invalid value for '--trials': 'abc' is not a valid integer. "
     "(see `lradvisor search --help`)"),
    (("suggest",), "Error: Missing option '--task'"),
    (("nosuch",), "Error: No such command 'nosuch'. (see `lradvisor --help`)"),
])
def test_usage_errors_are_one_line_exit_2(args, line):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(line), proc.stderr


def test_suggest_study_refuses_profile_options_it_would_ignore():
    """They were dropped without a word: the answer comes from the study's profile."""
    proc = run_cli("suggest", "--study", "s", "--task", "finetune", "--epochs", "3")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "Error: --study answers from the study's own profile and rules; drop --task, "
        "--epochs. (see `lradvisor suggest --help`)")
