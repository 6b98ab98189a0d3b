"""Shared fixtures: a real subprocess runner for the CLI."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m lradvisor ARGS`` in a real subprocess; returns the completed process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lradvisor", *args],
        cwd=cwd or ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
        input=input,
    )


# A rules file giving wsd's decay length in steps, as users who think in steps write it:
# a search and the service sample it as the same fraction of the run (f8d6f5b, 0be4327).
WSD_STEPS_RULE = """
[[rule]]
id = "mine-wsd"
when = { task = "pretrain" }
family = "wsd"
params = { decay_steps = 30 }
score = 200
reason = "A 30-step cooldown."
"""


def one_line(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a command that exited 2 without a traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def interrupt_cli(*args: str, after: str, delay: float = 0.0, cwd: Path | None = None,
                  env: dict[str, str] | None = None, wait: float = 90,
                  sig: int = signal.SIGINT) -> tuple[int, str]:
    """Run ``lradvisor ARGS`` in a real subprocess, send it Ctrl-C (or ``sig``) ``delay``
    seconds after its stderr first matches the regex ``after``; its exit status and
    whole stderr.

    The process gets Python's own Ctrl-C handler: a runner that starts the suite in the
    background (no job control) passes SIGINT on as ignored, and Python then never
    raises KeyboardInterrupt. Reading stderr, not polling the database, keeps a second
    process's connections out of what a test checks.
    """
    start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
             " sys.argv[0] = 'lradvisor'; runpy.run_module('lradvisor', run_name='__main__')")
    proc = subprocess.Popen(
        [sys.executable, "-c", start, *args], cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen, deadline = "", time.monotonic() + wait
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stderr], [], [], 0.5)[0]:
            seen += os.read(proc.stderr.fileno(), 1 << 16).decode(errors="replace")
            if re.search(after, seen):
                break
    else:
        proc.kill()
        raise AssertionError(f"stderr never matched {after!r}: {seen[-2000:]}")
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, seen + err


@pytest.fixture
def cli():
    """The :func:`run_cli` helper."""
    return run_cli


@pytest.fixture
def one_torch_thread():
    """Tiny models: one torch thread is fastest and leaves the other core to the machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
