"""The service's weight stays out of the CLI: FastAPI loads only when ``serve`` runs."""

from __future__ import annotations

import subprocess
import sys


def test_cli_client_and_service_package_import_no_fastapi_or_torch():
    code = ("import sys, lradvisor, lradvisor.cli, lradvisor.client, lradvisor.service; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'torch', 'optuna') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_help_lists_the_options(cli):
    result = cli("serve", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--storage", "--token-file", "--trial-timeout"):
        assert option in result.stdout
