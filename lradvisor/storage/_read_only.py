"""An SQLite study file this process may read but not write, and how to open it read-only.

A read-only file, or one in a folder this process cannot write (``chmod 555``, a
read-only mount, another user's studies): SQLite cannot write it, nor make the ``-wal``
and ``-shm`` files it writes a WAL database through. Commands that only read open it
with SQLite's ``mode=ro``; a WAL file whose folder cannot hold its ``-shm`` file (which
SQLite reads it through) is opened ``immutable`` when none is there and its ``-wal``
holds nothing, so no process has it open to write.

Example:
    >>> from pathlib import Path
    >>> read_only_params(Path("/no/such/folder/studies.db"))
    {'mode': 'ro'}
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlencode

__all__ = ["read_only_params", "read_only_uri", "unwritable"]


def unwritable(path: Path) -> str | None:
    """Why this process cannot write the SQLite file at ``path`` and make its side files
    there, or ``None`` when it can."""
    if not _can_write(path):
        return f"the database file {str(path)!r} is read-only"
    if not _can_write(path.parent):
        return (f"its folder {str(path.parent)!r} is not writable (SQLite makes its "
                f"{path.name}-wal and -shm files, and lradvisor its lock files, there)")
    return None


def read_only_params(path: Path) -> dict[str, str]:
    """The SQLite URI parameters that open the file at ``path`` read-only."""
    params = {"mode": "ro"}
    wal = path.with_name(f"{path.name}-wal")
    if (not _can_write(path.parent) and _is_wal(path)
            and not path.with_name(f"{path.name}-shm").exists()
            and (not wal.exists() or wal.stat().st_size == 0)):
        params["immutable"] = "1"
    return params


def read_only_uri(path: Path) -> str:
    """``file:PATH?mode=ro...``, for ``sqlite3.connect(uri, uri=True)``."""
    return f"file:{quote(str(path.absolute()))}?{urlencode(read_only_params(path))}"


def _can_write(path: Path) -> bool:
    """Whether this process may write ``path`` (its mode, ACLs and mount), judged with
    the ids and capabilities it runs with, as opening it will be."""
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def _is_wal(path: Path) -> bool:
    """Whether the SQLite file at ``path`` is in WAL mode (header bytes 18 and 19 are 2)."""
    try:
        with open(path, "rb") as file:
            return file.read(20)[18:20] == b"\x02\x02"
    except OSError:
        return False
