"""A small Python client of the lradvisor service (httpx), for pipelines far from the DB.

The remote-trial loop, as a training job runs it::

    from lradvisor.client import Client

    with Client("http://advisor:8765", token=os.environ["LRADVISOR_TOKEN"]) as client:
        client.create_study("resnet-sweep", {"task": "scratch", "arch": "cnn",
                                              "total_steps": 20000})
        trial = client.ask("resnet-sweep")
        scheduler = trial.spec.build(optimizer, trial.total_steps)
        for step in range(trial.total_steps):
            ...  # train one step, scheduler.step()
            if step % 50 == 0 and trial.report(step, val_loss):
                break  # pruned: the service has recorded it
        else:
            trial.complete(val_loss)

A refusal (bad input, missing token, trial no longer running) raises
:class:`~lradvisor.service.ServiceError` with the service's one-line message and the
HTTP status. Importing this module loads neither FastAPI nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lradvisor.schedules import ScheduleSpec
from lradvisor.service._config import TOKEN_ENV, ServiceError

__all__ = ["Client", "RemoteTrial", "ServiceError"]


@dataclass
class RemoteTrial:
    """A trial handed out by the service: what to run, and its report/complete/fail.

    Attributes:
        study: the study's name.
        number: the trial's id in the study.
        spec: the schedule to train with (its ``peak_lr`` set).
        total_steps: the proxy run's length; the schedule and the reports count in it.
        full_steps: the full run's length (the study's).
        rung: the proxy rung (0: the first, shortest).
        requeued_from: the abandoned trial this one repeats, if any.
        origin: ``remote`` (sampled), ``rules``/``rules-alt`` (the rules' picks, handed
            out first), ``requeued``.
        study_uid: the study's own id, as the ask answered it (None from a service
            that answers none); sent back with each report, complete and fail, so that
            they are refused (409) when the study was deleted and made again since.
    """

    study: str
    number: int
    spec: ScheduleSpec
    total_steps: int
    full_steps: int
    rung: int = 0
    requeued_from: int | None = None
    origin: str = "remote"
    study_uid: str | None = None
    client: Client | None = field(default=None, repr=False)
    pruned: bool = False

    @property
    def peak_lr(self) -> float:
        """The peak learning rate of :attr:`spec`."""
        return float(self.spec.peak_lr or 0.0)

    def report(self, step: int, value: float) -> bool:
        """Report ``value`` at ``step``; ``True``: stop now (the trial is already pruned)."""
        self.pruned = self._client().report(self.study, self.number, step, value,
                                            study_uid=self.study_uid)
        return self.pruned

    def complete(self, value: float) -> str:
        """Finish with the final ``value``; returns the state it ends in."""
        return self._client().complete(self.study, self.number, value,
                                       study_uid=self.study_uid)

    def fail(self, reason: str) -> str:
        """Fail the trial with ``reason``."""
        return self._client().fail(self.study, self.number, reason, study_uid=self.study_uid)

    def _client(self) -> Client:
        if self.client is None:
            raise ServiceError("this RemoteTrial has no client; make it with Client.ask.")
        return self.client


class Client:
    """The service's endpoints as methods.

    Args:
        base_url: e.g. ``http://127.0.0.1:8765``.
        token: the bearer token (default ``$LRADVISOR_TOKEN``); needed for writes.
        timeout: seconds per request.
        transport: an httpx transport (tests pass the app's in-process one).
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8765", *, token: str | None = None,
                 timeout: float = 30.0, transport: Any = None) -> None:
        import os

        import httpx

        token = token if token is not None else os.environ.get(TOKEN_ENV)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    # -- read --------------------------------------------------------------------------
    def suggest(self, profile: Mapping[str, Any] | None = None, **fields: Any) -> dict:
        """The JSON of ``lradvisor suggest --format json`` for a profile (dict or fields)."""
        return self._call("POST", "/v1/suggest", json={**(profile or {}), **fields})

    def schedules(self) -> list[dict]:
        """Every schedule family with its parameters."""
        return self._call("GET", "/v1/schedules")

    def curve(self, family: str, total_steps: int, *, peak_lr: float | None = None,
              points: int | None = None, **params: Any) -> dict:
        """A family's LR curve: ``{"steps": [...], "lr": [...], "spec": {...}}``."""
        query: dict[str, Any] = {"total_steps": total_steps, **params}
        if peak_lr is not None:
            query["peak_lr"] = peak_lr
        if points is not None:
            query["points"] = points
        return self._call("GET", f"/v1/schedules/{family}/curve", params=query)

    def studies(self) -> list[dict]:
        """The stored studies."""
        return self._call("GET", "/v1/studies")

    def study(self, name: str) -> dict:
        """One study's settings and trial counts."""
        return self._call("GET", f"/v1/studies/{_quote(name)}")

    def best(self, name: str) -> dict:
        """The study's recommendation (as ``lradvisor suggest --study NAME --format json``)."""
        return self._call("GET", f"/v1/studies/{_quote(name)}/best")

    # -- write -------------------------------------------------------------------------
    def create_study(self, name: str, profile: Mapping[str, Any], *,
                     direction: str = "minimize", families: list[str] | None = None,
                     sampler: str = "tpe") -> dict:
        """Create study ``name`` for a run (the profile must give its length), or get it."""
        body: dict[str, Any] = {"name": name, "profile": dict(profile), "direction": direction,
                                "sampler": sampler}
        if families is not None:
            body["families"] = list(families)
        return self._call("POST", "/v1/studies", json=body)

    def ask(self, study: str) -> RemoteTrial:
        """A trial to run in ``study``."""
        data = self._call("POST", f"/v1/studies/{_quote(study)}/trials")
        return RemoteTrial(
            study=data["study"], number=int(data["trial"]),
            spec=ScheduleSpec.from_dict(data["spec"]), total_steps=int(data["total_steps"]),
            full_steps=int(data["full_steps"]), rung=int(data["rung"]),
            requeued_from=data.get("requeued_from"), origin=str(data.get("origin", "remote")),
            study_uid=data.get("study_uid"), client=self,
        )

    def report(self, study: str, trial: int, step: int, value: float, *,
               study_uid: str | None = None) -> bool:
        """Report ``value`` at ``step`` of ``trial``; whether to stop now.

        ``study_uid`` (here and in :meth:`complete`, :meth:`fail`): the one the ask
        answered; given, a study made again under the name is refused (409), not
        reported into. :class:`RemoteTrial` sends it itself.
        """
        data = self._call("POST", f"/v1/studies/{_quote(study)}/trials/{int(trial)}/report",
                          json=_with_uid({"step": int(step), "value": _number(value)},
                                         study_uid))
        return bool(data["prune"])

    def complete(self, study: str, trial: int, value: float, *,
                 study_uid: str | None = None) -> str:
        """Finish ``trial`` with its final ``value``; the state it ends in."""
        data = self._call("POST", f"/v1/studies/{_quote(study)}/trials/{int(trial)}/complete",
                          json=_with_uid({"value": _number(value)}, study_uid))
        return str(data["state"])

    def fail(self, study: str, trial: int, reason: str, *,
             study_uid: str | None = None) -> str:
        """Fail ``trial`` with ``reason``."""
        data = self._call("POST", f"/v1/studies/{_quote(study)}/trials/{int(trial)}/fail",
                          json=_with_uid({"reason": str(reason)[:2000] or "failed"},
                                         study_uid))
        return str(data["state"])

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ServiceError(f"cannot reach the lradvisor service at {self._http.base_url}: "
                               f"{err}") from None
        if response.status_code >= 400:
            raise ServiceError(f"{method} {path}: {response.status_code} "
                               f"{_detail(response)}", status=response.status_code)
        return response.json()


def _with_uid(body: dict[str, Any], study_uid: str | None) -> dict[str, Any]:
    """``body`` with the study's uid where there is one (a service older than the field
    answers none and refuses a body that has it)."""
    return body if study_uid is None else {**body, "study_uid": study_uid}


def _number(value: float) -> Any:
    """A float for JSON: NaN and infinities as strings pydantic reads back (divergence)."""
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    if isinstance(detail, list):  # a 422 from validation: name the fields
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                         for d in detail)
    return str(detail)
