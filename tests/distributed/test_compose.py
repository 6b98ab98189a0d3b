"""docker-compose.yml and the Dockerfile, checked by parsing (no Docker engine here)."""

from __future__ import annotations

import re
import shlex

import yaml
from sqlalchemy.engine import make_url

from lradvisor.cli import cli
from tests.distributed.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_service_has_an_image_or_a_build():
    assert set(SERVICES) >= {"postgres", "worker", "dashboard"}
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name


def test_postgres_keeps_its_data_in_a_declared_named_volume_and_has_a_health_check():
    pg = SERVICES["postgres"]
    volume = pg["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def test_worker_and_dashboard_use_the_postgres_service_and_wait_for_it():
    for name in ("worker", "dashboard"):
        url = make_url(SERVICES[name]["environment"]["LRADVISOR_STORAGE"])
        assert (url.drivername, url.host) == ("postgresql+psycopg", "postgres"), name
        env = SERVICES["postgres"]["environment"]
        assert (url.username, url.database) == (env["POSTGRES_USER"], env["POSTGRES_DB"])
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_worker_command_is_a_real_lradvisor_command():
    args = SERVICES["worker"]["command"]
    command = cli.get_command(None, args[0])  # type: ignore[arg-type]
    assert command is not None and command.name == "worker"
    ctx = command.make_context("worker", list(args[1:]))  # parses, runs nothing
    assert (ROOT / ctx.params["spec_file"]).is_file()
    assert ctx.params["grace"] > ctx.params["heartbeat"]


def test_every_service_of_a_local_image_builds_it():
    """`docker compose up -d postgres dashboard service` (the README's) builds only the
    selected services: one with a local image and no build would try a registry pull."""
    local = {s["image"] for s in SERVICES.values() if "build" in s and "image" in s}
    for name, service in SERVICES.items():
        if service.get("image") in local:
            assert service.get("build", {}).get("target") in re.findall(
                r"^FROM \S+ AS (\S+)", DOCKERFILE, re.M), name


def test_the_worker_scales():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N


def test_the_dockerfile_has_lradvisor_as_entrypoint_and_copies_what_exists():
    assert 'ENTRYPOINT ["lradvisor"]' in DOCKERFILE
    stages = re.findall(r"^FROM \S+ AS (\S+)", DOCKERFILE, re.M)
    for name in ("worker", "dashboard"):
        assert SERVICES[name]["build"]["target"] in stages
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M):
        *sources, _ = shlex.split(line)
        for source in sources:
            assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "lradvisor" not in ignored and "studies" not in ignored


def test_the_service_is_a_real_serve_command_on_postgres_with_a_token():
    service = SERVICES["service"]
    args = service["command"]
    command = cli.get_command(None, args[0])  # type: ignore[arg-type]
    assert command is not None and command.name == "serve"
    ctx = command.make_context("serve", list(args[1:]))  # parses, runs nothing
    assert ctx.params["host"] == "0.0.0.0"  # non-loopback: the token file is required
    assert service["environment"]["LRADVISOR_TOKEN_FILE"].startswith("/run/secrets/")
    url = make_url(service["environment"]["LRADVISOR_STORAGE"])
    assert (url.drivername, url.host) == ("postgresql+psycopg", "postgres")
    assert set(service["secrets"]) <= set(COMPOSE["secrets"])
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
