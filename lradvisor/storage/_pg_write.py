"""A PostgreSQL study database its user may read but not write, and how to tell.

A role made for dashboards and analysts (``CREATE ROLE reader LOGIN; GRANT SELECT ON
ALL TABLES IN SCHEMA public TO reader``), a role whose transactions are read-only
(``default_transaction_read_only``), or a standby server: Optuna opens the existing
tables without writing, so the commands that only read studies work as they are. A
command that writes would get as far as its first write and fail there (a search with
Optuna's traceback, a worker retrying for ever); :func:`pg_unwritable` says why before
it starts, from the server's own privilege functions, writing nothing.

A writer needs ``INSERT`` and ``UPDATE`` on Optuna's tables, and ``USAGE`` (or
``UPDATE``) on the sequences that number their rows (``GRANT ... ON ALL SEQUENCES``,
forgotten as often as not); ``DELETE`` only ``studies delete`` does, and a refusal
there is already its own line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pg_unwritable"]

_PRIVILEGES = ("INSERT", "UPDATE")

# The first (table, privilege) the user lacks, tables in Optuna's order.
_MISSING_TABLE_PRIVILEGE = """
SELECT t.name, p.privilege
FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, n)
CROSS JOIN unnest(CAST(:privileges AS text[])) WITH ORDINALITY AS p(privilege, k)
WHERE to_regclass(t.name) IS NOT NULL
  AND NOT has_table_privilege(to_regclass(t.name), p.privilege)
ORDER BY t.n, p.k LIMIT 1
"""

# The first serial sequence numbering a table's rows that the user may not advance
# (identity columns take their numbers without the sequence's privileges).
_MISSING_SEQUENCE_PRIVILEGE = """
SELECT c.tab, c.seq FROM (
  SELECT t.tab, t.n, CASE WHEN to_regclass(t.tab) IS NOT NULL
                          THEN pg_get_serial_sequence(t.tab, t.col) END AS seq
  FROM unnest(CAST(:tables AS text[]), CAST(:columns AS text[])) WITH ORDINALITY
       AS t(tab, col, n)
  WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(t.tab)
                    AND a.attname = t.col AND a.attidentity <> '')
) AS c
WHERE c.seq IS NOT NULL AND NOT has_sequence_privilege(c.seq, 'USAGE, UPDATE')
ORDER BY c.n LIMIT 1
"""


def pg_unwritable(engine: Any) -> str | None:
    """Why the user ``engine`` connects as cannot write studies to its PostgreSQL
    database, or ``None`` when it can. Reads only the server's settings and privileges.

    Example:
        >>> import sqlalchemy  # doctest: +SKIP
        >>> pg_unwritable(sqlalchemy.create_engine(  # doctest: +SKIP
        ...     "postgresql+psycopg://reader@127.0.0.1/test"))
        "user 'reader' may not write there (no INSERT privilege on table 'studies')"
    """
    import sqlalchemy

    text = sqlalchemy.text
    tables, columns = _optuna_tables()
    with engine.connect() as conn:
        user, read_only, standby = conn.execute(text(
            "SELECT current_user, current_setting('transaction_read_only'), "
            "pg_is_in_recovery()")).one()
        if standby:
            return "the server is a read-only standby"
        if read_only == "on":
            return (f"user {user!r} may not write there (its transactions are read-only: "
                    "default_transaction_read_only)")
        missing = conn.execute(text(_MISSING_TABLE_PRIVILEGE),
                               {"tables": tables, "privileges": list(_PRIVILEGES)}).first()
        if missing is not None:
            return (f"user {user!r} may not write there (no {missing[1]} privilege on "
                    f"table {missing[0]!r})")
        missing = conn.execute(text(_MISSING_SEQUENCE_PRIVILEGE),
                               {"tables": tables, "columns": columns}).first()
        if missing is not None:
            return (f"user {user!r} may not write there (no USAGE privilege on sequence "
                    f"{missing[1]!r}, which numbers table {missing[0]!r})")
    return None


def _optuna_tables() -> tuple[list[str], list[str]]:
    """The tables a study is written to (all of Optuna's but its version record), and
    each one's id column."""
    from optuna.storages._rdb import models

    tables = [t for t in models.BaseModel.metadata.sorted_tables if t.name != "version_info"]
    return [t.name for t in tables], [next(iter(t.primary_key.columns)).name for t in tables]
