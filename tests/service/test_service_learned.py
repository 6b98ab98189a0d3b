"""The service's ``/v1/suggest`` blends the learned guide ``lradvisor suggest`` blends: the
same default place (``studies/learned.json`` where it runs, ``$LRADVISOR_LEARNED``,
``--learned``), the same ``--rules-only``, the same JSON byte for byte; read once at
start-up (a malformed guide stops it before it serves, in one line, exit 2). A real
``lradvisor serve`` on loopback and real ``lradvisor suggest`` subprocesses, with a guide
written by ``lradvisor rules learn`` from planted finished studies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from lradvisor.cli import cli
from tests.conftest import one_line
from tests.service.conftest import free_port, running_server
from tests.test_learn import CNN, ONECYCLE, plant

CNN_ARGS = ("--task", "scratch", "--arch", "cnn", "--optimizer", "sgd", "--total-steps", "800")
# (CLI options, the same profile as a body): 4 similar studies, 1 (too few), none
PROFILES = [
    (CNN_ARGS, CNN),
    (("--task", "scratch", "--arch", "cnn", "--optimizer", "sgd", "--total-steps", "100000"),
     {**CNN, "total_steps": 100000}),
    (("--task", "finetune", "--total-steps", "3000"), {"task": "finetune", "total_steps": 3000}),
]
MOVED = "evidence: 4 studies, digits-cnn-like; ranked 1st (rules: 2nd)"


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learned guide from 4 digits-cnn-like studies that onecycle won (the rules rank it
    2nd) and one charlm study, as `rules learn` writes it."""
    folder = tmp_path_factory.mktemp("learned")
    url = f"sqlite:///{folder / 'planted.db'}"
    for i in range(4):
        plant(url, f"cnn-{i}", {**CNN, "total_steps": 600 + 100 * i}, ONECYCLE,
              [("onecycle", 0.10 + i / 100), ("step", 0.2), ("cosine", 0.3)])
    plant(url, "cnn-far", {**CNN, "total_steps": 60000}, ONECYCLE,
          [("onecycle", 0.1), ("cosine", 0.3)])
    out = CliRunner().invoke(cli, ["rules", "learn", "--storage", url, "-o",
                                   str(folder / "learned.json")])
    assert out.exit_code == 0, out.output
    return folder / "learned.json"


def suggest(cwd: Path, *args: str, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
    """``lradvisor suggest ARGS --format json`` in ``cwd``, with no ``LRADVISOR_*`` but
    ``env``'s (as the server gets)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LRADVISOR_")}
    return subprocess.run([sys.executable, "-m", "lradvisor", "suggest", *args, "--format",
                           "json"], cwd=cwd, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def answers(url: str, bodies: list[dict]) -> list[str]:
    """``/v1/suggest``'s body for each profile, as ``suggest`` prints it (one newline)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        out = []
        for body in bodies:
            response = http.post("/v1/suggest", json=body)
            assert response.status_code == 200, response.text
            out.append(response.text + "\n")
        return out


def at_default_place(guide: Path, folder: Path) -> Path:
    (folder / "studies").mkdir()
    return Path(shutil.copy(guide, folder / "studies" / "learned.json"))


def test_the_service_blends_the_guide_at_the_default_place_as_suggest(guide, tmp_path):
    """Before: the service answered from the rules alone (cosine first for the CNN), where
    `suggest` in the same folder answered onecycle from the evidence of 4 studies."""
    placed = at_default_place(guide, tmp_path)
    cli_out = []
    for args, _ in PROFILES:
        proc = suggest(tmp_path, *args)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        cli_out.append(proc.stdout)
    blended = json.loads(cli_out[0])
    assert (blended["family"], blended["evidence"]) == ("onecycle", MOVED)
    assert json.loads(cli_out[1])["trace"][-1].endswith(
        "fewer than 3, so the rules' ranking is kept.")
    with running_server(tmp_path) as server:
        assert answers(server.url, [body for _, body in PROFILES]) == cli_out
        placed.write_text("not a guide")  # read once at start: a change now changes nothing
        again = answers(server.url, [CNN, {**CNN, "total_steps": 700}])  # cached; new
        assert again[0] == cli_out[0]
        assert json.loads(again[1])["evidence"] == MOVED
        assert server.process.poll() is None


def test_learned_and_rules_only_as_suggest_takes_them(guide, tmp_path):
    """``serve --learned FILE`` blends FILE from anywhere; ``--rules-only`` ignores the guide
    at the default place. Before: neither option existed (exit 2, usage)."""
    at_default_place(guide, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    given = suggest(elsewhere, *CNN_ARGS, "--learned", str(guide)).stdout
    rules = suggest(tmp_path, *CNN_ARGS, "--rules-only").stdout
    assert json.loads(given)["evidence"] == MOVED
    assert json.loads(rules)["family"] == "cosine" and json.loads(rules)["evidence"] is None
    with running_server(elsewhere, extra=("--learned", str(guide))) as server:
        assert answers(server.url, [CNN]) == [given]
    with running_server(tmp_path, extra=("--rules-only",)) as server:
        assert answers(server.url, [CNN]) == [rules]


def test_with_no_guide_file_the_service_answers_the_rules(tmp_path):
    rules = [suggest(tmp_path, *args, "--rules-only").stdout for args, _ in PROFILES]
    assert [suggest(tmp_path, *args).stdout for args, _ in PROFILES] == rules
    with running_server(tmp_path) as server:
        assert answers(server.url, [body for _, body in PROFILES]) == rules


def test_learned_env_naming_no_file_is_said_once_and_the_rules_answer(tmp_path):
    """Before: `suggest` and the service fell back to the rules without a word."""
    missing = str(tmp_path / "typo" / "learned.json")
    env = {"LRADVISOR_LEARNED": missing}
    note = (f"note: $LRADVISOR_LEARNED names {missing!r}, which holds no file yet; answering "
            "from the rules alone (run `lradvisor rules learn`)")
    rules = suggest(tmp_path, *CNN_ARGS, "--rules-only", env=env)
    assert rules.stderr == ""
    proc = suggest(tmp_path, *CNN_ARGS, env=env)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, note + "\n", rules.stdout)
    assert suggest(tmp_path, *CNN_ARGS, env={"LRADVISOR_LEARNED": ""}).stderr == ""
    with running_server(tmp_path, env_extra=env) as server:
        assert answers(server.url, [CNN]) == [rules.stdout]
        assert server.log.read_text().count(note) == 1, server.log.read_text()


def serve(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``lradvisor serve`` that must stop before it serves (a timeout: it served)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LRADVISOR_")}
    return subprocess.run([sys.executable, "-m", "lradvisor", "serve", "--port",
                           str(free_port()), "--storage", f"sqlite:///{cwd / 's.db'}", *args],
                          cwd=cwd, env=clean, capture_output=True, text=True, timeout=30)


def test_a_malformed_or_missing_guide_stops_the_service_in_one_line(guide, tmp_path):
    """As `suggest` says it (exit 2), before the service binds its port. Before: the
    malformed guide at the default place was never read, and the service served."""
    placed = at_default_place(guide, tmp_path)
    data = json.loads(placed.read_text())
    data["radius"] = -1
    placed.write_text(json.dumps(data))
    said = one_line(suggest(tmp_path, *CNN_ARGS))
    assert said == ("Error: learned guide 'studies/learned.json' has radius -1, not a finite "
                    "number > 0; write it again with `lradvisor rules learn`.")
    assert one_line(serve(tmp_path)) == said
    missing = str(tmp_path / "typo.json")
    assert one_line(serve(tmp_path, "--learned", missing)) == (
        f"Error: learned guide {missing!r} is not a file; give the JSON file that "
        "`lradvisor rules learn` wrote.")
