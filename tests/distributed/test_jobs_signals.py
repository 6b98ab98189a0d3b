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
    """``lradvisor search --jobs 2`` whose two workers are each in a 300 s trial.

    Its output goes to files (``out``, ``err`` in ``tmp_path``): workers that outlive
    it would hold a pipe open. The trials outlast any wait here (no trial ends by
    itself while a test looks), and starting takes long on a loaded machine: the
    parent and each worker import optuna, and each worker torch (to find its device);
    95 to 200 s under ``nice -n 19`` beside three busy loops on two cores.
    """
    url = f"sqlite:///{tmp_path}/s.db"
    args = ["search", "--trainable", f"{HERE / 'quick_trainable.py'}:train", "--task",
            "scratch", "--total-steps", "90", "--rungs", "0.2,1", "--study", "sig",
            "--trials", "4", "--jobs", "2", "--storage", url]
    with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:
        parent = subprocess.Popen([sys.executable, "-c", START, *args], cwd=ROOT,
                                  env={**os.environ, "LRADVISOR_TEST_SLEEP": "300"},
                                  stdout=out, stderr=err)
    deadline = time.monotonic() + 150
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
        assert ended(parent, 60), "the parent waits on workers the signal never reached"
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
        assert ended(parent, 60), "the parent waits on workers the signal never reached"
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


@pytest.mark.parametrize("queued", [False, True])
def test_a_ctrl_c_mid_claim_fails_the_new_trial_as_interrupted(tmp_path, monkeypatch, queued):
    """Ctrl-C (a real SIGINT) while a claimed trial's heartbeat starts, where a
    ``kill -INT`` sent as soon as the trial shows RUNNING can land: it strikes once the
    trial is made, and the worker stops as interrupted with the trial failed as such.
    It left the trial RUNNING with no beat (the next worker waited ``2 * grace + 10`` s
    for it, then ran it as a stale retry), or, inside ``Thread.start``, made the worker
    fail with ``cannot join thread before it is started``."""
    from lradvisor.search import _worker
    from lradvisor.search._rungs import INTERRUPTED
    from tests.distributed.conftest import create

    url = f"sqlite:///{tmp_path}/s.db"
    study = create(url, "claim", 3)
    if queued:  # a configuration waiting to be run again, as a stale trial leaves
        study.enqueue_trial({}, user_attrs={"rung": 0, "seed": 0, "origin": "sampled"})
    start = _worker._Heartbeat.start

    def ctrl_c_as_the_heartbeat_starts(self, trial_id):
        os.kill(os.getpid(), signal.SIGINT)
        start(self, trial_id)

    monkeypatch.setattr(_worker._Heartbeat, "start", ctrl_c_as_the_heartbeat_starts)
    assert run_worker_in_a_terminal(url, "claim") == ("interrupted", 0)
    [trial] = trials_of(url, "claim")
    assert (trial.state.name, trial.user_attrs.get("error")) == ("FAIL", INTERRUPTED)


def test_a_ctrl_c_while_a_result_is_written_strikes_once_it_is_stored(tmp_path, monkeypatch):
    """Cut in the middle, the write left the finished trial RUNNING, to be run again once
    its heartbeat went stale."""
    from lradvisor.search import _trial
    from tests.distributed.conftest import create

    url = f"sqlite:///{tmp_path}/s.db"
    create(url, "tell", 3)
    finish = _trial.TrialCurve.finish

    def ctrl_c_as_the_result_is_written(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return finish(self, *args, **kwargs)

    monkeypatch.setattr(_trial.TrialCurve, "finish", ctrl_c_as_the_result_is_written)
    assert run_worker_in_a_terminal(url, "tell") == ("interrupted", 0)
    [trial] = trials_of(url, "tell")
    assert trial.state.name == "COMPLETE" and len(trial.intermediate_values) == 3


def run_worker_in_a_terminal(url: str, name: str) -> tuple[str, int]:
    """``run_worker`` under Python's own Ctrl-C handler (the runner may have started the
    tests with SIGINT ignored); why it stopped, and how many trials it ran."""
    from lradvisor.search._worker import run_worker

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run_worker(name, url, device="cpu", heartbeat_interval=1, grace_period=3)
    finally:
        signal.signal(signal.SIGINT, previous)
    return result.reason, result.trials_run


def test_a_heartbeat_whose_thread_never_started_still_stops(monkeypatch):
    """A ``KeyboardInterrupt`` raised inside ``Thread.start`` (under a SIGINT handler
    other than the worker's, which holds Ctrl-C back there) left a thread that ``stop``
    could not join: the worker failed instead of stopping as interrupted."""
    import threading
    from types import SimpleNamespace

    from lradvisor.search import _heartbeat

    beats: list[int] = []
    heartbeat = _heartbeat.Heartbeat(SimpleNamespace(record_heartbeat=beats.append,
                                                     heartbeat_interval=1))

    class Unstarted(threading.Thread):
        def start(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(_heartbeat, "threading",
                        SimpleNamespace(Thread=Unstarted, Event=threading.Event))
    with pytest.raises(KeyboardInterrupt):
        heartbeat.start(7)
    heartbeat.stop()
    heartbeat.stop()
    assert beats == [7]


def test_a_ctrl_c_while_a_worker_waits_stops_it_as_interrupted(tmp_path, monkeypatch):
    """A worker waiting for another's trial (the study needs no other) and given Ctrl-C
    stops as interrupted, as one mid-trial does; it ended as ``Aborted.`` instead,
    without its summary line."""
    import time as real_time
    from types import SimpleNamespace

    from lradvisor.search import _worker
    from tests.distributed.conftest import create

    url = f"sqlite:///{tmp_path}/s.db"
    create(url, "wait", 1).ask()  # another worker's trial, running

    def ctrl_c_while_waiting(seconds):
        os.kill(os.getpid(), signal.SIGINT)
        real_time.sleep(seconds)

    monkeypatch.setattr(_worker, "time", SimpleNamespace(monotonic=real_time.monotonic,
                                                         sleep=ctrl_c_while_waiting))
    assert run_worker_in_a_terminal(url, "wait") == ("interrupted", 0)
