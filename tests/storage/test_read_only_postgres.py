"""A PostgreSQL study database whose user may read but not write it: a ``SELECT``-only
role (``GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader``, as for dashboards and
analysts), a role whose transactions are read-only, a role without the sequences.

The commands that only read studies worked for such a user already (Optuna creates
nothing in existing tables); their test guards that. The writers did not refuse it:
``search`` failed at its first write with Optuna's ``StorageInternalError`` traceback
(exit 1), ``worker`` retried "database unreachable" for ever, ``serve`` served, and
``studies delete`` said "permission denied for table study_directions". They now refuse
it in one line naming the URL (password masked) and why, exit 2, nothing written.

A database of this module's own on the server at 127.0.0.1:5432 (skipped without one),
a real search's study in it made by its owner, roles with unique names, all dropped
after; the CLI in real subprocesses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lradvisor.errors import StudyError
from lradvisor.storage import get_study, list_studies, open_storage
from tests.conftest import ROOT, one_line, run_cli
from tests.distributed.conftest import (
    PG_HOST,
    PG_PORT,
    PROFILE,
    TRAINABLE,
    drop_pg_database,
    make_pg_database,
    pg_user,
)

pytestmark = pytest.mark.postgres

INSTANT = TRAINABLE.replace(":train", ":instant")
ENV = {"PYTHONPATH": str(ROOT)}
REFUSED = ("Error: cannot write to study storage {url}: user {user!r} may not write there "
           "({why}); this command writes to it (the commands that only read studies can "
           "use it).")


@dataclass
class Database:
    admin: str  # the superuser the tests connect as
    name: str
    owner_url: str
    roles: list[str]

    def url(self, role: str, password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{role}{secret}@{PG_HOST}:{PG_PORT}/{self.name}"

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=self.admin, dbname=self.name,
                             autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def role(self, grants: str, *, settings: str = "") -> str:
        """A new login role (a unique name: roles are the whole server's) given ``grants``
        (``{role}`` stands for its name)."""
        name = f"lradvisor_reader_{uuid.uuid4().hex[:10]}"
        self.roles.append(name)
        self.sql(f'CREATE ROLE "{name}" LOGIN')
        self.sql(grants.format(role=f'"{name}"'))
        if settings:
            self.sql(f'ALTER ROLE "{name}" SET {settings}')
        return name

    def contents(self) -> dict[str, Any]:
        """Every row of every table and every sequence's position, as the owner sees them."""
        tables = [row[0] for row in self.sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        found: dict[str, Any] = {t: self.sql(f'SELECT * FROM "{t}" ORDER BY 1') for t in tables}
        found["sequences"] = self.sql("SELECT sequencename, last_value FROM pg_sequences "
                                      "WHERE schemaname = 'public' ORDER BY 1")
        return found


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    """A database holding study ``s`` (a real search, finished, with its recommendation)
    and ``w`` (made for workers, no trial yet), both made by the owner."""
    from lradvisor.search import run_search
    from lradvisor.search._jobs import create_search_study

    admin = pg_user()
    if admin is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_HOST}:{PG_PORT}")
    name = make_pg_database(admin)
    made = Database(admin, name, "", [])
    made.owner_url = made.url(admin)
    try:
        run_search(INSTANT, profile=PROFILE, n_trials=3, storage=made.owner_url,
                   study_name="s")
        create_search_study(TRAINABLE, profile=PROFILE, n_trials=2, storage=made.owner_url,
                            study_name="w")
        yield made
    finally:
        drop_pg_database(admin, name)
        for role in made.roles:  # its grants went with the database
            _drop_role(admin, role)


def _drop_role(admin: str, role: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=admin, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="module")
def reader(db: Database) -> str:
    """The role of a dashboard: SELECT on every table, nothing else."""
    return db.role("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")


READERS = {("studies", "list"): "\ns     min",
           ("studies", "show", "s"): "study 's' (minimize): ",
           ("studies", "best", "s"): "Best schedule found by study 's'",
           ("studies", "export", "s"): "number,state,value,rung",
           ("report", "s", "-o", "-"): "<title>lradvisor report: s</title>",
           ("suggest", "--study", "s"): "Best schedule found by study 's'",
           ("rules", "learn", "-o", "-"): '"name": "s"'}


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_the_reading_commands_read_it_as_a_select_only_user(db, reader, tmp_path, args):
    """All seven worked before this change too (Optuna creates nothing in existing
    tables, the schema lock is an advisory lock anyone may take); kept working."""
    before = db.contents()
    proc = run_cli(*args, "--storage", db.url(reader), cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert READERS[args] in proc.stdout, proc.stdout[:1000]
    assert db.contents() == before
    assert list(tmp_path.iterdir()) == []


WRITERS = {
    "search a new study": ("search", "--trainable", INSTANT, "--task", "scratch",
                           "--total-steps", "90", "--trials", "2", "--study", "t"),
    "search resumes s": ("search", "--trainable", INSTANT, "--task", "scratch",
                         "--total-steps", "90", "--trials", "2", "--study", "s"),
    "search --create-only": ("search", "--workload", "tabular-mlp", "--create-only",
                             "--study", "t"),
    "worker": ("worker", "--study", "w", "--device", "cpu"),
    "serve": ("serve", "--port", "0"),
    "studies delete": ("studies", "delete", "s", "--yes"),
}


@pytest.mark.parametrize("args", WRITERS.values(), ids=WRITERS.keys())
def test_the_writers_refuse_a_select_only_user_in_one_line(db, reader, tmp_path, args):
    """Before: search's StorageInternalError traceback (exit 1, a new study or a resume),
    worker's "database unreachable ...; retrying" for ever, serve serving, delete's
    "permission denied for table study_directions" (after asking, without --yes)."""
    before = db.contents()
    proc = run_cli(*args, "--storage", db.url(reader, "s3cret"), cwd=tmp_path, env=ENV,
                   timeout=60, input="")
    assert one_line(proc) == REFUSED.format(
        url=db.url(reader, "***"), user=reader, why="no INSERT privilege on table 'studies'")
    assert "s3cret" not in proc.stderr + proc.stdout
    assert db.contents() == before  # no study, trial, attribute or sequence number
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["read-only transactions", "no sequences"])
def test_other_users_who_may_not_write_are_refused_and_read(db, kind):
    """A role with every table privilege whose transactions are read-only (or a standby),
    and one given the tables but not the sequences that number their rows (``GRANT ...
    ON ALL SEQUENCES`` forgotten): opening for writing was fine before, and the first
    write failed (``cannot execute INSERT in a read-only transaction``, ``permission
    denied for sequence studies_study_id_seq``). Both still read."""
    tables = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
    if kind == "no sequences":
        role = db.role(tables)
        why = ("no USAGE privilege on sequence 'public.studies_study_id_seq', which numbers "
               "table 'studies'")
    else:
        role = db.role(f"{tables}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {{role}}",
                       settings="default_transaction_read_only = on")
        why = "its transactions are read-only: default_transaction_read_only"
    url, before = db.url(role), db.contents()
    with pytest.raises(StudyError) as err:
        open_storage(url)
    assert "Error: " + str(err.value) == REFUSED.format(url=url, user=role, why=why)
    storage = open_storage(url, create=False)  # what the reading commands open
    assert [s.study_name for s in list_studies(storage)] == ["s", "w"]
    storage.engine.dispose()
    assert db.contents() == before


def test_a_user_given_what_a_writer_needs_is_not_refused(db):
    """INSERT and UPDATE on the tables, USAGE on the sequences (no DELETE, no ownership):
    a search's writes all succeed, so opening for writing must not refuse it."""
    role = db.role("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}; "
                   "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    storage = open_storage(db.url(role))
    get_study(storage, f"by-{role}", direction="minimize").set_user_attr("x", 1)
    storage.engine.dispose()
    assert db.sql(f"SELECT count(*) FROM studies WHERE study_name = 'by-{role}'") == [(1,)]
