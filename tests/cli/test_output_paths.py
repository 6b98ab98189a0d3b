"""Paths a command cannot use read as any other bad input, in a real subprocess: one line
naming the path and why, exit 2, no traceback. Commands that only read studies create
no database (a mistyped path is reported); an export's folders are made as a report's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import one_line, run_cli


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The URL of an SQLite file holding one finished study, ``st``, as a search leaves it."""
    import optuna

    from lradvisor.storage import get_study, open_storage

    url = f"sqlite:///{tmp_path_factory.mktemp('stored') / 'studies.db'}"
    study = get_study(open_storage(url), "st")
    study.set_user_attr("profile", {"task": "quick", "total_steps": 20})
    study.set_user_attr("full_steps", 20)
    study.set_user_attr("recommendation", {"family": "cosine", "params": {}, "peak_lr": 0.1,
                                           "total_steps": 20})
    spec = json.dumps({"family": "cosine", "params": {}, "peak_lr": 0.1})
    for value in (0.2, 0.1):
        study.add_trial(optuna.trial.create_trial(
            value=value, intermediate_values={10: value + 0.1, 20: value},
            user_attrs={"spec": spec, "rung": 0, "steps_used": 20, "total_steps": 20}))
    return url


@pytest.mark.parametrize("args", [
    ("suggest", "--task", "finetune", "--plot", "{out}"),
    ("schedules", "plot", "cosine", "-o", "{out}"),
    ("studies", "show", "st", "--storage", "{url}", "--plot", "{out}"),
    ("studies", "export", "st", "--storage", "{url}", "-o", "{out}"),
    ("report", "st", "--storage", "{url}", "-o", "{out}"),
    ("rules", "learn", "--storage", "{url}", "-o", "{out}"),
    ("lr-find", "--workload", "tabular-mlp", "--plot", "{out}"),
], ids=lambda args: " ".join(args[:2]))
def test_an_output_path_that_cannot_be_written_is_one_line_exit_2(stored, tmp_path, args):
    blocker = tmp_path / "a-file"  # a file where the output's folder should be
    blocker.write_text("not a folder\n")
    out = blocker / "out.png"  # plots must be PNG; the other outputs take any name
    line = one_line(run_cli(*(a.format(out=out, url=stored) for a in args)))
    assert line.startswith(f"Error: cannot write {str(out)!r}: "), line
    assert repr(str(blocker)) in line  # the folder that stood in the way is named


@pytest.mark.parametrize("out", ["/proc/lradvisor-x.png", "/proc/lradvisor-x/plots"])
def test_an_output_under_proc_is_one_line(stored, out):
    """Paths that once gave tracebacks: the file (or the plots' folder) cannot be made
    there."""
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc (Linux)")
    args = (("schedules", "plot", "cosine", "-o", out) if out.endswith(".png")
            else ("studies", "show", "st", "--storage", stored, "--plot", out))
    line = one_line(run_cli(*args))
    assert line.startswith(f"Error: cannot write {out!r}: "), line


MARKED_TRAINABLE = """
import pathlib, torch

def train(ctx):
    pathlib.Path(__file__).with_name("trained").write_text("the sweep ran")
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    for step in range(1, ctx.total_steps + 1):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        ctx.report(step, loss.item())
    return loss.item()
"""


@pytest.mark.parametrize("where", ["blocked", "/proc"])
def test_an_unwritable_plot_stops_lr_find_before_its_sweep(tmp_path, where):
    """The whole sweep (the user's training) ran and its result was lost before the plot's
    path was found unwritable; now the option is refused as given."""
    (tmp_path / "t.py").write_text(MARKED_TRAINABLE)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = str(blocker / "lr.png") if where == "blocked" else "/proc/lradvisor-x/lr.png"
    proc = run_cli("lr-find", "--trainable", f"{tmp_path / 't.py'}:train", "--steps", "20",
                   "--plot", out)
    assert one_line(proc).startswith(f"Error: cannot write {out!r}: "), proc.stderr
    assert proc.stdout == "" and not (tmp_path / "trained").exists()
    proc = run_cli("lr-find", "--trainable", f"{tmp_path / 't.py'}:train", "--steps", "20",
                   "--plot", str(tmp_path / "new" / "lr.png"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "trained").exists() and (tmp_path / "new" / "lr.png").is_file()


def test_rules_learn_checks_its_output_before_it_opens_the_database(tmp_path):
    """It opened the database first, giving an empty SQLite file Optuna's tables, and only
    then found that the guide could not be written."""
    import sqlite3

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = blocker / "learned.json"
    proc = run_cli("rules", "learn", "--storage", f"sqlite:///{empty}", "-o", str(out))
    assert one_line(proc).startswith(f"Error: cannot write {str(out)!r}: "), proc.stderr
    with sqlite3.connect(empty) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_export_makes_the_missing_folders_of_its_output(stored, tmp_path):
    out = tmp_path / "new" / "deeper" / "trials.csv"
    proc = run_cli("studies", "export", "st", "--storage", stored, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("number,state,value,rung")
    assert proc.stderr.strip() == f"wrote {out}"


@pytest.mark.parametrize("args", [
    ("studies", "list"),
    ("studies", "show", "st"),
    ("studies", "best", "st"),
    ("studies", "export", "st"),
    ("studies", "delete", "st", "--yes"),
    ("report", "st", "-o", "{tmp}/report.html"),
    ("suggest", "--study", "st"),
    ("rules", "learn", "-o", "{tmp}/learned.json"),
], ids=lambda args: " ".join(args[:2]))
def test_a_read_only_command_refuses_a_missing_sqlite_file_and_creates_nothing(tmp_path, args):
    database = tmp_path / "typo" / "dir" / "x.db"
    url = f"sqlite:///{database}"
    proc = run_cli(*(a.format(tmp=tmp_path) for a in args), "--storage", url)
    line = one_line(proc)
    assert line.startswith(f"Error: cannot open study storage {url}: "
                           f"no database file {str(database)!r}"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, db, lock or output


@pytest.mark.parametrize("args", [
    ("studies", "list"),
    ("report", "st", "-o", "{tmp}/report.html"),
    ("suggest", "--study", "st"),
    ("rules", "learn", "-o", "{tmp}/learned.json"),
], ids=lambda args: " ".join(args[:2]))
def test_a_read_only_command_writes_no_tables_into_an_empty_sqlite_file(tmp_path, args):
    database = tmp_path / "empty.db"
    database.touch()  # an existing file, but no study database
    url = f"sqlite:///{database}"
    line = one_line(run_cli(*(a.format(tmp=tmp_path) for a in args), "--storage", url))
    assert line == (f"Error: cannot open study storage {url}: {str(database)!r} holds no "
                    "studies (no study tables; this command only reads studies, a search "
                    "creates them)."), line
    assert database.stat().st_size == 0  # Optuna's tables were not written into it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_search_still_creates_its_storage_and_says_when_it_cannot(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    url = f"sqlite:///{blocker}/studies.db"
    line = one_line(run_cli("search", "--workload", "tabular-mlp", "--storage", url))
    assert line.startswith(f"Error: cannot open study storage {url}: cannot create folder "
                           f"{str(blocker)!r}: "), line
    made = tmp_path / "new" / "studies.db"
    proc = run_cli("search", "--task", "quick", "--total-steps", "40", "--trials", "2",
                   "--workload", "tabular-mlp", "--create-only", "--storage", f"sqlite:///{made}")
    assert proc.returncode == 0, proc.stderr
    assert made.is_file()


@pytest.mark.parametrize("args", [("studies", "list"), ("search", "--workload", "tabular-mlp")],
                         ids=lambda args: args[0])
def test_a_storage_file_that_is_not_a_database_is_one_line(tmp_path, args):
    text = tmp_path / "notes.db"
    text.write_text("these are notes, not a database\n")
    url = f"sqlite:///{text}"
    line = one_line(run_cli(*args, "--storage", url))
    assert line == f"Error: cannot open study storage {url}: file is not a database", line
    assert text.read_text() == "these are notes, not a database\n"


@pytest.mark.parametrize("args", [
    ("suggest", "--task", "finetune", "--plot", "{out}"),
    ("schedules", "plot", "cosine", "-o", "{out}"),
    ("lr-find", "--workload", "tabular-mlp", "--plot", "{out}"),
], ids=lambda args: args[0])
def test_a_plot_path_that_is_no_png_is_refused_before_the_work(tmp_path, args):
    """matplotlib's traceback (``Format 'txt' is not supported``) came after the work, an
    lr-find's whole sweep included; now the option is refused as given."""
    out = tmp_path / "curve.txt"
    proc = run_cli(*(a.format(out=out) for a in args))
    line = one_line(proc)
    assert line == (f"Error: cannot write {str(out)!r}: plots are PNG files; give a path "
                    "ending in .png."), line
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_delete_asks_only_about_a_study_that_is_there_and_keeps_it_when_told(tmp_path):
    """A missing study is one line before any question (it asked first); answering no
    keeps the study and exits 1 (it exited 130, an interrupt's status)."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    made = run_cli("search", "--task", "scratch", "--total-steps", "40", "--trainable",
                   f"{Path(__file__).parents[1] / 'search' / 'search_trainables.py'}:quadratic",
                   "--trials", "1", "--rungs", "0.5,1", "--storage", url, "--study", "d")
    assert made.returncode == 0, made.stderr
    missing = run_cli("studies", "delete", "nosuch", "--storage", url, input="y\n")
    assert one_line(missing).startswith("Error: no study named 'nosuch' in this storage")
    kept = run_cli("studies", "delete", "d", "--storage", url, input="n\n")
    assert kept.returncode == 1 and kept.stderr.strip().endswith("Kept study 'd'.")
    assert run_cli("studies", "best", "d", "--storage", url).returncode == 0
    gone = run_cli("studies", "delete", "d", "--storage", url, input="y\n")
    assert gone.returncode == 0 and "deleted study 'd'" in gone.stdout


@pytest.mark.parametrize("args", [
    ("studies", "export", "st", "--storage", "{url}"),
    ("studies", "export", "st", "--storage", "{url}", "--format", "json"),
    ("report", "st", "--storage", "{url}"),
    ("rules", "learn", "--storage", "{url}"),
], ids=lambda args: " ".join(a for a in args if not a.startswith(("{", "-")) and a != "st"))
def test_a_text_output_given_as_dash_goes_to_stdout(stored, tmp_path, args):
    """``-o -`` wrote a file named "-"; as for Unix tools it is stdout: the same text the
    file gets, with nothing written beside it (what a command says for people goes to
    stderr)."""
    given = [a.format(url=stored) for a in args]
    dash = run_cli(*given, "-o", "-", cwd=tmp_path)
    assert dash.returncode == 0, dash.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file "-", nothing else
    assert "wrote" not in dash.stdout
    file = tmp_path / "out" / "file"
    proc = run_cli(*given, "-o", str(file), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert dash.stdout.rstrip("\n") == file.read_text().rstrip("\n")
    assert dash.stdout.strip()


def test_dot_slash_dash_still_names_a_file_called_dash(stored, tmp_path):
    proc = run_cli("studies", "export", "st", "--storage", stored, "-o", "./-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert (tmp_path / "-").read_text().startswith("number,state,value,rung")


@pytest.mark.parametrize(("args", "give"), [
    (("schedules", "plot", "cosine", "-o", "-"), "a path ending in .png"),
    (("suggest", "--task", "finetune", "--plot", "-"), "a path ending in .png"),
    (("lr-find", "--workload", "tabular-mlp", "--plot", "-"), "a path ending in .png"),
    (("studies", "show", "st", "--storage", "{url}", "--plot", "-"), "a folder for them"),
], ids=["schedules plot", "suggest", "lr-find", "studies show"])
def test_a_plot_given_as_dash_is_refused_in_one_line(stored, tmp_path, args, give):
    """A PNG on a terminal is bytes, not text: ``-`` is refused before the work (a plots
    folder named "-" was made, or the line said only that '-' is not a .png path)."""
    proc = run_cli(*(a.format(url=stored) for a in args), cwd=tmp_path)
    assert one_line(proc) == ("Error: cannot write a plot to '-' (stdout): plots are PNG "
                              f"files, not text; give {give}.")
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []
