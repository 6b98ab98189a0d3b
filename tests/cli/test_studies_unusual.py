"""The commands that read studies, against studies a search does not usually leave: a
diverged trial, a study made by plain Optuna, a trial left running by a killed search,
a database opened read-only or made by another Optuna version. Real SQLite files, the
CLI in a real subprocess."""

from __future__ import annotations

import json
import math
import sqlite3

import optuna
import pytest

from tests.conftest import one_line, run_cli

SPEC = json.dumps({"family": "cosine", "params": {}, "peak_lr": 0.1})


def _trial(value: float | None, state: str = "COMPLETE", **attrs: object) -> object:
    """A finished trial as a search stores it (its spec, rung and steps)."""
    curve = attrs.pop("curve", {10: 0.5, 20: value})
    return optuna.trial.create_trial(
        state=getattr(optuna.trial.TrialState, state), value=value, intermediate_values=curve,
        user_attrs={"spec": SPEC, "rung": 0, "steps_used": 20, "total_steps": 20, **attrs})


@pytest.fixture
def url(tmp_path):
    """An SQLite file with study ``s``: one completed trial and one that diverged (NaN
    reports, pruned, as a search stores a diverged run)."""
    from lradvisor.storage import get_study, open_storage

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = get_study(open_storage(url), "s")
    study.set_user_attr("full_steps", 20)
    study.add_trial(_trial(0.25))
    study.add_trial(_trial(None, "PRUNED", diverged=True,
                           curve={10: float("nan"), 20: float("inf")},
                           spec=SPEC.replace("cosine", "constant")))
    return url


def test_export_json_of_a_diverged_trial_is_strict_json(url, tmp_path):
    """A diverged trial's NaN and inf reports were written as bare ``NaN`` and
    ``Infinity``, which are not JSON: ``jq`` and ``JSON.parse`` refuse the whole file."""
    for out in (None, tmp_path / "out.json"):
        proc = run_cli("studies", "export", "s", "--storage", url, "--format", "json",
                       *(("-o", str(out)) if out else ()))
        assert proc.returncode == 0, proc.stderr
        text = out.read_text() if out else proc.stdout

        def refuse(word: str) -> None:
            raise AssertionError(f"not JSON: {word}")

        data = json.loads(text, parse_constant=refuse)
        diverged = data["trials"][1]
        assert diverged["state"] == "PRUNED" and diverged["diverged"] is True
        curve = [[step, float(value)] for step, value in diverged["curve"]]
        assert curve[0][0] == 10 and math.isnan(curve[0][1]) and curve[1] == [20, math.inf]
        assert data["trials"][0]["value"] == 0.25  # finite numbers stay numbers


def test_delete_on_a_read_only_database_is_one_line_and_keeps_the_study(url):
    """A database that refuses writes (opened read-only here; a read-only file does the
    same) made ``delete`` end in Optuna's traceback, exit 1."""
    path = url.removeprefix("sqlite:///")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    assert run_cli("studies", "list", "--storage", read_only).returncode == 0  # it reads
    line = one_line(run_cli("studies", "delete", "s", "--yes", "--storage", read_only))
    assert line == ("Error: cannot delete study 's': attempt to write a readonly database; "
                    "nothing was deleted."), line
    kept = optuna.load_study(study_name="s", storage=url)
    assert [t.state.name for t in kept.trials] == ["COMPLETE", "PRUNED"]


@pytest.mark.parametrize(("version", "advice"), [
    ("v2.6.0.a", "optuna storage upgrade"),  # made by an older Optuna
    ("v99.0.0.a", "updating optuna"),  # made by a newer one
])
@pytest.mark.parametrize("command", [("studies", "list"), ("studies", "show", "s"),
                                     ("report", "s", "-o", "{out}")])
def test_a_database_of_another_optuna_version_is_one_line(url, tmp_path, version, advice,
                                                          command):
    """Optuna refuses tables another version made with a RuntimeError: it was a
    traceback, exit 1; now Optuna's advice (upgrade the tables, or Optuna) in one line."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (version,))
    out = tmp_path / "r.html"
    line = one_line(run_cli(*(a.format(out=out) for a in command), "--storage", url))
    assert line.startswith(f"Error: cannot open study storage {url}: "), line
    assert "is no longer compatible with the table schema" in line and advice in line, line
    assert not out.exists()


def test_a_plain_optuna_study_beside_ours_is_not_called_one_without_completed_trials(
        url, tmp_path):
    """A study plain Optuna made in the same database, all its trials complete, was
    'has no completed trial yet' (best, suggest) and 'no trial has completed' (report)."""
    plain = optuna.create_study(study_name="plain", storage=url)
    plain.optimize(lambda trial: (trial.suggest_float("x", -3, 3) - 1) ** 2, n_trials=3)
    says = ("Error: study 'plain' has 3 completed trial(s) but no schedule: none stores a "
            "spec, so it was not made by lradvisor search (or its service) and has no "
            "schedule to recommend.")
    for command in (("studies", "best", "plain"), ("suggest", "--study", "plain")):
        assert one_line(run_cli(*command, "--storage", url)) == says
    out = tmp_path / "plain.html"
    assert run_cli("report", "plain", "--storage", url, "-o", str(out)).returncode == 0
    assert f"<p class=note>No recommendation: {says.removeprefix('Error: ')}" \
        .replace("'", "&#x27;") in out.read_text()
    ours = run_cli("studies", "best", "s", "--storage", url, "--format", "json")  # beside it
    assert ours.returncode == 0 and json.loads(ours.stdout)["score"] == 0.25


def test_a_study_of_two_objectives_is_one_line_for_its_readers_and_can_be_deleted(
        url, tmp_path):
    """A multi-objective study plain Optuna made beside ours was a RuntimeError traceback
    (Optuna's study.direction) in show, best, export, report and suggest --study."""
    two = optuna.create_study(study_name="two", storage=url,
                              directions=["minimize", "maximize"])
    two.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)),
                 n_trials=2)
    says = ("Error: study 'two' has 2 objectives (minimize/maximize): lradvisor makes and "
            "reads studies of one objective (this one was made by other code).")
    for command in (("studies", "show", "two"), ("studies", "best", "two"),
                    ("studies", "export", "two", "--format", "csv"),
                    ("report", "two", "-o", str(tmp_path / "r.html")),
                    ("suggest", "--study", "two")):
        assert one_line(run_cli(*command, "--storage", url)) == says, command
    assert run_cli("studies", "delete", "two", "--yes", "--storage", url).returncode == 0
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["s"]


def test_show_and_report_count_a_trial_left_running(url, tmp_path):
    """A search killed mid-trial leaves that trial RUNNING; ``show`` said '3 trials, 1
    complete, 1 pruned, 0 failed' (the third nowhere) and the report the same."""
    optuna.load_study(study_name="s", storage=url).ask()  # left running, as kill -9 leaves it
    shown = run_cli("studies", "show", "s", "--storage", url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith(
        "study 's' (minimize): 3 trials, 1 complete, 1 pruned, 0 failed, 1 running; ")
    assert run_cli("report", "s", "--storage", url, "-o", str(tmp_path / "r.html")).returncode == 0
    assert "<tr><th>running</th><td>1</td></tr>" in (tmp_path / "r.html").read_text()
    assert "<th>waiting</th>" not in (tmp_path / "r.html").read_text()  # none: not shown


@pytest.mark.parametrize("made_by", ["optuna", "empty"])
def test_show_of_a_study_without_a_run_length_prints_no_none(url, made_by):
    """A study with no stored run length (plain Optuna's; one with no trials yet) was
    shown as '0 steps = None full runs of None steps'."""
    study = optuna.create_study(study_name="other", storage=url)
    if made_by == "optuna":
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    shown = run_cli("studies", "show", "other", "--storage", url)
    assert shown.returncode == 0, shown.stderr
    trials = 2 if made_by == "optuna" else 0
    assert shown.stdout.splitlines()[0] == (
        f"study 'other' (minimize): {trials} trials, {trials} complete, 0 pruned, 0 failed; "
        "0 steps (no full-run length stored)")
    assert "None" not in shown.stdout


def test_list_names_the_best_of_a_study_that_stores_no_recommendation(url):
    """A study that stores no recommendation (a search killed before its end, one the
    service drives) was '-' in ``list``'s best column while ``best`` answered from its
    trials; now ``list`` gives what ``best`` gives, marked 'so far'."""
    best = json.loads(run_cli("studies", "best", "s", "--storage", url, "--format",
                              "json").stdout)
    listed = run_cli("studies", "list", "--storage", url)
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[1]
    assert best["family"] == "cosine" and best["score"] == 0.25
    assert row.startswith("s ") and row.endswith("  cosine (0.25) so far"), row


def test_export_of_a_plain_optuna_study_keeps_its_parameters(url):
    """A study plain Optuna made stores what each trial tried only as Optuna parameters,
    and the export dropped them: ``x`` was nowhere. Now a ``params_NAME`` column each
    (CSV; empty where a trial has none) and a ``params`` object per trial (JSON); a
    study of ours is exported as before, its columns those of ``COLUMNS``."""
    import csv

    from lradvisor.search._report import COLUMNS

    plain = optuna.create_study(study_name="plain", storage=url)

    def objective(trial):
        x = trial.suggest_float("x", -3, 3)
        if trial.suggest_categorical("kind", ["a", "b"]) == "b":
            trial.suggest_int("n", 1, 5)
        return (x - 1) ** 2

    plain.optimize(objective, n_trials=6)
    proc = run_cli("studies", "export", "plain", "--storage", url)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    assert list(rows[0]) == [*COLUMNS, "params_kind", "params_n", "params_x"]
    for row, trial in zip(rows, plain.trials, strict=True):
        assert float(row["params_x"]) == trial.params["x"]
        assert row["params_kind"] == trial.params["kind"]
        assert row["params_n"] == str(trial.params.get("n", ""))
    from click.testing import CliRunner

    from lradvisor.cli import cli

    def export(name, fmt):  # in-process: what the subprocess above checks, quicker
        out = CliRunner().invoke(cli, ["studies", "export", name, "--storage", url,
                                       "--format", fmt])
        assert out.exit_code == 0, out.output
        return out.output

    exported = json.loads(export("plain", "json"))["trials"]
    assert [t["params"] for t in exported] == [t.params for t in plain.trials]
    assert export("s", "csv").splitlines()[0] == ",".join(COLUMNS)  # ours: as before
    assert all("params" not in trial for trial in json.loads(export("s", "json"))["trials"])
