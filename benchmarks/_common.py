"""Helpers shared by the benchmark scripts: timing, tables, CSV output."""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def run_tasks(fn: Callable[..., Any], tasks: Sequence[Sequence[Any]], jobs: int) -> list[Any]:
    """``[fn(*task) for task in tasks]``, in ``jobs`` worker processes (at least one),
    each training with one torch thread so that the jobs do not fight over the cores."""
    with ProcessPoolExecutor(max_workers=max(1, jobs), initializer=_one_torch_thread) as pool:
        return list(pool.map(fn, *zip(*tasks, strict=True)))


def _one_torch_thread() -> None:
    os.environ.setdefault("LRADVISOR_TORCH_THREADS", "1")


def time_process(
    cmd: Sequence[str], runs: int, *, warmup: int = 1, env: dict[str, str] | None = None
) -> list[float]:
    """Wall seconds of ``runs`` runs of ``cmd`` (after ``warmup`` untimed runs)."""
    for _ in range(warmup):
        subprocess.run(cmd, check=True, capture_output=True, env=env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
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


def write_csv(name: str, header: Sequence[str], rows: Sequence[Sequence[object]],
              *, folder: Path | None = None) -> Path:
    """Write ``rows`` to ``<folder>/<name>.csv`` (default: ``benchmarks/results``).

    Returns the path written.
    """
    folder = RESULTS if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def machine() -> str:
    """One line naming the date, CPU, core count and Python, for a table's caption."""
    import datetime
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{datetime.date.today()}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation; 0 for a single value)."""
    values = list(values)
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``, ties given their average rank (as scipy's ``rankdata``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks (NaN if constant)."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(
            f"spearman needs two equal-length sequences of >= 2, got {len(x)} and {len(y)}"
        )
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=False))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


def finish_figure(fig: Any, ax: Any, path: Any, *, ylabel: str, title: str) -> None:
    """A zero line, labels and legend on a plot of changes in %, saved to ``path``, closed."""
    import matplotlib.pyplot as plt

    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def grouped_bars(path: Any, labels: Sequence[str], series: dict[str, Sequence[float]], *,
                 ylabel: str, title: str) -> None:
    """One bar per label for each series (a workload), side by side; changes in %."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    width = 0.8 / max(1, len(series))
    for i, (name, ys) in enumerate(series.items()):
        ax.bar([j + i * width for j in range(len(labels))], ys, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    finish_figure(fig, ax, path, ylabel=ylabel, title=title)
