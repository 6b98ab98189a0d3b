"""A study deleted or made again by another process while a service has it loaded.

The service keeps each study it has served loaded; ``lradvisor studies delete`` (or a
second service) changes the database under it. Its trials' requests must then be told
so (404 / 409 with the reason), never 500, and the stale-trial sweep must go on for the
other studies. Real ``lradvisor serve`` processes and the real CLI on one SQLite file.
"""

from __future__ import annotations

import subprocess
import sys
import time

from lradvisor.storage import delete_study, open_storage
from tests.service.conftest import running_server

PROFILE = {"task": "scratch", "total_steps": 900}


def _cli_delete(storage: str, name: str) -> None:
    subprocess.run([sys.executable, "-m", "lradvisor", "studies", "delete", name, "--storage",
                    storage, "--yes"], check=True, capture_output=True)


def test_a_study_deleted_meanwhile_is_404_on_every_trial_endpoint(tmp_path):
    with running_server(tmp_path) as server, server.client() as http:
        assert http.post("/v1/studies", json={"name": "d", "profile": PROFILE}
                         ).status_code == 201
        number = http.post("/v1/studies/d/trials").json()["trial"]
        _cli_delete(server.storage, "d")
        for path, body in [(f"/v1/studies/d/trials/{number}/report", {"step": 1, "value": 1.0}),
                           (f"/v1/studies/d/trials/{number}/complete", {"value": 1.0}),
                           (f"/v1/studies/d/trials/{number}/fail", {"reason": "x"}),
                           ("/v1/studies/d/trials", None)]:
            answer = http.post(path, json=body)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["detail"].startswith("no study named 'd'")
        assert http.get("/v1/studies/d/best").status_code == 404
    assert "internal error" not in server.log.read_text()


def test_a_study_made_again_elsewhere_is_409_then_served_as_made(tmp_path):
    with running_server(tmp_path) as one, running_server(tmp_path) as two, \
            one.client() as http, two.client() as other:
        for name in ("d", "later"):  # "d" is not the last id: SQLite gives a new one
            assert http.post("/v1/studies", json={"name": name, "profile": PROFILE}
                             ).status_code == 201
        number = http.post("/v1/studies/d/trials").json()["trial"]
        delete_study(open_storage(one.storage), "d")
        longer = {"task": "scratch", "total_steps": 1200}
        assert other.post("/v1/studies", json={"name": "d", "profile": longer}
                          ).status_code == 201
        answer = http.post(f"/v1/studies/d/trials/{number}/report", json={"step": 1, "value": 1})
        assert answer.status_code == 409, answer.text
        assert "made again meanwhile" in answer.json()["detail"]
        asked = http.post("/v1/studies/d/trials")  # the new study, not the old one's settings
        assert asked.status_code == 200, asked.text
        assert asked.json()["full_steps"] == 1200
    assert "internal error" not in one.log.read_text()


def test_the_sweep_fails_an_abandoned_trial_of_a_study_made_again(tmp_path):
    with running_server(tmp_path, trial_timeout=1, reap_interval=0.3) as one, \
            running_server(tmp_path) as two, one.client() as http, two.client() as other:
        for name in ("d", "later"):
            assert http.post("/v1/studies", json={"name": name, "profile": PROFILE}
                             ).status_code == 201
        http.post("/v1/studies/d/trials")  # loaded by the first service
        delete_study(open_storage(one.storage), "d")
        assert other.post("/v1/studies", json={"name": "d", "profile": PROFILE}
                          ).status_code == 201
        other.post("/v1/studies/d/trials")  # abandoned; only the first service times out
        deadline = time.monotonic() + 20
        while other.get("/v1/studies/d").json()["trials"].get("FAIL") != 1:
            assert time.monotonic() < deadline, one.log.read_text()
            time.sleep(0.2)
    assert "internal error" not in one.log.read_text()
