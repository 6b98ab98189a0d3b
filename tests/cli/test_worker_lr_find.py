"""``lradvisor worker --spec FILE`` with ``lr_find = true`` in the file: workers do not
run the LR range test, so the file is refused in one line (exit 2) saying what does,
before any study is made. In-process (``lradvisor.cli.main``) on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from lradvisor.cli import main

TRAINABLES = Path(__file__).resolve().parents[1] / "search" / "search_trainables.py"
SPEC = """
trainable = "{trainables}:quadratic"
task = "scratch"
total_steps = 40
trials = 2
rungs = [0.5, 1]
study = "w"
storage = "sqlite:///{db}"
lr_find = true
"""


def test_a_worker_refuses_a_spec_file_that_asks_for_the_lr_range_test(tmp_path, capsys):
    """Before: the worker made the study and ran its trials on the rules' peak-LR range,
    exit 0; no sweep ran and nothing said so."""
    spec = tmp_path / "w.toml"
    spec.write_text(SPEC.format(trainables=TRAINABLES, db=tmp_path / "w.db"))
    with pytest.raises(SystemExit) as ended:
        main(["worker", "--spec", str(spec), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert ended.value.code == 2, err
    assert err.splitlines() == [
        f"Error: lr_find = true in {str(spec)!r}, but workers do not run the LR range test "
        "(--lr-find runs with `lradvisor search --jobs 1` only): run `lradvisor search "
        f"--spec {spec}` for it first, then workers with --study (they search the range it "
        "stored with the study), or set lr_find = false."]
    assert not (tmp_path / "w.db").exists()  # no study made
