"""A study's peak-LR range is the study's: the range a search was given (``search
--lr-find``'s range test) is stored with it, and a resume without one, or a worker,
searches that range, not the rules'. A resume given a new range searches and stores it.

A plain resume wrote the rules' range over the study's ``space`` and sampled outside
the range test's; workers rebuilt the space from the rules and never read it.
In-process on SQLite with tiny trainables (``returns_peak`` trains nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lradvisor.search import Fidelity, run_search

TRAINABLES = Path(__file__).with_name("search_trainables.py")
PEAK = f"{TRAINABLES}:returns_peak"
PROFILE = {"task": "quick", "optimizer": "sgd", "total_steps": 40}
FID = Fidelity(rungs=(0.5, 1.0))
RANGE = (1e-4, 1e-3)  # all below the rules' range for PROFILE (0.01 .. 0.5)


def every_step(ctx):
    """SGD on a quadratic, reporting every step (as an LR range test needs)."""
    import torch

    torch.manual_seed(ctx.seed)
    w = torch.nn.Parameter(torch.full((4,), 2.0))
    opt = torch.optim.SGD([w], lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    loss = torch.tensor(0.0)
    for step in range(1, ctx.total_steps + 1):
        loss = ((w - 1) ** 2).sum() + 0.01 * torch.randn(())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ctx.report(step, loss.item())
    return loss.item()


def _search(url: str, n_trials: int, **kwargs):
    return run_search(PEAK, profile=PROFILE, n_trials=n_trials, storage=url, study_name="s",
                      fidelity=FID, device="cpu", **kwargs)


def _sampled(study) -> list[float]:
    """The full-run peak LRs of the study's sampled trials, in trial order."""
    return [json.loads(t.user_attrs["spec"])["peak_lr"]
            for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("origin") == "sampled" and "spec" in t.user_attrs]


def _inside(peaks: list[float], low: float, high: float) -> bool:
    return bool(peaks) and all(low <= p <= high for p in peaks)


def test_a_resume_without_a_range_searches_the_studys(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = _search(url, 3, lr_range=RANGE)
    assert first.study.user_attrs["prior"]["lr_low"] > RANGE[1]  # the rules' range is apart
    before = len(_sampled(first.study))
    study = _search(url, 5).study
    assert len(_sampled(study)) > before and _inside(_sampled(study), *RANGE)
    attrs = study.user_attrs
    assert (attrs["space"]["lr_low"], attrs["space"]["lr_high"]) == RANGE
    assert attrs["lr_range"] == list(RANGE)


def test_a_resume_given_a_new_range_searches_and_keeps_that_one(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    new = (2e-3, 5e-3)
    _search(url, 3, lr_range=RANGE)
    before = len(_sampled(_search(url, 1).study))
    study = _search(url, 4, lr_range=new).study
    middle = _sampled(study)[before:]
    assert _inside(middle, *new)
    study = _search(url, 4).study  # and a plain resume after it keeps the new one
    assert _inside(_sampled(study)[before + len(middle):], *new)
    assert study.user_attrs["lr_range"] == list(new)


def test_a_study_that_stored_only_its_range_test_resumes_on_its_range(tmp_path):
    """A study searched with --lr-find before the range was stored on its own: its
    ``lr_find`` result's range is the study's."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = _search(url, 1).study
    study.set_user_attr("lr_find", {"suggestion": {"peak_lr": 3e-4, "low": RANGE[0],
                                                   "high": RANGE[1]}})
    study = _search(url, 4).study
    assert _inside(_sampled(study), *RANGE)
    assert study.user_attrs["lr_range"] == list(RANGE)


def test_workers_search_the_studys_range(tmp_path):
    from lradvisor.search._jobs import create_search_study
    from lradvisor.search._worker import run_worker

    url = f"sqlite:///{tmp_path / 's.db'}"
    _search(url, 1, lr_range=RANGE)
    create_search_study(PEAK, profile=PROFILE, n_trials=8, storage=url, study_name="s",
                        fidelity=FID)
    result = run_worker("s", url, n_trials=5, device="cpu", poll=0.05)
    assert _inside(_sampled(result.study), *RANGE)
    assert result.study.user_attrs["lr_range"] == list(RANGE)


def test_search_lr_find_then_workers_on_the_same_study_search_its_range(tmp_path):
    """What the refusal of ``--lr-find`` with ``--jobs``/``--create-only`` advises: the
    range test run first, alone; then the study's workers (as ``--jobs 2`` starts them)."""
    from lradvisor.cli import cli
    from lradvisor.lrfind import LRFindResult
    from lradvisor.search._worker import run_worker

    url = f"sqlite:///{tmp_path / 's.db'}"
    base = ["search", "--trainable", f"{__file__}:every_step", "--task", "quick",
            "--optimizer", "sgd", "--total-steps", "40", "--rungs", "0.5,1",
            "--storage", url, "--study", "s"]
    out = CliRunner().invoke(cli, [*base, "--trials", "1", "--lr-find"])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, [*base, "--trials", "8", "--create-only"])
    assert out.exit_code == 0, out.output
    study = run_worker("s", url, n_trials=5, device="cpu", poll=0.05).study
    found = LRFindResult.from_dict(study.user_attrs["lr_find"]).suggestion
    space = study.user_attrs["space"]  # --create-only kept it
    assert (space["lr_low"], space["lr_high"]) == (found.low, found.high)
    assert _inside(_sampled(study), found.low, found.high)
    assert study.user_attrs["lr_range"] == [found.low, found.high]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models
