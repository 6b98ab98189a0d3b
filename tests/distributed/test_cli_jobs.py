"""``search --jobs N`` / ``--create-only`` and ``lradvisor worker``, as real processes."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.distributed.conftest import HERE, trials_of

ARGS = ["--trainable", f"{HERE / 'quick_trainable.py'}:train", "--task", "scratch",
        "--total-steps", "90", "--rungs", "0.2,1", "--study", "cli"]


def test_search_jobs_runs_local_workers_and_prints_the_pick(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    done = run_cli("search", *ARGS, "--trials", "6", "--jobs", "2", "--storage", url,
                   "--format", "json", env={"LRADVISOR_TEST_SLEEP": "0.05"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["study"] == "cli"
    trials = trials_of(url, "cli")
    assert sum(t.user_attrs["rung"] == 0 and t.state.name in ("COMPLETE", "PRUNED")
               for t in trials) == 6
    assert len({t.user_attrs["worker"] for t in trials}) == 2


def test_create_only_then_a_worker_through_the_environment_variable(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    made = run_cli("search", *ARGS, "--trials", "3", "--create-only", "--storage", url)
    assert made.returncode == 0, made.stderr
    assert "lradvisor worker --study cli" in made.stdout
    assert trials_of(url, "cli") == []
    done = run_cli("worker", "--study", "cli", "--device", "cpu",
                   env={"LRADVISOR_STORAGE": url, "LRADVISOR_TEST_SLEEP": "0.05"})
    assert done.returncode == 0, done.stderr
    assert "stopped: the study needs no more trials" in done.stderr
    assert sum(t.user_attrs["rung"] == 0 for t in trials_of(url, "cli")) == 3


def test_jobs_refuse_an_in_memory_database_naming_the_alternatives():
    done = run_cli("search", *ARGS, "--jobs", "2", "--storage", "sqlite://")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: storage 'sqlite://' is private to one process, so workers cannot share it; "
        "use a file (sqlite:///studies/lradvisor.db) or a server "
        "(postgresql+psycopg://user@host/db)."]


def test_a_worker_on_a_study_without_a_target_says_how_to_make_one(tmp_path):
    from lradvisor.storage import get_study, open_storage

    url = f"sqlite:///{tmp_path}/s.db"
    get_study(open_storage(url), "plain")
    done = run_cli("worker", "--study", "plain", "--storage", url)
    assert done.returncode == 2
    assert "lradvisor search --create-only" in done.stderr
