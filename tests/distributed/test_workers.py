"""Real worker processes on one study: counts, crash recovery, database outages.

Every worker is ``python -m lradvisor worker`` in its own process; the trainable sleeps
~0.15 s per trial; heartbeats every 1 s, grace 3 s.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from lradvisor.search._fidelity import Fidelity
from lradvisor.search._rungs import next_runs
from lradvisor.search._trial import record_of
from tests.conftest import run_cli
from tests.distributed.conftest import (
    create,
    free_port,
    start_workers,
    trials_of,
    url_through,
    wait_all,
)
from tests.distributed.proxy import TcpProxy

FINISHED = ("COMPLETE", "PRUNED")


def check_study(url: str, name: str, n_trials: int) -> list:
    """The invariants every finished distributed study must hold; returns its trials."""
    trials = trials_of(url, name)
    records = [record_of(t) for t in trials]
    assert [t.state.name for t in trials if t.state.name in ("RUNNING", "WAITING")] == []
    first = [r for r in records if r.rung == 0 and r.state in FINISHED]
    assert len(first) == n_trials
    assert len({t.number for t in trials}) == len(trials)
    runs = [(r.rung, r.key, r.seed) for r in records if r.rung > 0 and r.state in FINISHED]
    assert len(set(runs)) == len(runs)  # no promotion run twice
    for trial in trials:
        if trial.state.name in FINISHED:
            assert trial.intermediate_values, f"trial {trial.number} has no curve"
    return trials


def promotions_left(url: str, name: str) -> list:
    from lradvisor.storage import load_study, open_storage

    study = load_study(open_storage(url), name)
    fid = Fidelity.from_dict(study.user_attrs["fidelity"])
    records = [record_of(t) for t in study.get_trials(deepcopy=False)]
    return [p for rung in range(1, fid.last + 1)
            for p in next_runs(records, rung, fid, "minimize")]


@pytest.fixture(params=["postgresql", "sqlite"])
def any_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/studies.db"
    return request.getfixturevalue("pg_url")


def test_four_workers_run_exactly_the_study_target(any_url):
    create(any_url, "four", 40)
    results = wait_all(start_workers(4, "four", any_url))
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    trials = check_study(any_url, "four", 40)
    assert promotions_left(any_url, "four") == []
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the work was shared
    from lradvisor.storage import load_study, open_storage

    assert load_study(open_storage(any_url), "four").user_attrs.get("recommendation")


def _running_trial_of(url: str, name: str, pid: int) -> int | None:
    for trial in trials_of(url, name):
        if trial.state.name == "RUNNING" and trial.user_attrs.get("worker", "").endswith(
                f":{pid}"):
            return trial.number
    return None


def test_a_worker_killed_mid_trial_has_its_trial_failed_and_rerun(pg_url):
    create(pg_url, "kill", 6, fidelity=Fidelity(rungs=(0.2, 1.0)))
    # The victim's trial lasts a minute, so it is still mid-trial however late (on a
    # loaded machine) the poll below sees it start; it has started before the survivor
    # can run the whole study alone.
    [victim] = start_workers(1, "kill", pg_url, sleep=60)
    deadline, number = time.monotonic() + 60, None
    while number is None and time.monotonic() < deadline and victim.poll() is None:
        number = _running_trial_of(pg_url, "kill", victim.pid)
        time.sleep(0.2)
    if number is None:
        victim.kill()
        raise AssertionError(f"the victim never started a trial: {victim.communicate()[1]}")
    [survivor] = start_workers(1, "kill", pg_url, sleep=1.5)
    time.sleep(0.5)  # mid-trial
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    [(code, err)] = wait_all([survivor])
    assert code == 0, err
    trials = check_study(pg_url, "kill", 6)
    killed = trials[number]
    assert killed.state.name == "FAIL" and "error" not in killed.user_attrs
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retries) == 1 and retries[0].state.name in FINISHED
    assert retries[0].params == killed.params
    assert retries[0].user_attrs["worker"].endswith(f":{survivor.pid}")
    shown = run_cli("studies", "show", "kill", "--storage", pg_url)
    assert shown.returncode == 0, shown.stderr
    assert (f"stale: trial {number} (worker {killed.user_attrs['worker']} stopped beating): "
            f"re-run as trial {retries[0].number} ({retries[0].state.name})") in shown.stdout
    assert f":{survivor.pid}" in shown.stdout and f":{victim.pid}" in shown.stdout


def test_workers_ride_out_a_database_outage(pg_url):
    proxy = TcpProxy(free_port(), 5432)
    proxy.start()
    url = url_through(pg_url, proxy.port)
    create(pg_url, "outage", 30)
    procs = start_workers(3, "outage", url, sleep=0.3, args=["--patience", "60"])
    try:
        while sum(t.state.name in FINISHED for t in trials_of(pg_url, "outage")) < 6:
            time.sleep(0.2)
        before = {t.number: t.value for t in trials_of(pg_url, "outage")
                  if t.state.name in FINISHED}
        proxy.stop()  # every connection cut, new ones refused
        time.sleep(4)
        proxy.start()
        results = wait_all(procs)
    finally:
        proxy.stop()
    assert [code for code, _ in results] == [0, 0, 0], results
    assert any("database unreachable" in err for _, err in results)
    trials = check_study(pg_url, "outage", 30)
    after = {t.number: t.value for t in trials}
    assert {n: after[n] for n in before} == before  # nothing stored was lost


def test_a_worker_stops_with_one_clear_line_when_the_database_stays_away(pg_url):
    proxy = TcpProxy(free_port(), 5432)
    proxy.start()
    create(pg_url, "away", 30)
    [proc] = start_workers(1, "away", url_through(pg_url, proxy.port), sleep=0.3,
                           args=["--patience", "2"])
    while not any(t.state.name in FINISHED for t in trials_of(pg_url, "away")):
        time.sleep(0.2)
    proxy.stop()
    before = {t.number: t.value for t in trials_of(pg_url, "away") if t.state.name in FINISHED}
    [(code, err)] = wait_all([proc], timeout=60)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: study database unreachable for") and "worker stopped" in last
    after = {t.number: t.value for t in trials_of(pg_url, "away")}
    assert {n: after[n] for n in before} == before  # nothing stored was lost
