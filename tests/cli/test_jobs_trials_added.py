"""``search --trials N`` with ``--jobs J`` or ``--create-only`` means what it means for
one process: N first-rung trials this call adds, in total across its workers (and
``--budget`` this call's compute, ``--timeout`` this call's).

On a new study it did. On a study that existed it did not: the target stored when
the study was first made for workers stayed (a resume's ``--trials`` added nothing),
and a study a one-process search made took N as its total (3 held, ``--trials 2``:
nothing run). Real ``lradvisor search`` processes on SQLite, tabular-mlp.
"""

from __future__ import annotations

import json

import optuna

from tests.conftest import run_cli

SEARCH = ("search", "--workload", "tabular-mlp", "--study", "t")


def _first_rung(url: str) -> int:
    study = optuna.load_study(study_name="t", storage=url)
    return sum(t.user_attrs.get("rung") == 0 and t.state.name in ("COMPLETE", "PRUNED")
               for t in study.trials)


def test_jobs_add_their_trials_to_a_new_study_and_to_a_resumed_one(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    made = run_cli(*SEARCH, "--trials", "3", "--jobs", "2", "--budget", "1", "--storage", url)
    assert made.returncode == 0, made.stderr
    assert _first_rung(url) == 3  # in total across the 2 workers, not 3 each
    again = run_cli(*SEARCH, "--trials", "2", "--jobs", "2", "--budget", "1", "--storage", url)
    assert again.returncode == 0, again.stderr
    assert _first_rung(url) == 5  # 2 added, as `search --trials 2` adds in one process
    ran = again.stderr.splitlines()[-1]
    assert ran.startswith("study 't': ") and " 0 trial(s) run" not in ran, ran


def test_create_only_on_a_study_sets_its_workers_target_from_this_call(tmp_path):
    """A study a one-process search made (3 first-rung trials): ``--create-only
    --trials 2`` makes its workers' target 5 first-rung trials (it was 2, taken as the
    study's total: nothing for them to run), with this call's timeout and no budget."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    made = run_cli(*SEARCH, "--trials", "3", "--budget", "1", "--storage", url)
    assert made.returncode == 0, made.stderr
    held = _first_rung(url)
    assert held == 3
    shown = run_cli(*SEARCH, "--trials", "2", "--timeout", "30", "--create-only", "--storage",
                    url, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    target = json.loads(shown.stdout)
    assert (target["trials"], target["timeout"], target["budget"]) == (held + 2, 30, None)
    said = run_cli(*SEARCH, "--trials", "2", "--create-only", "--storage", url)
    assert said.stdout.startswith(f"study 't' holds {held} first-rung trial(s); its workers "
                                  "add 2 more; start workers with:\n"), said.stdout
