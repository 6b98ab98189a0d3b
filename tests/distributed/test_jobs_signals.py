"""``search --jobs N`` under a supervisor's signal: no worker outlives its parent.

``timeout``, systemd and ``docker stop`` send SIGTERM to the ``lradvisor search``
process alone; its ``lradvisor worker`` children must not go on running the study
without it. Real processes on a SQLite study; the workers' trials sleep long, so a
worker still alive at the end is one the signal never reached.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.distributed.conftest import HERE, trials_of

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# The parent gets Python's own Ctrl-C handler, whatever the runner passed on (a runner
# without job control starts it with SIGINT ignored, and its workers would inherit that).
START = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
         " sys.argv[0] = 'lradvisor'; runpy.run_module('lradvisor', run_name='__main__')")


def children_of(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_search(tmp_path: Path) -> tuple[subprocess.Popen, str, list[int]]:
    """``lradvisor search --jobs 2`` whose two workers are each in a 60 s trial.

    Its output goes to files (``out``, ``err`` in ``tmp_path``): workers that outlive
    it would hold a pipe open.
    """
    url = f"sqlite:///{tmp_path}/s.db"
    args = ["search", "--trainable", f"{HERE / 'quick_trainable.py'}:train", "--task",
            "scratch", "--total-steps", "90", "--rungs", "0.2,1", "--study", "sig",
            "--trials", "4", "--jobs", "2", "--storage", url]
    with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:
        parent = subprocess.Popen([sys.executable, "-c", START, *args], cwd=ROOT,
                                  env={**os.environ, "LRADVISOR_TEST_SLEEP": "60"},
                                  stdout=out, stderr=err)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and parent.poll() is None:
        workers = children_of(parent.pid)
        try:
            running = sum(t.state.name == "RUNNING" for t in trials_of(url, "sig"))
        except Exception:  # noqa: BLE001 - the study is not made yet
            running = 0
        if len(workers) == 2 and running == 2:
            return parent, url, workers
        time.sleep(0.2)
    stop(children_of(parent.pid))
    parent.kill()
    raise AssertionError(f"the workers never both ran a trial: {(tmp_path / 'err').read_text()}")


def ended(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def stop(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_to_search_jobs_ends_its_workers_too(tmp_path):
    parent, _, workers = start_search(tmp_path)
    try:
        parent.send_signal(signal.SIGTERM)
        assert ended(parent, 30), "the parent waits on workers the signal never reached"
        err = (tmp_path / "err").read_text()
        deadline = time.monotonic() + 10  # a worker takes a moment to die of its signal
        while time.monotonic() < deadline and any(alive(w) for w in workers):
            time.sleep(0.1)
        assert [w for w in workers if alive(w)] == [], "workers outlived the parent"
        assert parent.returncode == -signal.SIGTERM, err[-2000:]  # as without workers
        assert "Traceback" not in err, err[-6000:]
    finally:
        stop(workers)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_sigint_to_search_jobs_alone_interrupts_its_workers(tmp_path):
    """A SIGINT sent to the parent only (``kill -INT``, not a terminal's Ctrl-C, which
    reaches the workers too): each worker stops as interrupted, and the search prints
    what it has, as after Ctrl-C."""
    parent, _, workers = start_search(tmp_path)
    try:
        parent.send_signal(signal.SIGINT)
        assert ended(parent, 30), "the parent waits on workers the signal never reached"
        err = (tmp_path / "err").read_text()
        assert [w for w in workers if alive(w)] == [], "workers outlived the parent"
        assert parent.returncode == 130, err[-2000:]  # as after Ctrl-C
        assert "Interrupted: finished trials are kept" in err
        assert "Traceback" not in err, err[-6000:]
        assert err.count(": 0 trial(s) run; stopped: interrupted.") == 2  # each worker's
    finally:
        stop(workers)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
