"""The request and response bodies of the service, as pydantic models.

Requests are validated here, before anything runs: a wrong type, an unknown field, a
name outside its set or a number out of range is a 422 naming the field. Values are
the same as the CLI's (``task`` is case-insensitive, ``_`` works for ``-``); the
semantic checks that span fields (lengths that disagree) are the
:class:`~lradvisor.rules.TaskProfile`'s own, run in a model validator.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from lradvisor.errors import LRAdvisorError
from lradvisor.rules import ARCHS, OPTIMIZERS, TASKS, TaskProfile
from lradvisor.rules._profile import MAX_STEPS, run_too_long
from lradvisor.schedules import FAMILY_NAMES

__all__ = [
    "AskOut",
    "CompleteIn",
    "FailIn",
    "ProfileIn",
    "PruneOut",
    "ReportIn",
    "StudyIn",
    "TrialStateOut",
]

# A batch, a dataset or a model larger than any real one, small enough that arithmetic
# on it stays exact. A run's length is capped at the profile's MAX_STEPS, as on the CLI.
MAX_COUNT = 2**40
# A report's step is stored as a signed 32-bit integer (Optuna's column; PostgreSQL
# refuses more, which the service would only learn from a failed commit).
MAX_STEP = 2**31 - 1


def _no_bool(value: Any) -> Any:
    """JSON ``true`` is not a count or a learning rate (pydantic's lax mode says it is 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _addressable(name: str) -> str:
    """A study is addressed as ``/v1/studies/{name}``: "." and ".." are path steps there
    (clients resolve ``/v1/studies/..`` to ``/v1/``), so no study could be reached."""
    if name in (".", ".."):
        raise ValueError(f"{name!r} cannot name a study: it is a step in a URL path; use "
                         "letters or digits too.")
    return name


def _within_run(value: int, info: ValidationInfo) -> int:
    """A length (``total_steps``, ``epochs``, ``steps_per_epoch``) of at most
    :data:`MAX_STEPS`, refused past it in the CLI's and the profile's line."""
    if value > MAX_STEPS:
        raise ValueError(run_too_long(f"{info.field_name} {value}"))
    return value


def _name(value: Any) -> Any:
    """Case and ``_``/``-`` do not matter in names, as on the command line."""
    return value.strip().lower().replace("_", "-") if isinstance(value, str) else value


Count = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=MAX_COUNT)]
Length = Annotated[int, BeforeValidator(_no_bool), Field(ge=1), AfterValidator(_within_run)]
Step = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_STEP)]
PositiveFloat = Annotated[
    float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)
]
AnyFloat = Annotated[float, BeforeValidator(_no_bool)]
Task = Annotated[Literal[TASKS], BeforeValidator(_name)]  # type: ignore[valid-type]
Arch = Annotated[Literal[ARCHS], BeforeValidator(_name)]  # type: ignore[valid-type]
Optimizer = Annotated[Literal[OPTIMIZERS], BeforeValidator(_name)]  # type: ignore[valid-type]
Family = Literal[FAMILY_NAMES]  # type: ignore[valid-type]
StudyName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$"),
                      AfterValidator(_addressable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileIn(_Strict):
    """A task profile: the same fields as ``lradvisor suggest``'s options.

    Example body: ``{"task": "scratch", "arch": "cnn", "epochs": 30, "steps_per_epoch": 100}``.
    """

    task: Task = Field(description="What kind of training run this is.")
    arch: Arch | None = Field(None, description="Model architecture.")
    optimizer: Optimizer | None = Field(None, description="Optimizer family.")
    total_steps: Length | None = Field(None, description="Optimizer steps in the full run.")
    epochs: Length | None = Field(None, description="Epochs in the full run.")
    steps_per_epoch: Length | None = Field(None, description="Optimizer steps per epoch.")
    batch_size: Count | None = Field(None, description="Batch size, where known.")
    dataset_size: Count | None = Field(None, description="Training examples, where known.")
    model_params: Count | None = Field(
        None, description="The model's trainable parameters, where known."
    )
    peak_lr: PositiveFloat | None = Field(None, description="Fix the peak LR.")

    @model_validator(mode="after")
    def _consistent(self) -> ProfileIn:
        # lengths that disagree, or epochs x steps_per_epoch over MAX_STEPS, raise here,
        # as a 422 on the body
        self.profile()
        return self

    def profile(self) -> TaskProfile:
        """The :class:`TaskProfile` (a ``ValueError`` with the profile's message if bad)."""
        try:
            return TaskProfile(**self.model_dump(exclude_none=True))
        except LRAdvisorError as err:
            raise ValueError(str(err)) from None


class StudyIn(_Strict):
    """A new study for remote trials: its name, the run's profile (with its length)."""

    name: StudyName
    profile: ProfileIn
    direction: Literal["minimize", "maximize"] = "minimize"
    families: list[Family] | None = Field(
        None, min_length=1, max_length=len(FAMILY_NAMES),
        description="Search only these families (default: the rules' prior).",
    )
    sampler: Literal["tpe", "random", "qmc"] = "tpe"

    @model_validator(mode="after")
    def _has_length(self) -> StudyIn:
        if not self.profile.profile().known_length:
            raise ValueError("a study needs the run's length: give profile.total_steps, or "
                             "profile.epochs with profile.steps_per_epoch.")
        return self


# The study_uid an ask answered, sent back with a trial's report, complete or fail.
StudyUid = Annotated[str | None, Field(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
    description="The `study_uid` the ask answered: a study deleted and made again under "
    "its name has another, and the request is then a 409. Without it the trial is "
    "found by the study's name and the trial's number alone (unchecked).")]


class ReportIn(_Strict):
    """An intermediate value: ``step`` counted in the trial's own steps (0 .. total)."""

    step: Step
    value: AnyFloat = Field(description="NaN or infinity: the run diverged (pruned).")
    study_uid: StudyUid = None


class CompleteIn(_Strict):
    """The trial's final value."""

    value: AnyFloat
    study_uid: StudyUid = None


class FailIn(_Strict):
    """Why the trial failed (kept with the trial)."""

    reason: str = Field(min_length=1, max_length=2000)
    study_uid: StudyUid = None


class SpecOut(BaseModel):
    """A :class:`~lradvisor.schedules.ScheduleSpec` as JSON."""

    family: str
    params: dict[str, Any]
    peak_lr: float | None


class AskOut(BaseModel):
    """A trial to run: its id, the schedule, the peak LR and the proxy length.

    ``spec`` and ``peak_lr`` are what this proxy trains with: where the profile's
    ``[[horizon]]`` rule fires (SGD), the peak a run of this length wants: the full
    run's peak times ``f ** -b``, ``f`` the rung's fraction of the run (about
    ``total_steps / full_steps``). The study stores the full run's.
    """

    study: str
    study_uid: str | None = Field(None, description="The study's own id (null for a study "
                                  "made by plain Optuna): send it back with the trial's "
                                  "report, complete and fail, so that they never reach "
                                  "another study made under this name.")
    trial: int = Field(description="The trial's id in this study (Optuna's trial number).")
    spec: SpecOut
    peak_lr: float
    total_steps: int = Field(description="Steps of this proxy run: schedule and reports "
                                         "count in these.")
    full_steps: int
    rung: int
    requeued_from: int | None = Field(None, description="The abandoned trial this repeats.")
    origin: str = Field("remote", description="remote (sampled), rules / rules-alt (the "
                        "rules' picks, run first), requeued (an abandoned one, again).")


class PruneOut(BaseModel):
    """Whether to stop the trial now (it is then recorded as pruned)."""

    prune: bool


class TrialStateOut(BaseModel):
    """A finished trial's state."""

    trial: int
    state: str
