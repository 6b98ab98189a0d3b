"""Ctrl-C held back over a section that must not be cut: a real SIGINT to this process."""

from __future__ import annotations

import os
import signal

import pytest

from lradvisor.search._interrupt import ctrl_c_held, ctrl_c_remembered


@pytest.fixture(autouse=True)
def _terminal_ctrl_c():
    """Python's own Ctrl-C handler, as in a terminal (a runner may start us with SIGINT
    ignored, and ``ctrl_c_remembered`` then keeps out of the way)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_in_a_held_section_strikes_where_it_ends():
    done = []
    with ctrl_c_remembered() as event, pytest.raises(KeyboardInterrupt), ctrl_c_held():
        os.kill(os.getpid(), signal.SIGINT)
        with ctrl_c_held():  # nested: only the outermost end strikes
            done.append("inner")
        done.append("outer")
    assert done == ["inner", "outer"] and event.is_set()


def test_a_held_section_that_raises_keeps_its_exception_and_the_ctrl_c_is_remembered():
    with ctrl_c_remembered() as event:
        with pytest.raises(ValueError), ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError("its own")
        with ctrl_c_held():  # nothing left pending from before
            pass
    assert event.is_set()


def test_a_ctrl_c_outside_held_sections_strikes_at_once():
    with ctrl_c_remembered(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs before this loop ends
            pass
        raise AssertionError("not interrupted")


def test_without_the_remembering_handler_a_held_section_holds_nothing():
    with pytest.raises(KeyboardInterrupt), ctrl_c_held():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
        raise AssertionError("not interrupted")
