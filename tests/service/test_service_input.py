"""Bad input over real HTTP: every malformed body is a 4xx naming the field, never a 5xx;
no answer reflects the storage URL or the token; the bind and token rules at start-up."""

from __future__ import annotations

import json

import pytest

from lradvisor.service import ServiceConfig, ServiceError, check_bind, is_loopback, load_token
from tests.conftest import run_cli
from tests.service.conftest import TOKEN

PROFILE = {"task": "scratch", "arch": "cnn", "total_steps": 1000}

# (path, body, the field a 422 must name; None: the body as a whole)
MALFORMED = [
    ("/v1/suggest", {}, "task"),
    ("/v1/suggest", {"task": "nope"}, "task"),
    ("/v1/suggest", {"task": 3}, "task"),
    ("/v1/suggest", {"task": "scratch", "arch": "gpt"}, "arch"),
    ("/v1/suggest", {"task": "scratch", "optimizer": ["sgd"]}, "optimizer"),
    ("/v1/suggest", {"task": "scratch", "total_steps": 0}, "total_steps"),
    ("/v1/suggest", {"task": "scratch", "total_steps": -5}, "total_steps"),
    ("/v1/suggest", {"task": "scratch", "total_steps": 1.5}, "total_steps"),
    ("/v1/suggest", {"task": "scratch", "total_steps": True}, "total_steps"),
    ("/v1/suggest", {"task": "scratch", "total_steps": 10**40}, "total_steps"),
    ("/v1/suggest", {"task": "scratch", "epochs": "many"}, "epochs"),
    ("/v1/suggest", {"task": "scratch", "peak_lr": 0}, "peak_lr"),
    ("/v1/suggest", {"task": "scratch", "peak_lr": "inf"}, "peak_lr"),
    ("/v1/suggest", {"task": "scratch", "peak_lr": None, "colour": "red"}, "colour"),
    ("/v1/suggest", {"task": "scratch", "total_steps": 5, "epochs": 2, "steps_per_epoch": 3},
     None),
    ("/v1/suggest", {"task": "unknown-length", "total_steps": 5}, None),
    # each within 2**53, their product (the run's length) not
    ("/v1/suggest", {"task": "scratch", "epochs": 2**40, "steps_per_epoch": 2**40}, None),
    ("/v1/suggest", {"task": "scratch", "epochs": 2**33, "batch_size": 1,
                     "dataset_size": 2**20 + 1}, None),
    ("/v1/suggest", [], None),
    ("/v1/suggest", "finetune", None),
    ("/v1/studies", {"profile": PROFILE}, "name"),
    ("/v1/studies", {"name": "a b", "profile": PROFILE}, "name"),
    ("/v1/studies", {"name": "x" * 200, "profile": PROFILE}, "name"),
    ("/v1/studies", {"name": "..", "profile": PROFILE}, "name"),  # /v1/studies/.. is /v1/
    ("/v1/studies", {"name": ".", "profile": PROFILE}, "name"),
    ("/v1/studies", {"name": "ok", "profile": {"task": "scratch"}}, None),
    ("/v1/studies", {"name": "ok", "profile": PROFILE, "direction": "up"}, "direction"),
    ("/v1/studies", {"name": "ok", "profile": PROFILE, "families": ["warp"]}, "families"),
    ("/v1/studies", {"name": "ok", "profile": PROFILE, "families": []}, "families"),
    ("/v1/studies", {"name": "ok", "profile": PROFILE, "sampler": "grid"}, "sampler"),
    ("/v1/studies/bad/trials/0/report", {"value": 1.0}, "step"),
    ("/v1/studies/bad/trials/0/report", {"step": -1, "value": 1.0}, "step"),
    ("/v1/studies/bad/trials/0/report", {"step": 1}, "value"),
    ("/v1/studies/bad/trials/0/report", {"step": 1, "value": "low"}, "value"),
    ("/v1/studies/bad/trials/0/report", {"step": 1, "value": None}, "value"),
    ("/v1/studies/bad/trials/0/report", {"step": 1, "value": 1.0, "extra": 1}, "extra"),
    ("/v1/studies/bad/trials/0/complete", {}, "value"),
    ("/v1/studies/bad/trials/0/complete", {"value": [1.0]}, "value"),
    ("/v1/studies/bad/trials/0/fail", {}, "reason"),
    ("/v1/studies/bad/trials/0/fail", {"reason": ""}, "reason"),
    ("/v1/studies/bad/trials/0/fail", {"reason": "x" * 3000}, "reason"),
]


@pytest.fixture(scope="module")
def bad_study(server):
    """A study with one running remote trial (number 0) for the trial endpoints."""
    with server.client() as http:
        created = http.post("/v1/studies", json={"name": "bad", "profile": PROFILE})
        assert created.status_code == 201
        assert http.post("/v1/studies/bad/trials").json()["trial"] == 0
    return "bad"


@pytest.mark.parametrize(("path", "body", "field"), MALFORMED,
                         ids=[f"{p.rsplit('/', 1)[-1]}-{i}" for i, (p, _, _) in
                              enumerate(MALFORMED)])
def test_malformed_body_is_422_naming_the_field(server, bad_study, path, body, field):
    with server.client() as http:
        response = http.post(path, json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    if field is not None:
        assert any(field in entry["loc"] for entry in detail), detail


# (fields of a run, the flags and the fields the refusal names): one cap, 2**53 steps
TOO_LONG = [
    ({"total_steps": 2**53 + 1}, "--total-steps {total_steps}", "total_steps {total_steps}",
     "total_steps"),
    ({"epochs": 2**53 + 1}, "--epochs {epochs}", "epochs {epochs}", "epochs"),
    ({"epochs": 2**27, "steps_per_epoch": 2**26 + 1},
     "--epochs x --steps-per-epoch = {epochs} x {steps_per_epoch} = 9007199388958720",
     "epochs x steps_per_epoch = {epochs} x {steps_per_epoch} = 9007199388958720", None),
]


@pytest.mark.parametrize(("fields", "flags", "names", "loc"), TOO_LONG,
                         ids=[" ".join(f) for f, _, _, _ in TOO_LONG])
def test_a_run_over_2_53_steps_is_refused_alike_by_the_cli_and_the_service(
        server, tmp_path, fields, flags, names, loc):
    """The service refused runs over 2**40 steps with pydantic's 'Input should be less
    than or equal to 1099511627776'; the CLI refused them over 2**53, naming the Python
    API's field. One cap, one line: the flag on the command line, the field over HTTP."""
    from lradvisor.rules._profile import run_too_long

    args = [a for k, v in fields.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    proc = run_cli("suggest", "--task", "scratch", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"Error: {run_too_long(flags.format(**fields))}")
    with server.client() as http:
        response = http.post("/v1/suggest", json={"task": "scratch", **fields})
    assert response.status_code == 422, response.text
    [entry] = response.json()["detail"]
    assert entry["loc"] == ["body"] + ([loc] if loc else [])
    assert entry["msg"] == run_too_long(names.format(**fields)), entry  # not "Value error, ..."


@pytest.mark.parametrize("steps", [2**40 + 1, 2**53])
def test_a_run_the_cli_takes_the_service_takes(server, tmp_path, steps):
    """Up to 2**53 steps, as the CLI: the service refused any run over 2**40."""
    proc = run_cli("suggest", "--task", "scratch", "--total-steps", str(steps),
                   "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with server.client() as http:
        response = http.post("/v1/suggest", json={"task": "scratch", "total_steps": steps})
        made = http.post("/v1/studies", json={"name": f"long-{steps}", "profile": {
            "task": "scratch", "total_steps": steps}})
    assert response.status_code == 200, response.text
    assert response.json()["profile"] == json.loads(proc.stdout)["profile"]
    assert made.status_code == 201, made.text
    assert made.json()["full_steps"] == steps


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe", b"null", b"", b'{"task": NaN}'])
def test_body_that_is_not_a_json_object_is_4xx(server, bad_study, content):
    with server.client() as http:
        for path in ("/v1/suggest", "/v1/studies/bad/trials/0/report"):
            response = http.post(path, content=content,
                                 headers={"content-type": "application/json"})
            assert 400 <= response.status_code < 500, (path, content, response.text)


# (body, what the one line must say): the body as a whole is no JSON object to read
NOT_AN_OBJECT = [
    (b"[" * 10_000 + b"]" * 10_000, "nests arrays or objects too deeply to parse"),
    (b'{"task": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
     "nests arrays or objects too deeply to parse"),
    (b'{"task": "\xff"}', "not valid JSON: not UTF-8 text (byte 0xff at position 10)"),
    (b'{"step": ' + b"9" * 5000 + b', "value": 1}', "has a number of over 4300 digits"),
    (b"{", "not valid JSON: Expecting property name enclosed in double quotes at "
           "character 1"),
    (b'{"task": "quick"} x', "not valid JSON: Extra data at character 18"),
    (b"[1, 2]", "must be a JSON object, but got an array"),
    (b'"scratch"', "must be a JSON object, but got a string"),
    (b"7", "must be a JSON object, but got a number"),
    (b"null", "must be a JSON object, but got null"),
    (b"", "request body is missing: send a JSON object"),
]


@pytest.mark.parametrize(("content", "says"), NOT_AN_OBJECT,
                         ids=[s.split(":")[0][:30] for _, s in NOT_AN_OBJECT])
def test_a_body_that_is_no_json_object_is_422_saying_why(server, bad_study, content, says):
    """One entry on the body as a whole, in words: not FastAPI's bare 400 "There was an
    error parsing the body", nor pydantic's "Input should be a valid dictionary"."""
    with server.client() as http:
        for path in ("/v1/suggest", "/v1/studies/bad/trials/0/report"):
            response = http.post(path, content=content,
                                 headers={"content-type": "application/json"})
            assert response.status_code == 422, (path, response.text)
            [entry] = response.json()["detail"]
            assert entry["loc"] == ["body"], entry
            assert says in entry["msg"], entry


@pytest.mark.parametrize(("content_type", "got"), [
    ("text/plain", "got 'text/plain'"),
    ("application/x-www-form-urlencoded", "got 'application/x-www-form-urlencoded'"),
    (None, "none was sent")])
def test_a_json_body_sent_as_another_media_type_is_415_naming_it(server, content_type, got):
    """``curl -d`` without ``-H 'content-type: application/json'`` sends a form type:
    the answer says which header to send, not that the object is no object."""
    headers = {"content-type": content_type} if content_type else {}
    with server.client() as http:
        response = http.post("/v1/suggest", content=b'{"task": "quick"}', headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["detail"] == (
        f"request body must be JSON: send it with Content-Type: application/json ({got}).")


def test_oversized_body_is_refused_with_413(server):
    with server.client() as http:
        declared = http.post("/v1/suggest", json={"task": "scratch", "pad": "x" * 70_000})

        def chunks():  # no content-length: the limit must hold on the stream too
            for _ in range(100):
                yield b" " * 1024

        streamed = http.post("/v1/suggest", content=chunks(),
                             headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert streamed.status_code == 413


@pytest.mark.parametrize(("path", "body"), [
    ("report", {"step": 1, "value": 1.0}), ("complete", {"value": 1.0}), ("fail", {"reason": "x"}),
])
def test_a_study_uid_is_checked_409_when_another_studys_422_when_malformed(server, bad_study,
                                                                            path, body):
    """The field is the service's own (a 409 for a well-formed uid of another study), and
    malformed it is a 422 naming it; older services refused it as an unknown field."""
    url = f"/v1/studies/bad/trials/0/{path}"
    with server.client() as http:
        other = http.post(url, json={**body, "study_uid": "0" * 32})
        assert other.status_code == 409, other.text
        assert other.json()["detail"].startswith(
            "trial 0 was asked for from another study named 'bad' (study_uid '000")
        for bad in (7, "a b", "", "u" * 65):
            answer = http.post(url, json={**body, "study_uid": bad})
            assert answer.status_code == 422, answer.text
            [entry] = answer.json()["detail"]
            assert entry["loc"] == ["body", "study_uid"] and entry["type"] != "extra_forbidden"


def test_report_beyond_the_trials_run_is_422(server, bad_study):
    with server.client() as http:
        response = http.post("/v1/studies/bad/trials/0/report", json={"step": 101, "value": 1})
    assert response.status_code == 422
    assert "beyond" in response.json()["detail"]


def test_no_answer_reflects_the_storage_url_or_the_token(server, bad_study):
    calls = [("GET", "/v1/studies", None), ("GET", "/v1/studies/bad", None),
             ("GET", "/v1/studies/nope", None), ("GET", "/v1/studies/bad/best", None),
             ("POST", "/v1/studies", {"name": "bad", "profile": {**PROFILE, "total_steps": 7}}),
             ("POST", "/v1/studies/bad/trials/0/report", {"step": 1, "value": 1.0}),
             ("GET", "/openapi.json", None), ("GET", "/v1/health", None)]
    path = server.storage.split("///", 1)[1]
    with server.client() as http:
        texts = [http.request(m, p, json=b).text for m, p, b in calls]
    with server.client(token="not-the-token-but-long") as http:
        texts.append(http.post("/v1/studies/bad/trials").text)
    for text in texts:
        assert TOKEN not in text and path not in text and "sqlite" not in text


def test_serve_refuses_a_public_address_without_a_token(tmp_path):
    env = {"LRADVISOR_TOKEN": "", "LRADVISOR_TOKEN_FILE": ""}
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path, env=env,
                     timeout=60)
    assert result.returncode == 2
    assert "refusing to bind '0.0.0.0' without a token" in result.stderr


def test_token_rules_in_process(tmp_path):
    """Without a token writes are 403 (reads open); off loopback reads need the token."""
    from fastapi.testclient import TestClient

    from lradvisor.service import create_app

    storage = f"sqlite:///{tmp_path}/r.db"
    with TestClient(create_app(ServiceConfig(storage=storage))) as http:
        assert http.post("/v1/suggest", json={"task": "quick"}).status_code == 200
        refused = http.post("/v1/studies", json={"name": "x", "profile": PROFILE})
    assert refused.status_code == 403
    assert "without a token" in refused.json()["detail"]
    public = ServiceConfig(host="0.0.0.0", token=TOKEN, storage=storage)
    with TestClient(create_app(public)) as http:
        assert http.get("/v1/schedules").status_code == 401
        ok = http.get("/v1/schedules", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("example.org", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_check_bind_needs_a_token_off_loopback():
    check_bind(ServiceConfig(host="127.0.0.1"))
    check_bind(ServiceConfig(host="0.0.0.0", token=TOKEN))
    with pytest.raises(ServiceError, match="refusing to bind"):
        check_bind(ServiceConfig(host="0.0.0.0"))


def test_load_token_from_argument_file_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("LRADVISOR_TOKEN", raising=False)
    monkeypatch.delenv("LRADVISOR_TOKEN_FILE", raising=False)
    assert load_token() is None
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert load_token(token_file=token_file) == TOKEN
    monkeypatch.setenv("LRADVISOR_TOKEN_FILE", str(token_file))
    assert load_token() == TOKEN
    monkeypatch.setenv("LRADVISOR_TOKEN", "env-token-0123456789")
    assert load_token() == "env-token-0123456789"


@pytest.mark.parametrize("bad", ["short", "has white space in it", ""])
def test_load_token_refuses_weak_tokens_without_showing_them(bad):
    with pytest.raises(ServiceError) as err:
        load_token(bad)
    assert bad not in str(err.value) or bad == ""


def test_load_token_names_a_missing_file(tmp_path):
    with pytest.raises(ServiceError, match="cannot read token file"):
        load_token(token_file=tmp_path / "missing")


@pytest.mark.parametrize(("field", "value"), [
    ("port", -1), ("port", 70000), ("trial_timeout", 0), ("reap_interval", -1.0),
    ("max_requeues", -1), ("max_body_bytes", 10), ("trial_timeout", True)])
def test_service_config_names_a_bad_setting(field, value):
    with pytest.raises(ServiceError, match=field):
        ServiceConfig(**{field: value})


def test_client_error_carries_status_and_field(server):
    from lradvisor.client import Client

    with Client(server.url) as client:
        with pytest.raises(ServiceError) as err:
            client.suggest(task="scratch", total_steps=0)
        assert json.loads(json.dumps(client.suggest(task="quick")))["family"]
    assert err.value.status == 422
    assert "total_steps" in str(err.value)
