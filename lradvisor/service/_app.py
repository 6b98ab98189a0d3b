"""The ASGI app: thin HTTP shells over the rule engine, the schedules and the studies.

Every endpoint validates its input with the models of :mod:`._models`, calls the same
function the CLI calls, and answers JSON. Errors a caller can cause are 4xx with the
same one-line message the CLI prints (422 bad input, 404 no such thing, 409 wrong
state, 401/403 token, 413 body too large, 415 a body not sent as JSON); a study
database that does not answer is a 503 with ``Retry-After`` (nothing stored is lost;
retry when it is back); anything else is a 500 that says only "internal error" (the
details go to the server's log, never to the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lradvisor.errors import LRAdvisorError
from lradvisor.service import _studies
from lradvisor.service._auth import BodyLimit, require_read, require_write
from lradvisor.service._body import body_entry, media_type_detail, not_sent_as_json, unparsed
from lradvisor.service._config import ServiceConfig, rules_paths
from lradvisor.service._models import (
    AskOut,
    CompleteIn,
    FailIn,
    ProfileIn,
    PruneOut,
    ReportIn,
    StudyIn,
    TrialStateOut,
)
from lradvisor.service._reaper import reaper_loop
from lradvisor.service._suggest import load_guide, suggest_answers
from lradvisor.service._trials import Conflict, NotFound, RemoteTrials

__all__ = ["create_app"]

_log = logging.getLogger("lradvisor.service")
_JSON = "application/json"
# Curves are computed at most at this many steps (evenly spaced) per request.
MAX_POINTS = 10_000
MAX_CURVE_STEPS = 10**9
# No control character (PostgreSQL cannot hold NUL): a 422, never a 500. Looser than a
# study made here (``_models.StudyName``): the CLI's studies may have other names.
StudyName = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$",
                                description="The study's name.")]
# Trial numbers are stored as a signed 32-bit integer.
TrialId = Annotated[int, Path(ge=0, le=2**31 - 1, description="The trial's id (its number).")]
_READ = [Depends(require_read)]
_WRITE = [Depends(require_write)]


def create_app(config: ServiceConfig | None = None, *, storage: Any = None) -> FastAPI:
    """The service for ``config``; ``storage`` (an open Optuna storage) overrides its URL.

    The storage is opened and the user's rules files and the learned guide are read
    here, so a bad URL, rules file or guide fails before the service binds a socket.

    Example:
        >>> app = create_app(ServiceConfig(storage="sqlite://"))  # doctest: +SKIP
    """
    from lradvisor.rules import load_rules, merge_rules, shipped_rules
    from lradvisor.storage import open_storage

    config = config or ServiceConfig()
    rules_files = rules_paths(config.rules_files)
    # a malformed file, or one that clashes with the guide, fails now, not on each request
    merge_rules(shipped_rules(), *(load_rules(path) for path in rules_files))
    start = load_guide(config)  # read once: a malformed guide fails now, as in suggest
    trials = RemoteTrials(storage if storage is not None else open_storage(config.storage),
                          trial_timeout=config.trial_timeout, max_requeues=config.max_requeues)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for level, line in start.log:
            _log.log(level, line)
        task = asyncio.create_task(reaper_loop(trials, config.reap_interval))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="lradvisor", version=_version(), lifespan=lifespan,
        description="Learning-rate schedule advice, and remote trials of lradvisor studies.",
    )
    app.state.config = config
    app.state.trials = trials
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    _errors(app)
    _read_routes(app, trials, suggest_answers(rules_files, start.guide))
    _trial_routes(app, trials, rules_files)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lradvisor")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def _errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        # Where and what only: the offending input is not echoed (it may be a secret,
        # or a NaN that JSON cannot carry).
        errors = err.errors()
        if any(not_sent_as_json(e) for e in errors):
            detail = media_type_detail(request.headers.get("content-type"))
            return JSONResponse({"detail": detail}, status_code=415)
        entries = [body_entry(e) or {"loc": list(e.get("loc", ())), "msg": _message(e),
                                     "type": str(e.get("type", ""))} for e in errors]
        return JSONResponse({"detail": entries}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        # FastAPI's "There was an error parsing the body" (400) names no cause
        whole = unparsed(err.__cause__) if err.status_code == 400 else None
        if whole is not None:
            return JSONResponse({"detail": [whole]}, status_code=422)
        return await http_exception_handler(request, err)

    @app.exception_handler(LRAdvisorError)
    async def user_error(_request: Request, err: LRAdvisorError) -> JSONResponse:
        status = 404 if isinstance(err, NotFound) else 409 if isinstance(err, Conflict) else 422
        return JSONResponse({"detail": str(err)}, status_code=status)

    import optuna
    import sqlalchemy.exc

    async def unreachable(_request: Request, err: Exception) -> JSONResponse:
        # the study database went away (or refused us): the caller may retry; stored
        # trials are safe, nothing was half-written (each write is one transaction)
        _log.warning("study database unreachable: %s", err)
        return JSONResponse({"detail": "study database unreachable; try again."},
                            status_code=503, headers={"Retry-After": "5"})

    for kind in (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                 optuna.exceptions.StorageInternalError):
        app.add_exception_handler(kind, unreachable)

    @app.exception_handler(Exception)
    async def internal(_request: Request, err: Exception) -> JSONResponse:
        _log.error("internal error", exc_info=err)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def _message(entry: dict[str, Any]) -> str:
    """A validation error's message; for one our validators raised (a ``ValueError``: a
    run over 2**53 steps, lengths that disagree), its own line, as the CLI prints it, not
    pydantic's ``Value error, `` before it."""
    error = (entry.get("ctx") or {}).get("error")
    if entry.get("type") == "value_error" and isinstance(error, ValueError):
        return str(error)
    return str(entry.get("msg", ""))


def _read_routes(app: FastAPI, trials: RemoteTrials,
                 suggest_json: Callable[[Any], bytes]) -> None:
    @app.get("/v1/health", tags=["read"])
    async def health() -> dict[str, str]:
        """Liveness: answers ``{"status": "ok"}`` once the service is up."""
        return {"status": "ok", "version": app.version}

    @app.post("/v1/suggest", tags=["read"], dependencies=_READ, response_class=Response,
              responses={200: {"content": {_JSON: {}}, "description": "The same JSON "
                                "object as `lradvisor suggest --format json`."}})
    async def suggest(body: ProfileIn) -> Response:
        """Recommend a schedule for a task profile: the rules' answer, blended with the
        learned guide the service started with (as `lradvisor suggest`), in milliseconds."""
        return Response(suggest_json(body.profile()), media_type=_JSON)

    schedules_json = json.dumps(_schedules()).encode()

    @app.get("/v1/schedules", tags=["read"], dependencies=_READ, response_class=Response,
             responses={200: {"content": {_JSON: {}}}})
    async def schedules() -> Response:
        """Every schedule family: its parameters, defaults, allowed values, search ranges."""
        return Response(schedules_json, media_type=_JSON)

    @app.get("/v1/schedules/{family}/curve", tags=["read"], dependencies=_READ)
    async def curve(
        request: Request,
        family: str = Path(max_length=64),  # noqa: B008
        total_steps: int = Query(ge=1, le=MAX_CURVE_STEPS, description="Steps in the run."),
        peak_lr: float | None = Query(None, gt=0, allow_inf_nan=False,
                                      description="Scale (default: the multiplier)."),
        points: int | None = Query(None, ge=2, le=MAX_POINTS,
                                   description="Evenly spaced steps to evaluate "
                                   f"(default: every step, up to {MAX_POINTS})."),
    ) -> dict[str, Any]:
        """A family's LR curve as numbers. Any other query parameter is one of the
        family's parameters (``?warmup_fraction=0.1``; see ``GET /v1/schedules``)."""
        reserved = {"total_steps", "peak_lr", "points"}
        params = {k: v for k, v in request.query_params.items() if k not in reserved}
        return _curve(family, params, total_steps, peak_lr, points)

    @app.get("/v1/studies", tags=["studies"], dependencies=_READ)
    def studies() -> list[dict[str, Any]]:
        """The stored studies: name, direction, trial count, run length, task."""
        return _studies.list_view(trials)

    @app.get("/v1/studies/{name}", tags=["studies"], dependencies=_READ)
    def study(name: StudyName) -> dict[str, Any]:
        """A study: settings, trials by state, best trial, stored recommendation."""
        return _studies.study_view(trials, name)

    @app.get("/v1/studies/{name}/best", tags=["studies"], dependencies=_READ,
             response_class=Response, responses={200: {"content": {_JSON: {}}, "description":
                                                      "As `lradvisor suggest --study NAME "
                                                      "--format json`."}})
    def best(name: StudyName) -> Response:
        """The study's recommendation for the full run, with its evidence."""
        from lradvisor.cli._render import render
        from lradvisor.search._recommend import study_recommendations

        with trials.in_use(name):  # the pick, its runners-up
            recs = study_recommendations(trials.handle(name).study)
        return Response(render(recs, "json", extra={"study": name}).encode(), media_type=_JSON)


def _schedules() -> list[dict[str, Any]]:
    from lradvisor.schedules import all_families

    return [{
        "name": f.name, "summary": f.summary, "guide": f.guide, "torch_class": f.torch_class,
        "adaptive": f.adaptive, "open_ended": f.open_ended,
        "params": [{"name": p.name, "kind": p.kind, "default": p.default, "doc": p.doc,
                    "allowed": p.allowed(), "search": p.search, "log": p.log,
                    "steps_name": p.steps_name} for p in f.all_params],
    } for f in all_families()]


def _curve(family: str, params: dict[str, str], total_steps: int, peak_lr: float | None,
           points: int | None) -> dict[str, Any]:
    from lradvisor.errors import SpecError
    from lradvisor.schedules import ScheduleSpec, get_family

    try:
        get_family(family)
    except SpecError as err:
        raise NotFound(str(err)) from None
    spec = ScheduleSpec(family, params, peak_lr)
    fn = spec.multiplier_fn(total_steps)
    count = min(points or total_steps, total_steps, MAX_POINTS)
    if count >= total_steps:
        steps = list(range(total_steps))
    else:
        steps = sorted({round(i * (total_steps - 1) / (count - 1)) for i in range(count)})
    scale = peak_lr if peak_lr is not None else 1.0
    return {"family": family, "spec": spec.to_dict(), "total_steps": total_steps,
            "steps": steps, "lr": [scale * fn(s) for s in steps]}


def _trial_routes(app: FastAPI, trials: RemoteTrials, rules_files: tuple[str, ...]) -> None:
    @app.post("/v1/studies", tags=["studies"], dependencies=_WRITE, status_code=201)
    def create(body: StudyIn, response: Response) -> dict[str, Any]:
        """Create a study for remote trials (201); an existing one of the same profile
        and direction is returned as it is (200); of another, 409."""
        view, created = _studies.create_study(
            trials, body.name, body.profile.profile(), direction=body.direction,
            families=body.families, sampler=body.sampler, rules_files=rules_files)
        response.status_code = 201 if created else 200
        return view

    @app.post("/v1/studies/{name}/trials", tags=["trials"], dependencies=_WRITE,
              response_model=AskOut)
    def ask(name: StudyName) -> dict[str, Any]:
        """Ask for a trial: its id, schedule spec, peak LR and proxy length in steps."""
        with trials.in_use(name):
            return trials.ask(name)

    @app.post("/v1/studies/{name}/trials/{trial}/report", tags=["trials"],
              dependencies=_WRITE, response_model=PruneOut)
    def report(body: ReportIn, name: StudyName, trial: TrialId) -> PruneOut:
        """Report a value at a step; the answer says whether to stop (pruned) now."""
        with trials.in_use(name):
            return PruneOut(prune=trials.report(name, trial, body.step, body.value,
                                                 study_uid=body.study_uid))

    @app.post("/v1/studies/{name}/trials/{trial}/complete", tags=["trials"],
              dependencies=_WRITE, response_model=TrialStateOut)
    def complete(body: CompleteIn, name: StudyName,
                 trial: TrialId) -> TrialStateOut:
        """Finish the trial with its final value."""
        with trials.in_use(name):
            return TrialStateOut(trial=trial, state=trials.complete(
                name, trial, body.value, study_uid=body.study_uid))

    @app.post("/v1/studies/{name}/trials/{trial}/fail", tags=["trials"],
              dependencies=_WRITE, response_model=TrialStateOut)
    def fail(body: FailIn, name: StudyName, trial: TrialId) -> TrialStateOut:
        """Fail the trial, with the reason (it is not queued again)."""
        with trials.in_use(name):
            return TrialStateOut(trial=trial, state=trials.fail(
                name, trial, body.reason, study_uid=body.study_uid))

