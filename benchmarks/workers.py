"""How do workers scale? Trials per second with 1, 2 and 4 ``lradvisor worker`` processes.

Run: ``python -m benchmarks.workers [--quick]``. Two trainables: ``trivial`` (no
training: what storage and orchestration cost per trial) and the ``digits-cnn``
workload (real scaling); two storages: PostgreSQL at 127.0.0.1:5432 (skipped when no
server answers) and the local SQLite file (WAL, ``BEGIN IMMEDIATE``).

Throughput is measured inside the run, from the trials' own timestamps: finished
trials / (last end - first start), so process start-up (~2-5 s of imports) is left
out. Each setting runs ``--repeats`` times on a fresh study; median, min and max.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from benchmarks._common import table, write_csv

ROOT = Path(__file__).resolve().parent.parent
PROFILE = {"task": "scratch", "total_steps": 100}


def trivial(ctx: Any) -> float:
    """No training: one report, a value from the peak LR."""
    import math

    value = (math.log10(ctx.peak_lr) + 2.5) ** 2
    ctx.report(ctx.total_steps, value)
    return value


def _pg_admin(sql: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql)
        return True
    except Exception:
        return False


def _pg_url(database: str) -> str:
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=database,
                         autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}?options=-csearch_path%3D{schema}"


def run_once(url: str, workload: str, workers: int, n_trials: int) -> float:
    """Trials per second of ``workers`` processes on a fresh study."""
    from lradvisor.search import Fidelity
    from lradvisor.search._jobs import create_search_study
    from lradvisor.storage import load_study, open_storage

    name = f"bench-{uuid.uuid4().hex[:8]}"
    if workload == "trivial":
        create_search_study("benchmarks.workers:trivial", profile=PROFILE, n_trials=n_trials,
                            storage=url, study_name=name, fidelity=Fidelity(rungs=(0.5, 1.0)),
                            pruner="none")
    else:
        create_search_study(workload=workload, n_trials=n_trials, storage=url,
                            study_name=name, fidelity=Fidelity(rungs=(0.1, 0.2)))
    cmd = [sys.executable, "-m", "lradvisor", "worker", "--study", name, "--storage", url,
           "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env) for _ in range(workers)]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError(f"a worker failed on {url}")
    trials = [t for t in load_study(open_storage(url), name).get_trials(deepcopy=False)
              if t.datetime_complete is not None and t.state.name != "FAIL"]
    start = min(t.datetime_start for t in trials)
    end = max(t.datetime_complete for t in trials)
    return len(trials) / max((end - start).total_seconds(), 1e-9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, 30 trivial / 6 digits-cnn first-rung trials")
    parser.add_argument("--repeats", type=int, help="runs per setting (default 1 quick, 5)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    sizes = {"trivial": 30 if args.quick else 120, "digits-cnn": 6 if args.quick else 24}
    database = f"lradvisor_bench_{uuid.uuid4().hex[:8]}"
    storages = {"sqlite": None}
    if _pg_admin(f'CREATE DATABASE "{database}"'):
        storages = {"postgresql": database, "sqlite": None}
    else:
        print("PostgreSQL does not answer at 127.0.0.1:5432: its rows are left out.")
    rows, header = [], ["workload", "storage", "workers", "trials/s median", "min", "max",
                        "speed-up vs 1", "ms per trial"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for workload, n_trials in sizes.items():
                for storage, db in storages.items():
                    base = None
                    for workers in (1, 2, 4):
                        rates = []
                        for _ in range(repeats):
                            url = (_pg_url(db) if db else
                                   f"sqlite:///{tmp}/{uuid.uuid4().hex[:8]}.db")
                            rates.append(run_once(url, workload, workers, n_trials))
                        med = statistics.median(rates)
                        base = base or med
                        rows.append([workload, storage, workers, f"{med:.2f}",
                                     f"{min(rates):.2f}", f"{max(rates):.2f}",
                                     f"{med / base:.2f}", f"{1000 / med:.0f}"])
                        print(rows[-1], flush=True)
    finally:
        if len(storages) > 1:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(f"workers: {repeats} run(s) per setting, {datetime.date.today()}, "
          f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(table(header, rows))
    print(f"wrote {write_csv('workers', header, rows)}")


if __name__ == "__main__":
    main()
