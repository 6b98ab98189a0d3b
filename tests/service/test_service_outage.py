"""The service while its PostgreSQL is unreachable: 503 with Retry-After, then back.

A real ``lradvisor serve`` on loopback whose storage URL goes through a TCP proxy in
this process (``tests.distributed.proxy``): stopping the proxy makes the database vanish
for the service, the real server is never touched.
"""

from __future__ import annotations

import time

from tests.distributed.conftest import PG_PORT, fresh_pg_url, pg, pg_database  # noqa: F401
from tests.distributed.proxy import TcpProxy
from tests.service.conftest import free_port, running_server

PROFILE = {"task": "scratch", "total_steps": 900}


def test_an_unreachable_database_is_503_and_the_service_recovers(
        tmp_path, pg: str, pg_database: str) -> None:  # noqa: F811
    port = free_port()
    proxy = TcpProxy(port, PG_PORT)
    proxy.start()
    url = fresh_pg_url(pg, pg_database).replace(f":{PG_PORT}/", f":{port}/")
    try:
        with running_server(tmp_path, storage=url) as srv, srv.client() as http:
            assert http.post("/v1/studies", json={"name": "o", "profile": PROFILE}
                             ).status_code == 201
            proxy.stop()
            down = [http.get("/v1/studies/o"), http.post("/v1/studies/o/trials")]
            assert [r.status_code for r in down] == [503, 503], [r.text for r in down]
            assert down[0].json() == {"detail": "study database unreachable; try again."}
            assert down[0].headers["retry-after"] == "5"
            proxy.start()
            deadline = time.monotonic() + 30
            while True:  # the pool reconnects (pre-ping) once the database is back
                answer = http.get("/v1/studies/o")
                if answer.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert answer.status_code == 200, answer.text
            assert "Traceback" not in srv.log.read_text()
    finally:
        proxy.stop()

