"""Shared fixtures: a real subprocess runner for the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.fixture
def cli():
    """The :func:`run_cli` helper."""
    return run_cli
