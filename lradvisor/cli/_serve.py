"""``lradvisor serve``: the HTTP service (FastAPI is imported only when it runs)."""

from __future__ import annotations

import click

from lradvisor.cli._options import storage_option
from lradvisor.cli._suggest import learned_options

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs a token.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port; 0: a free one.")
@storage_option
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="File whose first line is the bearer token. Env: LRADVISOR_TOKEN "
              "(the token itself) or LRADVISOR_TOKEN_FILE.")
@click.option("--rules", "rules_files", multiple=True, type=click.Path(dir_okay=False),
              help="A rules file of your own, added to the shipped guide; repeatable.")
@learned_options
@click.option("--trial-timeout", type=float, default=600.0, show_default=True,
              help="Seconds without a report before a remote trial is failed and re-queued.")
@click.option("--reap-interval", type=float, default=30.0, show_default=True,
              help="Seconds between sweeps for abandoned remote trials.")
@click.option("--log-level", type=click.Choice(("critical", "error", "warning", "info",
                                                "debug")), default="info", show_default=True)
def serve(host: str, port: int, storage: str | None, token_file: str | None,
          rules_files: tuple[str, ...], learned: str | None, rules_only: bool,
          trial_timeout: float, reap_interval: float, log_level: str) -> None:
    """Serve advice and remote trials over HTTP (docs at /docs).

    \b
    Write endpoints (remote trials) need a bearer token: set LRADVISOR_TOKEN or pass
    --token-file. Without one, only 127.0.0.1 / ::1 may be bound, and writes are off.
    /v1/suggest blends the learned guide as `lradvisor suggest` does, read once at start.

    \b
    Examples:
      lradvisor serve
      LRADVISOR_TOKEN=$(cat ~/.lradvisor-token) lradvisor serve --host 0.0.0.0 \\
          --storage postgresql+psycopg://lr@db/lradvisor
    """
    from lradvisor.service import ServiceConfig, load_token
    from lradvisor.service import serve as run

    config = ServiceConfig(
        host=host, port=port, storage=storage, token=load_token(token_file=token_file),
        rules_files=rules_files, learned=learned, rules_only=rules_only,
        trial_timeout=trial_timeout, reap_interval=reap_interval,
    )
    run(config, log_level=log_level)
