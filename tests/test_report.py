"""The HTML study report: every section from a real tiny study, self-contained, and it
renders in headless Chromium (a screenshot is taken and is not blank)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from lradvisor.cli import cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def quadratic(ctx):
    """SGD on a noisy quadratic, 10 reports; a too-high peak LR diverges (pruned)."""
    import torch

    torch.manual_seed(ctx.seed)
    w = torch.nn.Parameter(torch.full((4,), 3.0))
    opt = torch.optim.SGD([w], lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    every = max(1, ctx.total_steps // 10)
    value = math.nan
    for step in range(1, ctx.total_steps + 1):
        loss = ((w + 0.2 * torch.randn(4)) ** 2).sum() * 10
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % every == 0:
            with torch.no_grad():
                value = float((w**2).sum())
            ctx.report(step, value)
            if not math.isfinite(value):
                return value
    return value


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """One small real study (SQLite): quick task, 8 first-rung trials, two rungs."""
    from lradvisor.search import Fidelity, run_search

    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder / 'studies.db'}"
    run_search(quadratic, profile={"task": "quick", "optimizer": "sgd", "total_steps": 60},
               n_trials=8, storage=url, study_name="tiny", seed=0,
               fidelity=Fidelity(rungs=(0.5, 1.0)), device="cpu")
    return url, folder


def test_report_shows_the_lr_range_test(study_db, tmp_path):
    from lradvisor.lrfind import lr_find
    from lradvisor.report import build_report
    from lradvisor.search import run_search

    url, _ = study_db
    found = lr_find(quadratic, lr_min=1e-4, lr_max=1.0, steps=100, device="cpu")
    result = run_search(quadratic, profile={"task": "quick", "total_steps": 20}, n_trials=3,
                        storage=url, study_name="with-lr-find", device="cpu",
                        lr_range=(found.suggestion.low, found.suggestion.high))
    result.study.set_user_attr("lr_find", found.to_dict())
    text = build_report(result.study)
    assert "No LR range test was run" not in text
    assert f"Suggested peak LR {found.suggestion.peak_lr:.3g}" in text


def test_report_has_every_section_and_is_self_contained(study_db):
    from lradvisor.report import build_report
    from lradvisor.storage import load_study, open_storage

    url, _ = study_db
    study = load_study(open_storage(url), "tiny")
    text = build_report(study)
    for heading in ("Task profile", "Rules that fired", "LR range test",
                    "LR schedules of the top trials", "Validation curves of the top trials",
                    "Pruned trials and where they were cut", "Parameter importances",
                    "Recommendation"):
        assert f"<h2>{heading}</h2>" in text
    for rule in study.user_attrs["rules"]:
        assert rule in text
    rec = study.user_attrs["recommendation"]
    assert "build_scheduler(optimizer, spec, total_steps=60)" in text  # the code to paste
    assert f'&quot;family&quot;:&quot;{rec["family"]}&quot;' in text
    others = rec["evidence_data"]["alternatives"]  # the other finalists, listed
    assert others and "Runners-up (the other finalists):" in text
    assert all(alt["rationale"].split(":")[0] in text for alt in others)
    # self-contained: every image inline, nothing fetched
    assert len(re.findall(r'src="data:image/png;base64,', text)) >= 4
    assert not re.search(r'(src|href)="(https?:|file:|/)', text)


def test_pruned_trials_say_where_they_were_cut(study_db):
    from lradvisor.report import pruned_trials
    from lradvisor.storage import load_study, open_storage

    url, _ = study_db
    study = load_study(open_storage(url), "tiny")
    rows = pruned_trials(study)
    assert rows, "the tiny study should prune or diverge somewhere"
    for row in rows:
        trial = study.trials[row["number"]]
        assert row["cut_step"] == max(trial.intermediate_values)
        assert row["cut_step"] <= row["total_steps"]


def test_importances_or_the_reason(study_db):
    from lradvisor.report import importances
    from lradvisor.storage import load_study, open_storage

    url, _ = study_db
    found, note = importances(load_study(open_storage(url), "tiny"))
    if found is None:
        assert note  # a reason is given instead
    else:
        assert math.isclose(sum(found.values()), 1.0, rel_tol=1e-6) and note


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="needs chromium (apt-get install -y chromium) for the render check")
def test_cli_report_renders_in_headless_chromium(study_db, tmp_path):
    from PIL import Image

    url, _ = study_db
    page = tmp_path / "report.html"
    out = CliRunner().invoke(cli, ["report", "tiny", "-o", str(page), "--storage", url])
    assert out.exit_code == 0, out.output
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,1600", page.as_uri()],
        capture_output=True, timeout=90, check=False,
    )
    assert shot.exists() and shot.stat().st_size > 20_000
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1600)
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text and plots, not a blank page
    # the heading is drawn in the page's accent colour near the top
    top = image.crop((0, 0, 1200, 200)).getcolors(maxcolors=1_000_000)
    assert any(rgb == (43, 108, 176) for _, rgb in top)


def test_missing_study_is_one_line(tmp_path, study_db):
    url, _ = study_db
    from lradvisor.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["report", "nope", "--storage", url, "-o", str(tmp_path / "x.html")])
    assert exit_info.value.code == 2


def test_an_unwritable_report_path_is_one_line_naming_it(tmp_path, study_db):
    from lradvisor.plots import OutputError
    from lradvisor.report import write_report

    url, _ = study_db
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError) as err:
        write_report(url, "tiny", blocker / "r.html")
    assert str(err.value).startswith(f"cannot write {str(blocker / 'r.html')!r}: ")
    assert "\n" not in str(err.value)
    made = write_report(url, "tiny", tmp_path / "new" / "r.html")  # folders are made
    assert made.read_text().startswith("<!DOCTYPE html>")


def test_a_report_from_a_missing_database_creates_nothing(tmp_path):
    from lradvisor.errors import StudyError
    from lradvisor.report import write_report

    with pytest.raises(StudyError, match="no database file"):
        write_report(f"sqlite:///{tmp_path}/typo/s.db", "tiny", tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_a_study_that_stores_no_recommendation_shows_the_computed_one(study_db, tmp_path):
    """A study the service drives stores no recommendation: the report and `studies show`
    said there was none (the report: "no trial completed") while `studies best` gave one;
    now they show the one `studies best` computes."""
    import optuna

    url, folder = study_db
    for part in folder.glob("studies.db*"):  # WAL mode: the -wal file holds recent writes
        shutil.copy(part, tmp_path / part.name.replace("studies.db", "copy.db"))
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    study = optuna.load_study(study_name="tiny", storage=copy)
    stored = study.user_attrs["recommendation"]
    study.set_user_attr("recommendation", None)
    runner = CliRunner()
    best = runner.invoke(cli, ["studies", "best", "tiny", "--storage", copy])
    assert best.exit_code == 0, best.output
    show = runner.invoke(cli, ["studies", "show", "tiny", "--storage", copy])
    from lradvisor.schedules import ScheduleSpec

    described = ScheduleSpec.from_dict(
        {k: stored[k] for k in ("family", "params", "peak_lr")}).describe()
    assert f"Recommendation (from its trials so far): {described}" in show.output
    out = tmp_path / "r.html"
    assert runner.invoke(cli, ["report", "tiny", "--storage", copy, "-o", str(out)]
                         ).exit_code == 0
    page = out.read_text()
    assert "No recommendation" not in page and described.split("(")[0] in page


def test_the_report_names_the_trial_best_recommends(study_db, tmp_path):
    """The report named the best schedule but not its trial. Now it names the trial,
    with the rung and the length it was judged at as ``studies best`` states them; the
    same trial when the study stores no recommendation and it is computed."""
    import json

    import optuna

    from lradvisor.report import build_report
    from lradvisor.schedules import ScheduleSpec

    url, folder = study_db
    study = optuna.load_study(study_name="tiny", storage=url)
    out = CliRunner().invoke(cli, ["studies", "best", "tiny", "--storage", url, "--format",
                                   "json"])
    best = json.loads(out.output)
    data = study.user_attrs["recommendation"]["evidence_data"]
    trial = study.trials[data["trial"]]
    assert ScheduleSpec.from_json(trial.user_attrs["spec"]).to_dict() == {
        k: best[k] for k in ("family", "params", "peak_lr")}  # best's schedule, this trial
    length = f"{data['fraction']:.0%} of the run ({trial.user_attrs['total_steps']} of 60 steps)"
    assert length in best["evidence"]  # where best says it was last evaluated
    named = f"Trial #{trial.number}, judged at rung {trial.user_attrs['rung']}: {length}"
    assert named in build_report(study)
    for part in folder.glob("studies.db*"):  # WAL mode: the -wal file holds recent writes
        shutil.copy(part, tmp_path / part.name.replace("studies.db", "copy.db"))
    copy = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'copy.db'}")
    copy.set_user_attr("recommendation", None)
    assert named in build_report(copy)
