"""A study database this process may read but not write: a read-only file in a folder
it cannot write (``chmod 444``/``555``, a read-only mount, another user's studies).

The commands that only read studies open it read-only; those that write refuse it in
one line, exit 2. As root, file modes stop nothing: the commands then run without the
capabilities that override them (``CAP_DAC_OVERRIDE`` and its kin), as any other user
would. Real SQLite files; the CLI in a real subprocess, and in-process where that is
enough.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from lradvisor.cli import cli
from lradvisor.errors import StudyError
from tests.conftest import ROOT, one_line

SPEC = {"family": "cosine", "params": {}, "peak_lr": 0.1}
PROFILE = {"task": "scratch", "arch": "cnn", "optimizer": "sgd", "total_steps": 200}
OVERRIDES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def _as_a_reader() -> Iterator[None]:
    """This thread, as root, without the capabilities that pass over file modes (taken
    out of its effective set, put back after); as another user, as it is."""
    if os.geteuid() != 0:
        yield
        return
    libc, header, data = _libc(), _CapHeader(0x20080522, 0), (_CapData * 2)()  # v3
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip(f"capget failed: {os.strerror(ctypes.get_errno())}")
    kept = data[0].effective
    data[0].effective &= ~sum(1 << cap for cap in OVERRIDES)
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip(f"capset failed: {os.strerror(ctypes.get_errno())}")
    try:
        yield
    finally:
        data[0].effective = kept
        assert libc.capset(ctypes.byref(header), data) == 0


def _drop_overrides() -> None:
    """In a child before exec: root's new program gets no capability to pass over file
    modes (they leave the bounding set, which an exec as root gives it in full)."""
    for cap in OVERRIDES:
        if _libc().prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def _run_as_a_reader(*args: str) -> subprocess.CompletedProcess:
    """``python ARGS`` in a real subprocess that cannot write what its modes forbid."""
    try:
        return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120,
                              preexec_fn=_drop_overrides if os.geteuid() == 0 else None)
    except subprocess.SubprocessError as err:  # the drop failed (no CAP_SETPCAP)
        pytest.skip(f"cannot run a process without CAP_DAC_OVERRIDE here: {err}")


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """An SQLite file as a search leaves it (WAL mode): study ``s``, finished. Only the
    file (no lock files), as one handed over; copied for each test."""
    from lradvisor.storage import get_study, open_storage

    path = tmp_path_factory.mktemp("made") / "studies.db"
    storage = open_storage(f"sqlite:///{path}")
    study = get_study(storage, "s")
    for key, value in (("full_steps", 200), ("profile", PROFILE),
                       ("recommendation", {**SPEC, "total_steps": 200})):
        study.set_user_attr(key, value)
    study.add_trial(optuna.trial.create_trial(value=0.25, intermediate_values={20: 0.25},
                    user_attrs={"spec": json.dumps(SPEC), "rung": 0, "steps_used": 20,
                                "total_steps": 20}))
    storage.engine.dispose()  # the last connection: SQLite folds in and removes its -wal
    assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL mode
    return path


@contextlib.contextmanager
def _read_only(made: Path, folder: Path, kind: str) -> Iterator[Path]:
    """A copy of ``made`` in ``folder``; ``both``: the file and its folder read-only
    (SQLite cannot make its -shm file there, so it reads the file ``immutable``);
    ``file`` or ``folder``: only that one."""
    folder.mkdir()
    path = folder / made.name
    shutil.copy(made, path)
    path.chmod(0o644 if kind == "folder" else 0o444)
    folder.chmod(0o755 if kind == "file" else 0o555)
    try:
        with _as_a_reader(), contextlib.suppress(PermissionError):
            (path if kind != "folder" else folder / "probe").open("ab").close()
            pytest.skip("this process writes any file whatever its mode")
        yield path
    finally:
        folder.chmod(0o755)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_studies_list_reads_a_read_only_database(made, tmp_path):
    """It was 'cannot open study storage ...: attempt to write a readonly database' (the
    check that the file holds studies opened it for writing; then the schema lock and
    the WAL pragma would have), exit 2, for every command that reads."""
    with _read_only(made, tmp_path / "shared", "both") as path:
        before = _files(path.parent)
        proc = _run_as_a_reader("-m", "lradvisor", "studies", "list",
                                "--storage", f"sqlite:///{path}")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[1].split()[:3] == ["s", "min", "1"], proc.stdout
        assert _files(path.parent) == before  # nothing written, nothing made beside it


def test_the_other_reading_commands_read_it(made, tmp_path):
    """Each opens the storage its own way (``_open``, ``best_recommendations``,
    ``report_html``, ``learn.collect``); a file in a read-only folder failed them all."""
    with _read_only(made, tmp_path / "shared", "both") as path:
        url, before = f"sqlite:///{path}", _files(path.parent)
        runner = CliRunner()
        expected = {("studies", "show", "s"): "study 's' (minimize): 1 trials",
                    ("studies", "best", "s"): "Best schedule found by study 's'",
                    ("studies", "export", "s"): "0,COMPLETE,0.25",
                    ("report", "s", "-o", "-"): "<html",
                    ("suggest", "--study", "s"): "Best schedule found by study 's'",
                    ("rules", "learn", "-o", "-"): '"studies"'}
        with _as_a_reader():
            for args, text in expected.items():
                out = runner.invoke(cli, [*args, "--storage", url])
                assert out.exit_code == 0 and text in out.stdout, \
                    (args, out.output, out.exception)
        assert _files(path.parent) == before


def test_delete_says_the_database_is_read_only(made, tmp_path):
    """One line before the question, nothing deleted; in a read-only folder it was the
    open's 'attempt to write a readonly database' line."""
    with _read_only(made, tmp_path / "shared", "both") as path:
        proc = _run_as_a_reader("-m", "lradvisor", "studies", "delete", "s", "--yes",
                                "--storage", f"sqlite:///{path}")
        assert one_line(proc) == (
            f"Error: cannot write to study storage sqlite:///{path}: the database file "
            f"{str(path)!r} is read-only; this command writes to it (the commands that only "
            "read studies can use it)."), proc.stderr
    assert [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{path}")] == ["s"]


@pytest.mark.parametrize("kind", ["both", "file", "folder"])
def test_search_and_the_storage_writers_refuse_it(made, tmp_path, kind):
    """A search on a read-only file in a writable folder opened it and failed at its
    first write with Optuna's StorageInternalError traceback, exit 1. Search, worker
    and serve all open it through open_storage's writing mode."""
    from lradvisor.storage import open_storage

    with _read_only(made, tmp_path / "shared", kind) as path:
        url = f"sqlite:///{path}"
        why = (f"its folder {str(path.parent)!r} is not writable (SQLite makes its "
               "studies.db-wal and -shm files, and lradvisor its lock files, there)"
               if kind == "folder" else f"the database file {str(path)!r} is read-only")
        line = f"cannot write to study storage {url}: {why}; this command writes to it"
        with _as_a_reader():
            out = CliRunner().invoke(cli, ["search", "--workload", "tabular-mlp",
                                           "--create-only", "--study", "t", "--storage", url])
            assert isinstance(out.exception, StudyError), (out.output, out.exception)
            assert str(out.exception).startswith(line), out.exception
            with pytest.raises(StudyError, match="this command writes to it"):
                open_storage(url)
            assert len(open_storage(url, create=False).get_all_studies()) == 1  # it reads
