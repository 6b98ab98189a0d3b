"""Helpers shared by the benchmark scripts: timing, tables, CSV output."""

from __future__ import annotations

import csv
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def time_process(cmd: Sequence[str], runs: int, *, warmup: int = 1) -> list[float]:
    """Wall seconds of ``runs`` runs of ``cmd`` (after ``warmup`` untimed runs)."""
    for _ in range(warmup):
        subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def summary(times: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(times), min(times), max(times)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def write_csv(name: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """Write ``rows`` to ``benchmarks/results/<name>.csv``; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
