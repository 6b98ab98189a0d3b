"""Ctrl-C held back over a section that must not be cut: a real SIGINT to this process."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

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


# -- a search's trial, Ctrl-C'd at the points that once left it RUNNING --------------------
TRAINABLE = f"{Path(__file__).parent / 'search_trainables.py'}:returns_peak"


@contextmanager
def ctrl_c_once(strike):
    """A real SIGINT to this process, once: at the first SQL statement or commit
    (``"COMMIT"``) after the second trial's row is inserted for which
    ``strike(sql, earlier)`` is true (``earlier``: the statements since that row's);
    yields whether it was sent."""
    sent, trials, since = [], [], []

    def fire(sql):
        if len(trials) == 2 and not sent and strike(sql, since):
            sent.append(sql)
            os.kill(os.getpid(), signal.SIGINT)

    def on_statement(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO trials "):
            trials.append(statement)
            since.clear()
        fire(statement)
        since.append(statement)

    def on_commit(session):
        fire("COMMIT")

    event.listen(Engine, "after_cursor_execute", on_statement)
    event.listen(Session, "after_commit", on_commit)
    try:
        yield sent
    finally:
        event.remove(Engine, "after_cursor_execute", on_statement)
        event.remove(Session, "after_commit", on_commit)


STRIKES = {
    # the trial is stored, and the code that fails it did not know it yet
    "made": lambda sql, earlier: sql == "COMMIT",
    # Optuna's Trial reads the new trial back
    "read back": lambda sql, earlier: sql.startswith("SELECT trials.trial_id"),
    # in the middle of the sampled values' write (it left SQLite locked)
    "sampled": lambda sql, earlier: (sql.startswith("INSERT INTO trial_params")
                                     and earlier[-1].startswith("INSERT INTO trial_params")),
    # in the middle of the write that ends it
    "ending": lambda sql, earlier: sql.startswith("UPDATE trials SET state"),
}


@pytest.mark.parametrize("where", STRIKES)
def test_a_ctrl_c_anywhere_in_a_trial_leaves_it_failed_or_finished_never_running(
        tmp_path, where):
    """Ctrl-C while a trial was made or ended left it RUNNING in the study (or, cutting a
    write, SQLite locked, and the search crashed with StorageInternalError)."""
    from lradvisor.search import Fidelity, run_search

    with ctrl_c_once(STRIKES[where]) as sent:
        result = run_search(TRAINABLE, profile={"task": "scratch", "total_steps": 40},
                            n_trials=2, storage=f"sqlite:///{tmp_path}/s.db",
                            study_name="s", fidelity=Fidelity(rungs=(0.5, 1.0)), device="cpu")
    assert sent and result.interrupted
    first, cut = result.study.get_trials()
    assert first.state.name == "COMPLETE"  # finished before: kept
    ended = (cut.state.name, cut.user_attrs.get("error"))
    assert ended == (("COMPLETE", None) if where == "ending" else ("FAIL", "interrupted"))
