"""How fast is the service? p50/p99 latency and requests/s at 1, 8 and 32 clients.

Run: ``python -m benchmarks.service [--quick]``. Starts ``lradvisor serve`` on loopback
(a temporary SQLite study database), then, for each endpoint and concurrency, keeps that
many keep-alive connections busy for a fixed time and times every request. The load
comes from a minimal HTTP/1.1 client on asyncio in this process (httpx would cost more
CPU than the server on a 2-core machine).

Rows: ``GET /v1/health`` (a bare FastAPI endpoint: the reference the others are a
ratio of), ``POST /v1/suggest`` (repeated profiles, as a pipeline asks: answered from
the per-process cache), ``POST /v1/suggest`` uncached (every profile new: the rule
engine runs each time), ``POST .../report`` (each client reports its own running
remote trial step by step; the plateau pruner judges each report against 5 completed
trials in SQLite), and ``POST .../trials`` (ask: each client asks for trial after
trial of a study prepared as the report row's and leaves them running, as a pool of
pipelines that each take one; the study grows by the trials asked). Target
(BENCHMARKS.md): ``/v1/suggest`` p50 < 5 ms and >= 500 req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import table, write_csv

TOKEN = "benchmark-token-0123456789abcdef"
PROFILE = {"task": "scratch", "arch": "cnn", "optimizer": "sgd", "total_steps": 10_000_000}
PROFILES = [{"task": "finetune", "arch": "transformer", "optimizer": "adamw", "total_steps": 3000},
            {"task": "scratch", "arch": "cnn", "epochs": 30, "steps_per_epoch": 100},
            {"task": "pretrain", "total_steps": 20000}, {"task": "unknown-length"}]


class Connection:
    """One keep-alive HTTP/1.1 connection: ``request`` sends and reads one exchange."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


Make = Callable[[Connection, int], "asyncio.Future[tuple[int, bytes]]"]


async def _load(port: int, clients: int, seconds: float, make_client: Callable) -> dict:
    """``clients`` connections, each sending requests back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0

    async def run_one(index: int) -> None:
        nonlocal errors
        conn = Connection(port)
        await conn.open()
        send = await make_client(conn, index)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status = await send()
            latencies.append(time.perf_counter() - start)
            errors += status >= 400
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(run_one(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"n": len(ordered), "errors": errors, "rps": len(ordered) / elapsed,
            "p50": statistics.median(ordered) * 1e3,
            "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3}


def _health(conn: Connection, _index: int) -> Callable:
    async def send() -> int:
        return (await conn.request("GET", "/v1/health"))[0]

    return send


def _suggest(conn: Connection, index: int) -> Callable:
    bodies = [json.dumps(p).encode() for p in PROFILES]
    count = [index]

    async def send() -> int:
        count[0] += 1
        return (await conn.request("POST", "/v1/suggest", bodies[count[0] % len(bodies)]))[0]

    return send


def _uncached(conn: Connection, index: int) -> Callable:
    count = [index * 10_000_000]

    async def send() -> int:
        count[0] += 1  # a new run length each time: a profile never seen before
        body = json.dumps({"task": "finetune", "total_steps": 1000 + count[0]}).encode()
        return (await conn.request("POST", "/v1/suggest", body))[0]

    return send


def _report(study: str) -> Callable:
    async def make(conn: Connection, _index: int) -> Callable:
        state: dict[str, int] = {"trial": -1, "step": 0}

        async def ask() -> None:
            status, body = await conn.request("POST", f"/v1/studies/{study}/trials")
            assert status == 200, body
            state["trial"], state["step"] = json.loads(body)["trial"], 0

        await ask()

        async def send() -> int:
            state["step"] += 1
            value = 1.0 / (1.0 + state["step"] / 1000)  # a healthy, falling curve
            path = f"/v1/studies/{study}/trials/{state['trial']}/report"
            status, body = await conn.request(
                "POST", path, json.dumps({"step": state["step"], "value": value}).encode())
            if status == 200 and json.loads(body)["prune"]:
                await ask()  # pruned: take a new trial, as a pipeline would
            return status

        return send

    return make


def _ask(study: str) -> Callable:
    async def make(conn: Connection, _index: int) -> Callable:
        async def send() -> int:
            return (await conn.request("POST", f"/v1/studies/{study}/trials"))[0]

        return send

    return make


def _async(factory: Callable) -> Callable:
    async def make(conn: Connection, index: int) -> Callable:
        return factory(conn, index)

    return make


def _start(tmp: Path) -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LRADVISOR_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "lradvisor", "serve", "--port", str(port), "--storage",
           f"sqlite:///{tmp / 'bench.db'}", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL)
    import httpx

    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the service did not start")


def _prepare(port: int, study: str) -> None:
    """A study with 5 completed trials: the pruner has references to judge against."""
    from lradvisor.client import Client

    with Client(f"http://127.0.0.1:{port}", token=TOKEN) as client:
        client.create_study(study, PROFILE)
        for _ in range(5):
            trial = client.ask(study)
            for step in range(0, 2001, 100):
                trial.report(step, 1.0 / (1.0 + step / 1000))
            trial.complete(1.0 / 3.0)


def _stack() -> str:
    """The HTTP parser and event loop uvicorn picks here (``auto``: the fastest installed)."""
    from importlib.util import find_spec

    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"{http}, {loop}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s per cell (default 10 s)")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else 10.0
    cases = {"GET /v1/health (reference)": _async(_health),
             "POST /v1/suggest": _async(_suggest),
             "POST /v1/suggest (uncached)": _async(_uncached),
             "POST .../trials/{id}/report": _report("bench"),
             "POST .../trials (ask)": _ask("bench-ask")}
    rows, measured = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start(Path(tmp))
        try:
            _prepare(port, "bench")
            _prepare(port, "bench-ask")
            for name, make in cases.items():
                asyncio.run(_load(port, 1, 0.5, make))  # warm-up
                for clients in (1, 8, 32):
                    measured[name, clients] = asyncio.run(_load(port, clients, seconds, make))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    for (name, clients), m in measured.items():
        ref = measured["GET /v1/health (reference)", clients]
        rows.append([name, clients, m["n"], m["errors"], f"{m['p50']:.2f}", f"{m['p99']:.2f}",
                     f"{m['rps']:.0f}", f"{m['p50'] / ref['p50']:.2f}"])
    header = ["endpoint", "clients", "requests", "errors", "p50 ms", "p99 ms", "req/s",
              "p50 / health p50"]
    print(f"service: {seconds:g} s per cell after a warm-up, {datetime.date.today()}, "
          f"{platform.machine()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"uvicorn single process ({_stack()}), SQLite")
    print(table(header, rows))
    print(f"wrote {write_csv('service', header, rows)}")


if __name__ == "__main__":
    main()
