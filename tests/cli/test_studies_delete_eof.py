"""``lradvisor studies delete NAME`` without ``--yes`` when stdin holds no answer.

With stdin at its end (``</dev/null``, a script with no terminal) click's question
raised ``Abort``, which the CLI reports as a Ctrl-C: "Aborted.", exit 130. Now the study
is kept, one line says why and what to pass, exit 1 as for answering "no"; an answer
piped in still deletes. Real subprocesses on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys

import optuna

from tests.conftest import ROOT


def _delete(url: str, stdin: int | None = None, answer: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "lradvisor", "studies", "delete", "s", "--storage", url],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=60,
        stdin=stdin, input=answer)


def _names(url: str) -> list[str]:
    return optuna.get_all_study_names(storage=url)


def test_delete_with_stdin_at_its_end_keeps_the_study_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=url)
    done = _delete(url, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "Error: study 's' not deleted: no answer on stdin; pass --yes to delete without "
        "asking."]
    assert _names(url) == ["s"]


def test_delete_with_an_answer_piped_in_still_deletes(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=url)
    done = _delete(url, answer="y\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("deleted study 's'\n")
    assert _names(url) == []
