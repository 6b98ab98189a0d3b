"""Keep Python's cyclic garbage collector off the objects a search starts with.

A process that has imported torch, scikit-learn, SQLAlchemy and Optuna holds about
420,000 objects the collector tracks. Its full collections walk all of them: about
0.25 s each on 2 cores, and a 40-trial search of a small workload triggers one, as
long as several of its proxy runs. :func:`start_objects_frozen` moves the objects that
exist when the search starts out of the collector's reach for the search's duration
(:func:`gc.freeze`) and gives them back at its end (:func:`gc.unfreeze`). Nothing is
freed later than it would be otherwise except cyclic garbage among those older
objects, which waits for the first full collection after the search; reference
counting frees everything else as usual.

A process that froze objects itself, or turned the collector off, is left as it is.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["start_objects_frozen"]


@contextmanager
def start_objects_frozen() -> Iterator[bool]:
    """Freeze the objects that exist now until the block ends; yields whether it did."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield False
        return
    gc.freeze()
    try:
        yield True
    finally:
        gc.unfreeze()
