"""``lradvisor studies list`` on a database of many studies: a fixed number of queries
however many studies there are, and the best it shows is what ``studies best`` says.
Real SQLite files and PostgreSQL, the CLI in-process (queries counted) and in a real
subprocess."""

from __future__ import annotations

import json

import optuna
import pytest
from click.testing import CliRunner
from sqlalchemy import event
from sqlalchemy.engine import Engine

from lradvisor.cli import cli
from lradvisor.errors import StudyError
from tests.conftest import run_cli
from tests.distributed.conftest import fresh_pg_url, pg, pg_database  # noqa: F401 (fixtures)

SPEC = json.dumps({"family": "cosine", "params": {}, "peak_lr": 0.1})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return fresh_pg_url(request.getfixturevalue("pg"), request.getfixturevalue("pg_database"))


def _trial(value, spec=SPEC, state="COMPLETE"):
    return optuna.trial.create_trial(
        state=getattr(optuna.trial.TrialState, state), value=value,
        intermediate_values={10: 1.0, 20: value if value is not None else 1.0},
        user_attrs={"spec": spec, "rung": 0, "steps_used": 20, "total_steps": 20})


def _ours(storage, name, *, stored):
    """A study as a search leaves it: two trials, the better one lower-peaked; with its
    recommendation stored (``stored``) or not (a killed search's)."""
    from lradvisor.search import Fidelity
    from lradvisor.search._recommend import recommend
    from lradvisor.search._trial import record_of
    from lradvisor.storage import get_study

    study = get_study(storage, name)
    study.set_user_attr("full_steps", 40)
    study.add_trials([_trial(0.5), _trial(0.75, SPEC.replace("cosine", "linear"))])
    if stored:  # as the search stores it
        rec, data = recommend([record_of(t) for t in study.trials], Fidelity(),
                              direction="minimize", full_steps=40, study_name=name)
        study.set_user_attr("recommendation", {**rec.to_dict(), "evidence_data": data})


def _plain(storage, name):
    optuna.create_study(study_name=name, storage=storage).optimize(
        lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=2)


def _fill(storage, numbers):
    """Studies ``s00``, ``s01``, ...: every third plain Optuna's, the others ours."""
    for i in numbers:
        if i % 3 == 2:
            _plain(storage, f"s{i:02d}")
        else:
            _ours(storage, f"s{i:02d}", stored=True)


def _statements(url):
    """The SQL statements ``studies list`` sends (in-process, through click)."""
    sent = []

    def count(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        out = CliRunner().invoke(cli, ["studies", "list", "--storage", url])
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert out.exit_code == 0, out.output
    return sent, out.output


def test_list_sends_as_many_queries_for_12_studies_as_for_4(url):
    """Each study was loaded through Optuna's study summaries, which read every trial
    of every study: 258 statements for these 4 studies and 1394 for 12 on SQLite; 19 s
    for 30 studies, 95 s for 100 (``benchmarks.studies_list``). Now the count does not
    grow with the studies (one that stores no recommendation is loaded, to compute its
    best as ``studies best`` does: one such is here at both sizes)."""
    from lradvisor.storage import open_storage

    storage = open_storage(url)
    _ours(storage, "a-killed", stored=False)
    _fill(storage, range(3))
    few, shown = _statements(url)
    assert len(shown.splitlines()) == 1 + 4
    _fill(storage, range(3, 11))
    many, shown = _statements(url)
    assert len(shown.splitlines()) == 1 + 12
    assert len(many) == len(few), (len(few), len(many))
    storage.engine.dispose()


def test_list_shows_the_best_that_best_gives(tmp_path):
    """Of a study that stores its recommendation (here not the best value: a rules'
    configuration kept), one that stores none, plain Optuna's, an empty one and a
    multi-objective one (which ended ``list`` in a traceback)."""
    from lradvisor.storage import open_storage

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    storage = open_storage(url)
    _ours(storage, "computed", stored=False)
    _ours(storage, "stored", stored=True)
    kept = optuna.load_study(study_name="stored", storage=storage)
    rec = kept.user_attrs["recommendation"]
    kept.set_user_attr("recommendation", {**rec, "family": "linear", "score": 0.75})
    _plain(storage, "plain")
    optuna.create_study(study_name="empty", storage=storage)
    optuna.create_study(study_name="two", storage=storage, directions=["minimize", "maximize"])
    storage.engine.dispose()
    listed = run_cli("studies", "list", "--storage", url)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    for name, so_far in (("computed", " so far"), ("stored", "")):
        best = CliRunner().invoke(cli, ["studies", "best", name, "--storage", url,
                                        "--format", "json"])
        best = json.loads(best.output)
        assert rows[name].endswith(f"  {best['family']} ({best['score']:.4g}){so_far}"), \
            rows[name]
    assert rows["stored"].endswith("  linear (0.75)") and rows["computed"].endswith(
        "  cosine (0.5) so far")
    for name in ("plain", "empty"):  # `best` has none to give
        refused = CliRunner().invoke(cli, ["studies", "best", name, "--storage", url])
        assert isinstance(refused.exception, StudyError), refused.output
        assert rows[name].endswith("  -"), rows[name]
    assert rows["plain"].split()[1:4] == ["min", "2", "0"]
    assert rows["two"].split()[1:3] == ["min/max", "0"] and rows["two"].endswith("  -")
