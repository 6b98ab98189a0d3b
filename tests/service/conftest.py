"""A real ``lradvisor serve`` process on loopback, started and stopped by the tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TOKEN = "test-token-0123456789abcdef"


@dataclass
class Server:
    """A running service: its URL, its storage URL, its process."""

    url: str
    storage: str
    process: subprocess.Popen
    log: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(tmp: Path, *, token: str | None = TOKEN, trial_timeout: float = 120,
                   reap_interval: float = 30, extra: tuple[str, ...] = (),
                   storage: str | None = None, port: int | None = None,
                   env_extra: dict[str, str] | None = None) -> Iterator[Server]:
    """Start ``python -m lradvisor serve`` on a free loopback port (or ``port``: a service
    restarted where its clients know it), in ``tmp``; wait until it answers.

    ``storage`` is the study database's URL (default: a SQLite file in ``tmp``). The
    server gets no ``LRADVISOR_*`` variable of this process, only ``env_extra``'s.
    """
    storage = storage or f"sqlite:///{tmp / 'studies.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRADVISOR_")}
    env.update(env_extra or {})
    if token is not None:
        env["LRADVISOR_TOKEN"] = token
    port = port or free_port()
    log = tmp / f"server-{port}.log"
    cmd = [sys.executable, "-m", "lradvisor", "serve", "--port", str(port), "--storage", storage,
           "--trial-timeout", str(trial_timeout), "--reap-interval", str(reap_interval),
           "--log-level", "warning", *extra]
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    server = Server(f"http://127.0.0.1:{port}", storage, process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text()}")
        try:
            if httpx.get(server.url + "/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {limit} s: {server.log.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One service for the session (tests use their own study names), with a token."""
    with running_server(tmp_path_factory.mktemp("service")) as srv:
        yield srv
