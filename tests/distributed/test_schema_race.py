"""Workers started at the same instant on a brand-new database all open it.

Optuna alone loses this race (``table studies already exists``, ``UNIQUE constraint
failed: alembic_version.version_num``, ``UniqueViolation``); ``open_storage`` creates
the schema under a lock. Four real processes, ten fresh databases, each opened by all
four at the same instant (a file barrier per round).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.distributed.conftest import HERE, ROOT, fresh_pg_url

ROUNDS, PROCESSES = 10, 4


def race(urls: list[str], barrier: Path) -> list[str]:
    cmd = [sys.executable, str(HERE / "race_open.py"), str(barrier), *urls]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(PROCESSES)]
    return [line for p in procs for line in p.communicate(timeout=60)[0].splitlines()]


def check(lines: list[str]) -> None:
    failures = [line for line in lines if not line.startswith("ok ")]
    assert failures == []
    assert len(lines) == ROUNDS * PROCESSES


def test_four_processes_create_a_fresh_sqlite_database_ten_times(tmp_path):
    check(race([f"sqlite:///{tmp_path}/fresh{i}.db" for i in range(ROUNDS)], tmp_path))


def test_four_processes_create_a_fresh_postgresql_database_ten_times(pg, pg_database, tmp_path):
    check(race([fresh_pg_url(pg, pg_database) for _ in range(ROUNDS)], tmp_path))
