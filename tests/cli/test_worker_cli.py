"""``lradvisor worker`` and ``search --jobs N`` when trials fail, as real processes on
SQLite: a worker every trial of which failed says so in one line and exits 1, as
``search`` does; ``search --jobs`` judges the study as a whole."""

from __future__ import annotations

import re
from pathlib import Path

from lradvisor.storage import load_study, open_storage
from tests.conftest import run_cli

TRAINABLES = Path(__file__).resolve().parents[1] / "search" / "search_trainables.py"


def _line_of(text: str) -> int:
    """The line of ``search_trainables.py`` that holds ``text``."""
    return next(i for i, line in enumerate(TRAINABLES.read_text().splitlines(), 1)
                if text in line)


def _create(tmp_path: Path, trainable: str, trials: int = 3) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    made = run_cli("search", "--task", "scratch", "--total-steps", "40", "--trainable",
                   f"{TRAINABLES}:{trainable}", "--trials", str(trials), "--rungs", "0.25,1",
                   "--storage", url, "--study", "w", "--create-only", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    return url


def test_a_worker_whose_every_trial_fails_says_so_in_one_line_exit_1(tmp_path):
    """It exited 0 with '3 trial(s) run; stopped: the study needs no more trials'."""
    url = _create(tmp_path, "always_fails")
    done = run_cli("worker", "--study", "w", "--storage", url, "--device", "cpu", "--quiet",
                   cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    where = f"{TRAINABLES}:{_line_of('no batches for')} in always_fails"
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Error: worker [^ ]+:\d+: every trial it ran failed \(3 of 3\); the first: "
        + re.escape(f"ValueError: no batches for 10 steps (at {where})"), last), last
    kept = load_study(open_storage(url), "w").trials
    assert [t.state.name for t in kept] == ["FAIL"] * 3  # the failed trials are kept


def test_a_worker_with_some_failed_trials_names_them_and_exits_0(tmp_path):
    """It said nothing of the failed trial."""
    url = _create(tmp_path, "fails_first_call")
    done = run_cli("worker", "--study", "w", "--storage", url, "--device", "cpu", "--quiet",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kept = load_study(open_storage(url), "w").trials
    states = [t.state.name for t in kept]
    assert states[0] == "FAIL" and "FAIL" not in states[1:], states
    where = f"{TRAINABLES}:{_line_of('data not ready on the first call')} in fails_first_call"
    assert re.search(
        rf"worker [^ ]+:\d+: 1 of the {len(kept)} trial\(s\) it ran failed; the first "
        r"\(trial 0\): " + re.escape(f"RuntimeError: data not ready on the first call (at "
                                     f"{where})") + "\n", done.stderr), done.stderr


def test_search_jobs_whose_every_trial_fails_ends_with_the_searchs_line_exit_1(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.db'}"
    done = run_cli("search", "--task", "scratch", "--total-steps", "40", "--trainable",
                   f"{TRAINABLES}:always_fails", "--trials", "3", "--storage", url,
                   "--study", "j", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "stopped with an error" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "Error: search: every trial failed (3 of 3); the first: ValueError: no batches for")


def test_search_jobs_with_one_worker_failing_every_trial_is_no_crashed_worker(tmp_path):
    """One worker fails every trial it runs (it exits 1 and says so), the other completes
    its own: the search names the failed trials and exits 0, as a search with some
    failed trials does; the worker is not counted as stopped with an error."""
    marks = tmp_path / "marks"
    marks.mkdir()
    url = f"sqlite:///{tmp_path / 'j.db'}"
    done = run_cli("search", "--task", "scratch", "--total-steps", "40", "--trainable",
                   f"{TRAINABLES}:fails_in_one_process", "--trials", "4", "--rungs", "0.25,1",
                   "--storage", url, "--study", "j", "--jobs", "2", cwd=tmp_path,
                   env={"MARKS": str(marks)}, timeout=300)
    failing = (marks / "failing").read_text()
    assert re.search(rf"Error: worker [^ ]+:{failing}: every trial it ran failed", done.stderr)
    assert done.returncode == 0, done.stderr
    assert "stopped with an error" not in done.stderr
    assert re.search(r"\d+ of the \d+ trial\(s\) run failed; the first \(trial \d+\): "
                     r"RuntimeError: no data on this machine", done.stderr), done.stderr
