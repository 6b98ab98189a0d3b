"""Helper process for the schema race test: open fresh databases all at the same instant.

``python race_open.py BARRIER_DIR URL...``: imports everything first, then for each URL
in turn waits until every process of the test has finished the previous round (a file
per process and round in ``BARRIER_DIR``), sleeps until the instant they all compute
from those files, and opens the URL with ``open_storage``. Prints ``ok i`` or
``fail i <error>`` per URL; exits 0 either way.
"""

import os
import sys
import time
from pathlib import Path

import alembic.migration  # noqa: F401 - imported before the race, not during it
import alembic.script  # noqa: F401

from lradvisor.storage import open_storage

PROCESSES = int(os.environ.get("RACE_PROCESSES", "4"))


def wait_round(barrier: Path, index: int) -> None:
    """Block until all processes have marked round ``index - 1``; then start together."""
    marks: list[Path] = []
    while len(marks) < PROCESSES:
        marks = list(barrier.glob(f"{index - 1}.*"))
        time.sleep(0.01)
    start = max(m.stat().st_mtime for m in marks) + 0.3
    time.sleep(max(0.0, start - time.time()))


def main() -> None:
    barrier, urls = Path(sys.argv[1]), sys.argv[2:]
    (barrier / f"-1.{os.getpid()}").touch()  # imported: ready for round 0
    for index, url in enumerate(urls):
        wait_round(barrier, index)
        try:
            open_storage(url).engine.dispose()
            print(f"ok {index}", flush=True)
        except Exception as err:  # the race shows up as any error
            print(f"fail {index} {str(err).splitlines()[0][:200]}", flush=True)
        (barrier / f"{index}.{os.getpid()}").touch()


if __name__ == "__main__":
    main()
