"""What a service is started with, and the checks made before it binds a socket.

Pure: no FastAPI, no Optuna. :func:`check_bind` is the one security gate at start-up:
a service that could be reached from another machine must have a token.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lradvisor.errors import LRAdvisorError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "ServiceConfig",
    "ServiceError",
    "check_bind",
    "is_loopback",
    "load_token",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "LRADVISOR_TOKEN"
TOKEN_FILE_ENV = "LRADVISOR_TOKEN_FILE"
# Shortest token accepted: a bearer token is the only thing guarding write endpoints.
MIN_TOKEN_CHARS = 16


class ServiceError(LRAdvisorError):
    """The service cannot start as configured, or (client side) it refused a request.

    Attributes:
        status: the HTTP status the service answered with; ``None`` at start-up.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of one service process.

    Args:
        host: address to bind; anything but a loopback address needs ``token``.
        port: TCP port; 0 picks a free one.
        storage: study database URL (``None``: ``$LRADVISOR_STORAGE`` or the default).
        token: bearer token for write endpoints (and, off loopback, read endpoints);
            ``None``: write endpoints are refused.
        rules_files: the user's rules files, added to the shipped guide (read at start).
        learned: the learned guide ``/v1/suggest`` blends in, as ``lradvisor suggest
            --learned``: it must exist; ``None``: ``$LRADVISOR_LEARNED``, else
            ``studies/learned.json`` when it exists (read once, at start).
        rules_only: answer ``/v1/suggest`` from the rules alone, ignoring any learned
            guide (``lradvisor suggest --rules-only``).
        trial_timeout: seconds without a report after which a remote trial is failed
            and its configuration queued again.
        reap_interval: seconds between the background sweeps for stale remote trials.
        max_requeues: how many times one configuration is queued again after being
            abandoned; a configuration that keeps killing its worker stops there.
        max_body_bytes: larger request bodies are refused with 413.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    storage: str | None = None
    token: str | None = field(default=None, repr=False)
    rules_files: tuple[str, ...] = ()
    learned: str | None = None
    rules_only: bool = False
    trial_timeout: float = 600.0
    reap_interval: float = 30.0
    max_requeues: int = 2
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules_files", tuple(str(p) for p in self.rules_files))
        if self.learned is not None:
            object.__setattr__(self, "learned", str(self.learned))
        for name in ("trial_timeout", "reap_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ServiceError(f"{name} must be a number of seconds > 0, but got {value!r}.")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ServiceError(f"port must be an integer in [0, 65535], but got {self.port!r}.")
        if not isinstance(self.max_requeues, int) or self.max_requeues < 0:
            raise ServiceError(f"max_requeues must be an integer >= 0, but got "
                               f"{self.max_requeues!r}.")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1024:
            raise ServiceError(f"max_body_bytes must be an integer >= 1024, but got "
                               f"{self.max_body_bytes!r}.")

    @property
    def loopback(self) -> bool:
        """Whether the service binds a loopback address only."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
        (True, False, True)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def load_token(token: str | None = None, token_file: str | os.PathLike[str] | None = None,
               ) -> str | None:
    """The bearer token: ``token``, else ``token_file``'s first line, else the
    environment (``$LRADVISOR_TOKEN``, then the file ``$LRADVISOR_TOKEN_FILE``).

    Raises:
        ServiceError: the token file cannot be read, or a token is shorter than
            16 characters or holds white space (the message never shows the token).
    """
    if token is None and token_file is None:
        token = os.environ.get(TOKEN_ENV) or None
        if token is None:
            token_file = os.environ.get(TOKEN_FILE_ENV) or None
    if token is None and token_file is not None:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise ServiceError(f"cannot read token file {str(token_file)!r}: "
                               f"{err.strerror or err}.") from None
        token = lines[0].strip() if lines else ""
    if token is None:
        return None
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ServiceError(
            f"the token must be at least {MIN_TOKEN_CHARS} characters without white space "
            f"(got {len(token)} characters); e.g. python -c \"import secrets; "
            "print(secrets.token_urlsafe(32))\"."
        )
    return token


def check_bind(config: ServiceConfig) -> None:
    """Refuse to serve a non-loopback address without a token.

    Raises:
        ServiceError: ``config.host`` is not loopback and ``config.token`` is ``None``.
    """
    if not config.loopback and config.token is None:
        raise ServiceError(
            f"refusing to bind {config.host!r} without a token: anyone who can reach it "
            f"could write to your studies. Set ${TOKEN_ENV} or --token-file, or bind "
            f"{DEFAULT_HOST}."
        )


def rules_paths(paths: Sequence[str]) -> tuple[str, ...]:
    """``paths`` as strings, each checked to be a readable file (at start, not per request)."""
    out = []
    for path in paths:
        if not Path(path).is_file():
            raise ServiceError(f"rules file {path!r} does not exist or is not a file.")
        out.append(str(path))
    return tuple(out)
