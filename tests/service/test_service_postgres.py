"""The service on PostgreSQL: inputs PostgreSQL refuses are 4xx before they reach it.

PostgreSQL cannot hold a NUL in a text field and stores trial numbers as a signed
32-bit integer; a path that carries either must be answered 422 naming the field, not
500 from the database. A real ``lradvisor serve`` on loopback, on a fresh schema of the
PostgreSQL server at 127.0.0.1:5432 (skipped without one).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.distributed.conftest import fresh_pg_url, pg, pg_database  # noqa: F401 (fixtures)
from tests.service.conftest import Server, running_server

STUDY = "pg-sweep"
PROFILE = {"task": "scratch", "total_steps": 900}


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory, pg: str,  # noqa: F811
              pg_database: str) -> Iterator[Server]:  # noqa: F811
    with running_server(tmp_path_factory.mktemp("pg-service"),
                        storage=fresh_pg_url(pg, pg_database)) as srv:
        with srv.client() as http:
            assert http.post("/v1/studies", json={"name": STUDY, "profile": PROFILE}
                             ).status_code == 201
        yield srv


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/studies/a%00b"),
    ("GET", "/v1/studies/a%00b/best"),
    ("POST", "/v1/studies/a%00b/trials"),
])
def test_a_nul_in_a_study_name_is_422_naming_the_name(pg_server, method, path):
    with pg_server.client() as http:
        answer = http.request(method, path)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["path", "name"]
    assert "pattern" in error["msg"]


def test_a_study_name_the_cli_allows_is_still_looked_up(pg_server):
    """A space is no control character: such a name (``search --study "my study"``) is
    looked up (404 here), not refused."""
    with pg_server.client() as http:
        answer = http.get("/v1/studies/my%20study")
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == "no study named 'my study'."


@pytest.mark.parametrize("action", ["report", "complete", "fail"])
def test_a_trial_id_past_32_bits_is_422_naming_the_trial(pg_server, action):
    body = {"report": {"step": 10, "value": 1.5}, "complete": {"value": 1.5},
            "fail": {"reason": "x"}}[action]
    with pg_server.client() as http:
        too_big = http.post(f"/v1/studies/{STUDY}/trials/2147483648/{action}", json=body)
        largest = http.post(f"/v1/studies/{STUDY}/trials/2147483647/{action}", json=body)
    assert too_big.status_code == 422, too_big.text
    [error] = too_big.json()["detail"]
    assert error["loc"] == ["path", "trial"]
    assert "2147483647" in error["msg"]
    # The largest id PostgreSQL can hold reaches the study, which has no such trial.
    assert largest.status_code == 404, largest.text
    assert largest.json()["detail"] == f"study {STUDY!r} has no trial 2147483647."


def test_a_report_step_past_32_bits_is_422_naming_the_step(pg_server):
    """Optuna stores a report's step as a signed 32-bit integer: a trial long enough to
    report at step 2**31 got a 503 'database unreachable; try again' (the failed commit
    read as an outage), so a client retried for ever."""
    with pg_server.client() as http:
        assert http.post("/v1/studies", json={"name": "long", "profile": {
            "task": "scratch", "total_steps": 10**11}}).status_code == 201
        trial = http.post("/v1/studies/long/trials").json()
        assert trial["total_steps"] > 2**31  # the step is within the trial's run
        path = f"/v1/studies/long/trials/{trial['trial']}/report"
        too_big = http.post(path, json={"step": 2**31, "value": 1.5})
        largest = http.post(path, json={"step": 2**31 - 1, "value": 1.5})
    assert too_big.status_code == 422, too_big.text
    [error] = too_big.json()["detail"]
    assert error["loc"] == ["body", "step"]
    assert "2147483647" in error["msg"]
    assert largest.status_code == 200, largest.text


def test_the_server_logged_no_internal_error(pg_server):
    with pg_server.client() as http:
        http.get("/v1/studies/a%00b")
        http.post(f"/v1/studies/{STUDY}/trials/2147483648/report", json={"step": 1, "value": 1})
        assert http.get(f"/v1/studies/{STUDY}").status_code == 200
    assert "internal error" not in pg_server.log.read_text()
