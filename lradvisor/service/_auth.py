"""The service's guards: the bearer token, and the request body size limit.

Write endpoints always need the token (none configured: they are off). Read
endpoints are open on loopback and need the token otherwise. Tokens are compared in
constant time and never echoed.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lradvisor.service._config import TOKEN_ENV, ServiceConfig

__all__ = ["BodyLimit", "require_read", "require_write"]

_bearer = HTTPBearer(auto_error=False, description="The service token ($LRADVISOR_TOKEN).")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _config(request: Request) -> ServiceConfig:
    return request.app.state.config


def _check(config: ServiceConfig, credentials: HTTPAuthorizationCredentials | None) -> None:
    assert config.token is not None
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>).",
                            headers=_CHALLENGE)
    if not hmac.compare_digest(credentials.credentials.encode(), config.token.encode()):
        raise HTTPException(401, "wrong bearer token.", headers=_CHALLENGE)


async def require_write(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> None:
    """Write endpoints: the token, always; 403 when the service has none."""
    config = _config(request)
    if config.token is None:
        raise HTTPException(
            403, f"write endpoints are off: this service was started without a token "
            f"(set ${TOKEN_ENV} or --token-file and restart it).")
    _check(config, credentials)


async def require_read(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> None:
    """Read endpoints: open on loopback, the token otherwise."""
    config = _config(request)
    if not config.loopback:
        _check(config, credentials)


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413 before any endpoint runs.

    The body is read (at most ``max_bytes`` + one chunk) and handed on whole; request
    bodies here are small JSON objects, so buffering costs nothing worth counting.
    """

    def __init__(self, app: Callable[..., Any], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, send: Callable) -> None:
        content = json.dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content})


def _replay(body: bytes, receive: Callable) -> Callable:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
