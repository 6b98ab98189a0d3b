"""The HTTP service: the rule engine and the study database for pipelines anywhere.

``lradvisor serve`` runs it (FastAPI on uvicorn, the ``service`` extra). It holds no
state of its own: advice comes from the same rules as ``lradvisor suggest``, studies and
remote trials live in the same study database as ``lradvisor search``'s.

Endpoints (``/docs`` shows them, ``/openapi.json`` describes them):

* read: ``POST /v1/suggest``, ``GET /v1/schedules``, ``GET /v1/schedules/{family}/curve``,
  ``GET /v1/studies``, ``GET /v1/studies/{name}``, ``GET /v1/studies/{name}/best``;
* write (bearer token): ``POST /v1/studies``, ``POST /v1/studies/{name}/trials`` (ask),
  ``POST .../trials/{id}/report`` (``{"prune": bool}``), ``.../complete``, ``.../fail``.

Importing this package loads no FastAPI; :func:`create_app` and :func:`serve` do.

Example:
    >>> from lradvisor.service import ServiceConfig, is_loopback
    >>> ServiceConfig().port, is_loopback("0.0.0.0")
    (8765, False)
"""

from __future__ import annotations

from typing import Any

from lradvisor.service._config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    ServiceConfig,
    ServiceError,
    check_bind,
    is_loopback,
    load_token,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "ServiceConfig",
    "ServiceError",
    "check_bind",
    "create_app",
    "is_loopback",
    "load_token",
    "serve",
]


def create_app(config: ServiceConfig | None = None, *, storage: Any = None) -> Any:
    """The FastAPI app; see :func:`lradvisor.service._app.create_app`."""
    from lradvisor.service._app import create_app as create

    return create(config, storage=storage)


def serve(config: ServiceConfig, *, log_level: str = "info") -> None:
    """Check the bind address, build the app and run it on uvicorn until stopped.

    Raises:
        ServiceError: a non-loopback address without a token, or the ``service`` extra
            is not installed.
    """
    check_bind(config)
    try:
        import uvicorn
    except ImportError:
        raise ServiceError("the service needs its extra: pip install 'lradvisor[service]'."
                           ) from None
    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level,
                log_config=_log_config(log_level), access_log=False, server_header=False)


def _log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's logging, with the service's own lines (the learned guide it blends, the
    trials it requeues) through the same handler at the same level."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["lradvisor"] = {"handlers": ["default"], "level": log_level.upper(),
                                      "propagate": False}
    return config
