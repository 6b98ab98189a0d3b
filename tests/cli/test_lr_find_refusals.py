"""``search --lr-find`` on a study that ``run_search`` will not resume: refused before the
sweep, with the line the search without ``--lr-find`` gives, exit 2.

The checks before the sweep left out what ``run_search`` refuses when it opens the
study: a resume with another trainable or workload, run length, profile, rules'
conclusions, families, rungs or direction, and a pruner, sampler or study name it does
not take. The sweep (the user's training) ran first, and then the search refused.
In-process (``lradvisor.cli.main``) on SQLite; the studies are made once by a search.
"""

from __future__ import annotations

import pytest

from lradvisor.cli import main

TRAIN = """
import pathlib

import torch

from lradvisor.lrfind import SweepContext


def train(ctx):
    if isinstance(ctx, SweepContext):  # the LR range test is training it
        pathlib.Path(__file__).with_name("swept").write_text("the sweep ran")
    w = torch.nn.Parameter(torch.ones(4))
    opt = torch.optim.SGD([w], lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    for step in range(1, ctx.total_steps + 1):
        loss = (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ctx.report(step, loss.item())
    return loss.item()


other = train
"""

RULES = """
[[rule]]
id = "mine"
when = { task = "quick" }
family = "cosine"
params = { warmup_fraction = 0.2 }
score = 200
reason = "Mine."
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A folder with the trainable, a rules file and a database of two studies made by
    a search: ``s`` (its trainable, quick/sgd, 40 steps, rungs 0.5,1) and ``w`` (the
    same trainable on workload tabular-mlp's profile)."""
    from lradvisor.search import Fidelity, run_search

    where = tmp_path_factory.mktemp("lrf")
    (where / "t.py").write_text(TRAIN)
    (where / "r.toml").write_text(RULES)
    (where / "p.toml").write_text('pruner = "bogus"\n')
    url = f"sqlite:///{where / 's.db'}"
    fid = Fidelity(rungs=(0.5, 1.0))
    run_search(f"{where / 't.py'}:train", profile={"task": "quick", "optimizer": "sgd",
               "total_steps": 40}, n_trials=1, storage=url, study_name="s", fidelity=fid,
               device="cpu")
    run_search(f"{where / 't.py'}:train", workload="tabular-mlp", n_trials=1, storage=url,
               study_name="w", fidelity=Fidelity(rungs=(0.05, 1.0)), budget=0.5,
               device="cpu")
    assert not (where / "swept").exists()
    return where


def _refused(capsys, args: list[str]) -> str:
    """The one stderr line of ``lradvisor ARGS``, which must exit 2."""
    with pytest.raises(SystemExit) as ended:
        main(args)
    err = capsys.readouterr().err
    assert ended.value.code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


S = ("--study", "s", "--task", "quick", "--optimizer", "sgd", "--total-steps", "40",
     "--rungs", "0.5,1")
W = ("--study", "w", "--workload", "tabular-mlp", "--rungs", "0.05,1", "--budget", "0.5")


@pytest.mark.parametrize("fn, args, start", [
    ("other", S, "Error: study 's' trains '"),
    ("train", (*W[:2], "--workload", "digits-cnn", *W[4:]),
     "Error: study 'w' was made for workload 'tabular-mlp', not 'digits-cnn': trial values"),
    ("train", (*S[:-4], "--total-steps", "60", *S[-2:]),
     "Error: study 's' searched a run of 40 steps, but this run has 60;"),
    ("train", (*S, "--batch-size", "64"), "Error: study 's' was made for the profile "),
    ("train", (*S, "--rules", "{where}/r.toml"), "Error: study 's' was made with other rules"),
    ("train", (*S, "--families", "cosine"), "Error: study 's' searches the families "),
    ("train", (*S[:-1], "0.25,1"), "Error: study 's' runs rungs [0.5, 1.0], not [0.25, 1.0];"),
    ("train", (*S, "--direction", "maximize"),
     "Error: study 's' exists with direction minimize, but maximize was asked;"),
    ("train", (*S, "--spec", "{where}/p.toml"), "Error: unknown pruner 'bogus'; allowed: "),
    ("train", ("--study", " ", *S[2:]),
     "Error: a study name must be a non-empty string, but got ' '."),
], ids=["trainable", "workload", "length", "profile", "rules", "families", "rungs",
        "direction", "pruner", "name"])
def test_a_search_it_refuses_is_refused_before_the_sweep(made, capsys, monkeypatch, fn,
                                                         args, start):
    """Before: the sweep trained (``lr-find: ...`` on stderr), then the same refusal."""
    monkeypatch.chdir(made)  # no learned guide of the checkout's studies/ folder
    given = ["search", "--trainable", f"{made / 't.py'}:{fn}", "--trials", "1",
             "--storage", f"sqlite:///{made / 's.db'}",
             *(a.format(where=made) for a in args)]
    without = _refused(capsys, given)  # run_search's own refusal, no sweep asked
    assert without.startswith(start), without
    assert _refused(capsys, [*given, "--lr-find"]) == without
    assert not (made / "swept").exists()
