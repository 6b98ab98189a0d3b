"""``search --jobs N`` / ``--create-only`` and ``lradvisor worker``, as real processes."""

from __future__ import annotations

import json

import optuna

from tests.conftest import ROOT, interrupt_cli, run_cli
from tests.distributed.conftest import HERE, trials_of

ARGS = ["--trainable", f"{HERE / 'quick_trainable.py'}:train", "--task", "scratch",
        "--total-steps", "90", "--rungs", "0.2,1", "--study", "cli"]


def test_search_jobs_runs_local_workers_and_prints_the_pick(tmp_path):
    # Trials of a second: one worker alone takes ~10 s for the study, longer than the
    # other can lag behind it in starting on a loaded machine (with 0.05 s trials, the
    # first worker ran them all before the second began).
    url = f"sqlite:///{tmp_path}/s.db"
    done = run_cli("search", *ARGS, "--trials", "6", "--jobs", "2", "--storage", url,
                   "--format", "json", env={"LRADVISOR_TEST_SLEEP": "1"}, timeout=120)
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


def test_a_worker_stops_on_a_ctrl_c_its_trainable_swallowed(tmp_path):
    """Ctrl-C half a second into a worker's second trial, whose trainable catches
    KeyboardInterrupt and returns: that trial completes, and the worker stops before
    the next one with exit 130 (it would otherwise run the study to its end)."""
    url = f"sqlite:///{tmp_path}/s.db"
    trainable = f"{ROOT / 'tests' / 'search' / 'search_trainables.py'}:swallows_ctrl_c"
    made = run_cli("search", "--trainable", trainable, "--task", "scratch", "--total-steps",
                   "40", "--trials", "10", "--create-only", "--storage", url, "--study", "w")
    assert made.returncode == 0, made.stderr
    code, err = interrupt_cli("worker", "--study", "w", "--storage", url, "--device", "cpu",
                              after="trial 0 ", delay=0.5, cwd=tmp_path,
                              env={"SLOW_SECONDS": "1.0"}, wait=60)
    assert code == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    trials = optuna.load_study(study_name="w", storage=url).trials
    assert len(trials) <= 2, [t.state for t in trials]


def test_workers_start_from_the_learned_guide_the_search_found(tmp_path):
    """`search --create-only` stores the evidence near the profile; a worker on another
    machine (no learned guide file there) still runs the family that won first."""
    from lradvisor.learn import fit

    profile = {"task": "scratch", "total_steps": 90}
    evidence = [{"name": f"old-{i}", "label": "old", "profile": profile, "lr_ratio": 0.0,
                 "family_scores": {"constant": 1.0, "cosine": 0.0, "onecycle": 0.0,
                                   "plateau": 0.0},
                 "winner": {"family": "constant", "params": {}, "peak_lr": 1e-3}}
                for i in range(3)]
    far = {**evidence[0], "name": "far", "profile": {"task": "pretrain", "total_steps": 90}}
    guide, _ = fit([*evidence, far])
    path = tmp_path / "learned.json"
    path.write_text(json.dumps(guide.to_dict()))
    url = f"sqlite:///{tmp_path}/s.db"
    made = run_cli("search", *ARGS, "--trials", "3", "--create-only", "--storage", url,
                   env={"LRADVISOR_LEARNED": str(path)})
    assert made.returncode == 0, made.stderr
    from lradvisor.storage import load_study, open_storage

    stored = load_study(open_storage(url), "cli").user_attrs["learned_guide"]
    assert sorted(s["name"] for s in stored["studies"]) == ["old-0", "old-1", "old-2"]
    done = run_cli("worker", "--study", "cli", "--device", "cpu",
                   env={"LRADVISOR_STORAGE": url, "LRADVISOR_LEARNED": str(tmp_path / "none"),
                        "LRADVISOR_TEST_SLEEP": "0.05"})
    assert done.returncode == 0, done.stderr
    first = min(trials_of(url, "cli"), key=lambda t: t.number)
    assert json.loads(first.user_attrs["spec"])["family"] == "constant"  # rules: cosine
    assert first.user_attrs["origin"] == "rules"
    shown = run_cli("studies", "show", "cli", "--storage", url)
    assert "learned guide: 3 similar studies (old-0, old-1, old-2)\n" in shown.stdout


MINE = ('[[rule]]\nid = "mine"\nwhen = { task = "scratch" }\nfamily = "wsd"\n'
        'params = { decay_fraction = 0.3 }\nscore = 200\nreason = "A 30% decay."\n')


def _made_with_rules(tmp_path):
    """A study for workers, made with a --rules file; its URL and the file."""
    rules = tmp_path / "mine.toml"
    rules.write_text(MINE)
    url = f"sqlite:///{tmp_path}/s.db"
    made = run_cli("search", *ARGS, "--trials", "3", "--create-only", "--storage", url,
                   "--rules", str(rules))
    assert made.returncode == 0, made.stderr
    return url, rules


def test_a_worker_refuses_rules_that_now_recommend_other_schedules(tmp_path):
    """The worker reread the edited file and ran the study's 'rules' trial with a 10%
    decay, where the study was made (and stores) a 30% one, without a word."""
    url, rules = _made_with_rules(tmp_path)
    rules.write_text(MINE.replace("0.3", "0.1"))
    done = run_cli("worker", "--study", "cli", "--storage", url, "--device", "cpu")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: study 'cli' was made with rules that recommended wsd(decay_fraction=0.3, "
        "decay_shape=1-sqrt, min_lr_ratio=0) peak 0.001, but they now recommend "
        "wsd(decay_fraction=0.1, decay_shape=1-sqrt, min_lr_ratio=0) peak 0.001; a worker "
        f"reads the study's rules files ({rules}): put them back as they were, or create "
        "another study."]
    assert trials_of(url, "cli") == []


def test_a_worker_refuses_rules_that_now_give_another_prior(tmp_path):
    url, rules = _made_with_rules(tmp_path)
    rules.write_text(MINE.replace("score = 200", "score = 300"))  # other family weights
    done = run_cli("worker", "--study", "cli", "--storage", url, "--device", "cpu")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: study 'cli' was made with other rules (rules [")
    assert line.endswith(f"a worker reads the study's rules files ({rules}): put them back "
                         "as they were, or create another study.")
    assert trials_of(url, "cli") == []


def test_a_worker_runs_under_rules_edited_where_nothing_of_the_search_changes(tmp_path):
    url, rules = _made_with_rules(tmp_path)
    rules.write_text(MINE.replace("A 30% decay.", "Reworded.") + "# a comment\n")
    done = run_cli("worker", "--study", "cli", "--storage", url, "--device", "cpu",
                   env={"LRADVISOR_TEST_SLEEP": "0.05"})
    assert done.returncode == 0, done.stderr
    first = min(trials_of(url, "cli"), key=lambda t: t.number)
    assert json.loads(first.user_attrs["spec"])["params"]["decay_fraction"] == 0.3
