"""Ctrl-C that is not lost, and that does not cut a trial's bookkeeping in half.

The search's and the workers' loops stop on it even where the ``KeyboardInterrupt`` it
raised was swallowed (:func:`ctrl_c_remembered`); inside :func:`ctrl_c_held` it waits
for the end of a short section that must not be cut (a trial being written).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ctrl_c_held", "ctrl_c_remembered"]


class _Hold:
    """How many :func:`ctrl_c_held` sections the main thread is in; whether a Ctrl-C
    came meanwhile."""

    depth = 0
    pending = False


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
        if _Hold.depth:
            _Hold.pending = True  # raised where the held section ends
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C back over a short section, then raise its ``KeyboardInterrupt`` there.

    For what must not be cut in two, such as a worker's claim: a trial written to the
    study but not yet known to the code that fails it as interrupted stayed RUNNING.
    Under :func:`ctrl_c_remembered` only, in the main thread; elsewhere Ctrl-C acts as
    it would have. A section that raises keeps its own exception (the Ctrl-C is still
    remembered).

    Example:
        >>> with ctrl_c_held():
        ...     pass
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Hold.depth += 1
    try:
        yield
    finally:
        _Hold.depth -= 1
        strike = _Hold.depth == 0 and _Hold.pending
        if strike:
            _Hold.pending = False
    if strike:
        raise KeyboardInterrupt
