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


@pytest.mark.parametrize(("args", "line"), [
    (("search", "--total-steps", "0"),
     "Error: Invalid value for '--total-steps': 0 is not in the range x>=1."),
    (("search", "--epochs", "0", "--steps-per-epoch", "5"),
     "Error: Invalid value for '--epochs': 0 is not in the range x>=1."),
    (("search", "--batch-size", "0"),
     "Error: Invalid value for '--batch-size': 0 is not in the range x>=1."),
    (("search", "--peak-lr", "-1"),
     "Error: Invalid value for '--peak-lr': -1 is not a number > 0."),
    (("suggest", "--peak-lr", "nan"),
     "Error: Invalid value for '--peak-lr': nan is not a number > 0."),
    (("lr-find", "--lr-min", "0"), "Error: Invalid value for '--lr-min': 0 is not a number > 0."),
    (("lr-find", "--lr-min", "1", "--lr-max", "0.1"),
     "Error: --lr-max must be above --lr-min, but got 1.0 .. 0.1."),
    (("schedules", "plot", "cosine", "--total-steps", "0"),
     "Error: Invalid value for '--total-steps': 0 is not in the range x>=1."),
])
def test_a_bad_value_is_named_by_its_flag_not_the_python_apis_word(tmp_path, args, line):
    """Before: ``total_steps``/``batch_size must be a
    positive integer``, ``peak_lr``/``lr_min must be a number > 0`` -- names of the Python
    API the command line has no option for."""
    task = ("--task", "scratch") if args[0] in ("search", "suggest") else ()
    more = ("--workload", "tabular-mlp") if args[0] == "lr-find" else ()
    proc = run_cli(*args, *task, *more, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(line), proc.stderr
