"""How does ``lradvisor studies list`` scale with the number of studies in a database?

Run: ``python -m benchmarks.studies_list [--quick] [--counts 10 100 400]
[--backends sqlite postgresql] [--name NAME]``. For each count a fresh database
(an SQLite file in a temporary folder; a new PostgreSQL database at
``$LRADVISOR_BENCH_PG``, default ``postgresql+psycopg://postgres@127.0.0.1:5432``,
dropped at the end) is filled with that many studies copied from one real search
(``run_search`` of the trivial trainable of :mod:`benchmarks.overhead`, 4 first-rung
trials: the user attributes and trials a search stores, curves included). Of every ten
studies, one is plain Optuna's (3 trials of ``x``, no lradvisor attribute) and one
stores no recommendation (a killed search's, whose best ``list`` computes from its
trials); the rest are the search's as it left them.

Measured: whole ``python -m lradvisor studies list --storage URL`` processes (the
lradvisor imported is this checkout's, wherever it runs from), 1 warm-up then
``--runs`` runs (5 by default), median and min–max seconds, and the median per listed
study. The process's start-up (``python -m lradvisor --help``, same run) is reported
alongside, so what grows with the count is visible. Not a BENCHMARKS.md target: the
question is whether the cost is linear in the studies shown (the time per study about
constant from 100 to 400 studies), as it was not (quadratic) before.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks._common import machine, summary, table, time_process, write_csv

__all__ = ["main", "populate"]

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "LRADVISOR_BENCH_PG"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432"


def template() -> Any:
    """The study of a small real search (in memory): what each copy stores."""
    import warnings

    from benchmarks.overhead import trivial_train
    from lradvisor.search import run_search

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_search(trivial_train, workload="digits-cnn", n_trials=4,
                          storage="sqlite://", study_name="template", seed=0).study


def populate(url: str, count: int, source: Any) -> None:
    """Fill the (empty) database ``url`` with ``count`` studies made from ``source``."""
    import optuna

    from lradvisor.storage import open_storage

    storage = open_storage(url)
    trials = source.get_trials(deepcopy=False)
    for i in range(count):
        name = f"study-{i:04d}"
        if i % 10 == 3:  # plain Optuna's
            plain = optuna.create_study(study_name=name, storage=storage)
            plain.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=3)
            continue
        study = optuna.create_study(study_name=name, storage=storage,
                                    direction=source.direction)
        for key, value in source.user_attrs.items():
            if not (i % 10 == 7 and key == "recommendation"):  # a killed search's
                study.set_user_attr(key, value)
        study.add_trials(trials)
    storage.engine.dispose()


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a new empty database of ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'list-{uuid.uuid4().hex[:8]}.db'}"
        return
    import sqlalchemy

    server = os.environ.get(PG_ENV, PG_DEFAULT)
    name = f"lradvisor_bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="counts 10 and 50, 5 runs")
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100, 400])
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"),
                        default=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--name", default="studies_list", help="CSV name under results/")
    parser.add_argument("--results", type=Path, default=None, help="folder for the CSV")
    args = parser.parse_args(argv)
    counts = [10, 50] if args.quick else args.counts
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-P", "-m", "lradvisor"]  # -P: not from the current folder
    start = summary(time_process([*cmd, "--help"], args.runs, env=env))
    source = template()
    header = ["backend", "studies", "median s", "min s", "max s", "ms per study"]
    rows: list[list[Any]] = [["(start-up: --help)", 0, f"{start[0]:.3f}", f"{start[1]:.3f}",
                              f"{start[2]:.3f}", "-"]]
    with tempfile.TemporaryDirectory(prefix="lradvisor-list-") as tmp:
        for backend in args.backends:
            for count in counts:
                with database(backend, Path(tmp)) as url:
                    populate(url, count, source)
                    med, lo, hi = summary(time_process(
                        [*cmd, "studies", "list", "--storage", url], args.runs, env=env))
                rows.append([backend, count, f"{med:.3f}", f"{lo:.3f}", f"{hi:.3f}",
                             f"{1000 * med / count:.1f}"])
                print(table(header, rows[-1:]).splitlines()[-1], flush=True)
    print(f"studies_list: {args.runs} runs each after 1 warm-up; {machine()}; "
          f"{len(source.trials)} trials a study (plain Optuna's: 3)")
    print(table(header, rows))
    path = write_csv(args.name, header, rows, folder=args.results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
