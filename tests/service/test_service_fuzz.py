"""Property-based fuzzing from the OpenAPI schema (schemathesis), and of the request
models (hypothesis): whatever comes in, the answer is never a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import TOKEN

schemathesis = pytest.importorskip("schemathesis")

PROFILE = {"task": "scratch", "arch": "cnn", "total_steps": 1000}


@pytest.fixture(scope="module")
def api_schema(server):
    """The served schema, with a study holding a running remote trial 0 to aim at."""
    with server.client() as http:
        http.post("/v1/studies", json={"name": "fuzz", "profile": PROFILE})
        http.post("/v1/studies/fuzz/trials")
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def http(server):
    """One keep-alive connection for the many small requests below."""
    with server.client() as client:
        yield client


@schema.parametrize()
@settings(max_examples=12, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_the_schema_allows_or_forbids_gets_a_5xx(case):
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["task", "arch", "optimizer", "total_steps", "epochs",
                          "steps_per_epoch", "batch_size", "dataset_size", "model_params",
                          "peak_lr", "step",
                          "value", "reason", "name", "profile", "families", "direction"])


@given(body=st.dictionaries(FIELDS, JSON, max_size=6) | JSON,
       path=st.sampled_from(["/v1/suggest", "/v1/studies", "/v1/studies/fuzz/trials/0/report",
                             "/v1/studies/fuzz/trials/0/complete",
                             "/v1/studies/fuzz/trials/0/fail"]))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_json_body_on_any_write_path_is_never_a_5xx(http, body, path):
    import json

    content = json.dumps(body, allow_nan=True)
    response = http.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, (path, content, response.text)
