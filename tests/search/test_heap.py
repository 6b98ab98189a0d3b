"""Searches and workers keep the garbage collector off the objects they start with."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from lradvisor.search import run_search
from lradvisor.search._heap import start_objects_frozen

FILE = str(Path(__file__).parent / "search_trainables.py")
PROFILE = {"task": "scratch", "total_steps": 40}


@pytest.fixture(autouse=True)
def _collector_as_found():
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    assert frozen == 0, "a test before this one left objects frozen"
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_objects_of_the_start_are_frozen_in_the_block_and_given_back_after():
    before = [1]  # a list: tracked by the collector
    with start_objects_frozen() as froze:
        assert froze is True
        assert gc.get_freeze_count() > 0
        assert not any(o is before for o in gc.get_objects())  # out of its generations
        after = [2]
        assert any(o is after for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is before for o in gc.get_objects())


def test_a_process_that_froze_objects_itself_keeps_them_frozen():
    gc.freeze()
    mine = gc.get_freeze_count()
    with start_objects_frozen() as froze:
        assert froze is False
    assert gc.get_freeze_count() == mine


def test_a_process_with_the_collector_off_is_left_alone():
    gc.disable()
    with start_objects_frozen() as froze:
        assert froze is False
        assert gc.get_freeze_count() == 0
    assert not gc.isenabled()


def test_a_search_runs_its_trials_with_the_start_objects_frozen(tmp_path):
    res = run_search(f"{FILE}:frozen_objects", profile=PROFILE, n_trials=3, budget=1,
                     storage=f"sqlite:///{tmp_path}/s.db", study_name="s", device="cpu")
    values = [t.value for t in res.study.trials if t.value is not None]
    assert len(values) >= 3
    assert min(values) > 1000  # torch, Optuna and SQLAlchemy's objects, at least
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_a_search_are_still_collected(tmp_path):
    res = run_search(f"{FILE}:cycle_collected", profile=PROFILE, n_trials=3, budget=1,
                     storage=f"sqlite:///{tmp_path}/s.db", study_name="s", device="cpu")
    values = [t.value for t in res.study.trials if t.value is not None]
    assert values and set(values) == {1.0}


def test_a_worker_runs_its_trials_with_the_start_objects_frozen(tmp_path):
    from lradvisor.search._jobs import create_search_study
    from lradvisor.search._worker import run_worker

    url = f"sqlite:///{tmp_path}/w.db"
    create_search_study(f"{FILE}:frozen_objects", profile=PROFILE, n_trials=2, budget=1,
                        storage=url, study_name="w")
    result = run_worker("w", url, n_trials=2, device="cpu", poll=0.05)
    values = [t.value for t in result.study.get_trials(deepcopy=False) if t.value is not None]
    assert len(values) >= 2
    assert min(values) > 1000
    assert gc.get_freeze_count() == 0
