"""The service samples and prunes a study as ``lradvisor search`` and its workers do,
through real HTTP on loopback against ``lradvisor serve`` in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from lradvisor.schedules import ScheduleSpec
from lradvisor.storage import load_study, open_storage
from tests.conftest import WSD_STEPS_RULE as STEPS_RULES
from tests.conftest import run_cli
from tests.service.conftest import running_server

TRAINABLE = Path(__file__).resolve().parents[1] / "search" / "search_trainables.py"
PROFILE = {"task": "pretrain", "arch": "transformer", "optimizer": "adamw", "total_steps": 200}


def test_a_length_a_rule_gives_in_steps_is_asked_as_the_fraction_of_the_run(tmp_path):
    """Sampled trials kept ``decay_steps = 30``, which no 20-step first-rung proxy can hold:
    every ask after the rules' own trial failed its samples and answered 409."""
    rules = tmp_path / "rules.toml"
    rules.write_text(STEPS_RULES)
    with running_server(tmp_path, extra=("--rules", str(rules))) as srv, \
            srv.client() as http:
        made = http.post("/v1/studies", json={"name": "steps", "profile": PROFILE,
                                               "families": ["wsd"]})
        assert made.status_code == 201, made.text
        asked = [http.post("/v1/studies/steps/trials") for _ in range(6)]
        assert [a.status_code for a in asked] == [200] * 6, asked[-1].text
        view = http.get("/v1/studies/steps").json()
    assert [a.json()["origin"] for a in asked] == ["rules"] + ["remote"] * 5
    assert {a.json()["total_steps"] for a in asked} == {20}  # the 10% proxy
    for answer in asked:  # 30 of the 180 steps after a 10% warmup, at every length
        spec = ScheduleSpec.from_dict(answer.json()["spec"])
        assert "decay_steps" not in spec.params
        assert spec.params["decay_fraction"] == pytest.approx(30 / 180)
        spec.multiplier_fn(20)  # the client can build it for its proxy
    assert view["trials"] == {"RUNNING": 6}  # no sample failed to fit the proxy


def _create_only(tmp_path: Path, storage: str, *args: str) -> None:
    proc = run_cli("search", "--task", "scratch", "--total-steps", "200", "--trainable",
                   f"{TRAINABLE}:quadratic", "--storage", storage, "--study", "resumed",
                   "--create-only", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_remote_trials_are_pruned_by_the_pruner_of_the_studys_last_resume(tmp_path):
    """Workers run with the last resume's pruner; the service ran with the creation's: a
    study resumed with --pruner none still had its remote trials pruned by plateau."""
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _create_only(tmp_path, storage)  # plateau, the default
    _create_only(tmp_path, storage, "--pruner", "none")  # recorded as a resume
    resumes = load_study(open_storage(storage), "resumed").user_attrs["resumes"]
    assert [r["pruner"] for r in resumes] == ["none"]
    with running_server(tmp_path, storage=storage) as srv, srv.client() as http:
        trial = http.post("/v1/studies/resumed/trials").json()
        url = f"/v1/studies/resumed/trials/{trial['trial']}/report"
        # a blow-up from the start: the plateau pruner prunes it at once, NopPruner never
        answers = _report_until_pruned(http, url, ((2, 1.0), (4, 5.0), (6, 50.0)))
        view = http.get("/v1/studies/resumed").json()
    assert answers == [False, False, False]
    assert (view["pruner"], [r["pruner"] for r in view["resumes"]]) == ("plateau", ["none"])


def test_a_blow_up_is_pruned_under_the_plateau_pruner_the_study_runs_with(tmp_path):
    """The control of the test above: the same reports, no resume, are pruned."""
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _create_only(tmp_path, storage)
    with running_server(tmp_path, storage=storage) as srv, srv.client() as http:
        trial = http.post("/v1/studies/resumed/trials").json()
        url = f"/v1/studies/resumed/trials/{trial['trial']}/report"
        answers = _report_until_pruned(http, url, ((2, 1.0), (4, 5.0), (6, 50.0)))
    assert answers == [False, True]


def _report_until_pruned(http, url: str, reports) -> list[bool]:
    """The service's answers to ``(step, value)`` reports, up to the first "prune"."""
    answers = []
    for step, value in reports:
        response = http.post(url, json={"step": step, "value": value})
        assert response.status_code == 200, response.text
        answers.append(response.json()["prune"])
        if answers[-1]:
            break
    return answers


def test_a_resume_that_changes_the_pruner_is_run_with_without_a_restart(tmp_path):
    """The service read the pruner when it loaded the study: a resume with --pruner none
    while it served the study went unseen (plateau kept pruning) until a restart. The
    trial asked before the resume is judged by the new pruner at its next report."""
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _create_only(tmp_path, storage)  # plateau, the default
    with running_server(tmp_path, storage=storage) as srv, srv.client() as http:
        trial = http.post("/v1/studies/resumed/trials").json()  # loaded with plateau
        url = f"/v1/studies/resumed/trials/{trial['trial']}/report"
        assert _report_until_pruned(http, url, ((2, 1.0),)) == [False]
        _create_only(tmp_path, storage, "--pruner", "none")  # a resume, while it serves
        answers = _report_until_pruned(http, url, ((4, 5.0), (6, 50.0)))
        assert answers == [False, False]  # plateau prunes this blow-up at step 4 (above)
        view = http.get("/v1/studies/resumed").json()
    assert [r["pruner"] for r in view["resumes"]] == ["none"]
