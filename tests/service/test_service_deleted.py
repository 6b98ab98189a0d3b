"""A study deleted or made again by another process while a service has it loaded.

The service keeps each study it has served loaded; ``lradvisor studies delete`` (or a
second service) changes the database under it. Its trials' requests must then be told
so (404 / 409 with the reason), never 500, and the stale-trial sweep must go on for the
other studies. Real ``lradvisor serve`` processes and the real CLI on one SQLite file
(and a fresh PostgreSQL schema, skipped without a server).
"""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest

from lradvisor.storage import delete_study, open_storage
from tests.distributed.conftest import fresh_pg_url, pg, pg_database  # noqa: F401 (fixtures)
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_study_made_again_with_its_old_id_is_told_apart(tmp_path, request, backend):
    """SQLite gives a study made again the id just freed (no AUTOINCREMENT): the id alone
    does not tell the service it holds another study. The old study's trial number must
    not reach the new study's trial of that number, nor its cached best, run length or
    settings be answered for the new one. PostgreSQL never reuses an id; same answers."""
    storage = None
    if backend == "postgresql":
        storage = fresh_pg_url(request.getfixturevalue("pg"),
                               request.getfixturevalue("pg_database"))
    with running_server(tmp_path, storage=storage) as one, \
            running_server(tmp_path, storage=storage) as two, \
            one.client() as http, two.client() as other:
        assert http.post("/v1/studies", json={"name": "d", "profile": PROFILE}
                         ).status_code == 201  # the last study: its id is the one reused
        old = http.post("/v1/studies/d/trials").json()
        done = http.post("/v1/studies/d/trials").json()["trial"]
        http.post(f"/v1/studies/d/trials/{done}/complete", json={"value": 0.5})
        assert http.get("/v1/studies/d").json()["best"]["trial"] == done  # loaded, cached
        old_id = open_storage(one.storage).get_study_id_from_name("d")
        delete_study(open_storage(one.storage), "d")
        longer = {"task": "scratch", "total_steps": 1200}
        assert other.post("/v1/studies", json={"name": "d", "profile": longer}
                          ).status_code == 201
        same_id = open_storage(one.storage).get_study_id_from_name("d") == old_id
        assert same_id == (backend == "sqlite")
        new = other.post("/v1/studies/d/trials").json()
        assert new["trial"] == old["trial"]  # both the rules' first pick: the same number

        answer = http.post(f"/v1/studies/d/trials/{old['trial']}/report",
                           json={"step": 1, "value": 9.0})
        assert answer.status_code == 409, answer.text
        assert "made again meanwhile" in answer.json()["detail"]
        new_trial = optuna.load_study(study_name="d", storage=one.storage).trials[new["trial"]]
        assert new_trial.intermediate_values == {}  # the old client's report is not there

        view = http.get("/v1/studies/d").json()
        assert (view["best"], view["full_steps"], view["trials"]) == \
            (None, 1200, {"RUNNING": 1, "WAITING": 2})
        best = http.get("/v1/studies/d/best")
        assert best.status_code == 422 and "no completed trial" in best.json()["detail"]
        asked = http.post("/v1/studies/d/trials")
        assert asked.status_code == 200, asked.text
        assert (asked.json()["full_steps"], asked.json()["total_steps"]) == (1200, 120)
    assert "internal error" not in one.log.read_text()


def test_a_trial_of_a_study_made_again_while_no_service_ran_is_409_by_its_study_uid(tmp_path):
    """A service restarted between the deletion and the new study's making never saw the
    old study: the old client's trial number reached the new study's trial of that
    number (200). The ask answers the study's uid; the client sends it back with each
    report, complete and fail, and a study made again has another. A request without
    it is found by name and number alone, as before (unchecked)."""
    from lradvisor.client import Client
    from lradvisor.service import ServiceError
    from tests.service.conftest import TOKEN

    with running_server(tmp_path) as first:
        old_client = Client(first.url, token=TOKEN)  # the old job's, kept over the restart
        old_client.create_study("d", PROFILE)
        old = old_client.ask("d")
    assert old.study_uid
    _cli_delete(first.storage, "d")  # while no service runs
    port = int(first.url.rsplit(":", 1)[1])
    with running_server(tmp_path, port=port) as second, old_client, \
            Client(second.url, token=TOKEN) as client, second.client() as http:
        client.create_study("d", PROFILE)
        new = client.ask("d")
        assert new.number == old.number  # both the rules' first pick: the same number
        assert new.study_uid and new.study_uid != old.study_uid
        for call in (lambda: old.report(1, 9.0), lambda: old.complete(9.0),
                     lambda: old.fail("the old job")):
            with pytest.raises(ServiceError) as refused:
                call()
            assert refused.value.status == 409
            message = str(refused.value)
            assert "\n" not in message
            assert (f"trial {old.number} was asked for from another study named 'd' "
                    f"(study_uid {old.study_uid!r}; now {new.study_uid!r}): it was deleted "
                    "and made again; ask for a new trial.") in message
        stored = optuna.load_study(study_name="d", storage=second.storage).trials[new.number]
        assert (stored.state.name, stored.intermediate_values) == ("RUNNING", {})

        assert new.report(1, 0.5) is False  # its own uid: taken
        unchecked = http.post(f"/v1/studies/d/trials/{new.number}/report",
                              json={"step": 2, "value": 0.4})  # no uid: as before
        assert (unchecked.status_code, unchecked.json()) == (200, {"prune": False})
        assert new.complete(0.3) == "COMPLETE"
    assert "internal error" not in second.log.read_text()
