"""Ctrl-C that is not lost: the search's and the workers' loops stop on it even where
the ``KeyboardInterrupt`` it raised was swallowed."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ctrl_c_remembered"]


@contextmanager
def ctrl_c_remembered() -> Iterator[threading.Event]:
    """An event set by Ctrl-C (SIGINT) while a search or a worker runs, besides the usual
    ``KeyboardInterrupt``: its loop stops before the next trial even when the
    exception was swallowed where it struck (a trainable that catches it to save a
    checkpoint, or a library callback run during garbage collection, where Python
    prints it and goes on).

    Only where Ctrl-C raises ``KeyboardInterrupt`` now (Python's default handler, in the
    main thread); a process that ignores SIGINT, or has its own handler, keeps it.
    """
    event = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield event
        return

    def remember(signum: int, frame: Any) -> None:
        event.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)
