"""``TaskProfile``: what the rules know about a training run.

A profile holds the task kind, architecture and optimizer family, and the run's
length where known (``total_steps``, or ``epochs`` x ``steps_per_epoch``), plus batch
size, dataset size and model size (trainable parameters). It is validated on creation,
so every bad value is caught where the user first gives it, with a
:class:`~lradvisor.errors.ProfileError` naming it.

Where the profile is thin, nothing is invented: a field left out stays ``None`` and
rules that ask about it do not fire, so the more general rules (task only) decide.
Three things are derived, and documented on the fields:

* ``epochs`` x ``steps_per_epoch`` gives ``total_steps``; ``total_steps`` and
  ``steps_per_epoch`` give the run's length in epochs.
* ``dataset_size`` and ``batch_size`` give ``steps_per_epoch`` (``ceil(dataset /
  batch)``) when it is not given.
* ``epochs`` alone (no steps per epoch, no way to derive one) is a known length of
  ``epochs`` scheduler steps: the scheduler is stepped once per epoch, as in the
  guide's own examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from lradvisor.errors import ProfileError

__all__ = ["ARCHS", "LARGE_BATCH", "MAX_STEPS", "OPTIMIZERS", "TASKS", "TaskProfile",
           "check_run_length", "run_too_long"]

TASKS: tuple[str, ...] = ("scratch", "pretrain", "finetune", "unknown-length", "quick")
ARCHS: tuple[str, ...] = ("cnn", "transformer", "mlp", "rnn", "other")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw", "other")

# From this batch size on a run counts as large-batch (derived fact ``batch = "large"``):
# the point where common practice (Goyal et al. 2017, linear scaling) adds warmup.
LARGE_BATCH = 1024

# The longest run, in scheduler steps: past 2**53 a step count is no longer exact as a
# float (the schedules' step / total_steps) nor as a JSON number read by JavaScript. The
# one cap of the profile, the CLI's flags and the service's fields (run_too_long).
MAX_STEPS = 2**53
_LENGTH_NAMES = {"total_steps": "total_steps", "epochs": "epochs",
                 "steps_per_epoch": "steps_per_epoch"}


def run_too_long(given: str) -> str:
    """The one line refusing a run of more than :data:`MAX_STEPS` steps; ``given`` names
    the flag or field with its value.

    Example:
        >>> run_too_long("--total-steps 9007199254740993")
        "the run's length must be at most 2**53 = 9007199254740992 scheduler steps, but \
got --total-steps 9007199254740993."
    """
    return (f"the run's length must be at most 2**53 = {MAX_STEPS} scheduler steps, but got "
            f"{given}.")


def check_run_length(total_steps: int | None = None, epochs: int | None = None,
                     steps_per_epoch: int | None = None, *,
                     names: dict[str, str] | None = None) -> None:
    """Refuse a run longer than :data:`MAX_STEPS` scheduler steps: ``epochs x
    steps_per_epoch`` when both are given, else ``total_steps``, else ``epochs``.

    ``names`` spells the three as the caller's user wrote them (the CLI's flags); the
    fields' own names by default.

    Raises:
        ProfileError: :func:`run_too_long`'s line, naming what gives the length.
    """
    name = {**_LENGTH_NAMES, **(names or {})}
    if epochs is not None and steps_per_epoch is not None:
        steps = epochs * steps_per_epoch
        given = (f"{name['epochs']} x {name['steps_per_epoch']} = {epochs} x "
                 f"{steps_per_epoch} = {steps}")
    elif total_steps is not None:
        steps, given = total_steps, f"{name['total_steps']} {total_steps}"
    elif epochs is not None:
        steps, given = epochs, f"{name['epochs']} {epochs}"
    else:
        return
    if steps > MAX_STEPS:
        raise ProfileError(run_too_long(given))

_INT_FIELDS = ("total_steps", "epochs", "steps_per_epoch", "batch_size", "dataset_size",
               "model_params")


@dataclass(frozen=True)
class TaskProfile:
    """A training run as the rules see it.

    Args:
        task: ``scratch``, ``pretrain``, ``finetune``, ``unknown-length`` or ``quick``
            (case and ``_`` for ``-`` do not matter).
        arch: ``cnn``, ``transformer``, ``mlp``, ``rnn`` or ``other``; ``None``: not
            said, so only rules that do not ask about the architecture fire.
        optimizer: ``sgd``, ``adam``, ``adamw`` or ``other``; ``None``: not said (the
            shipped LR rules then give a wide, Adam-centred range).
        total_steps: scheduler steps in the full run; ``None`` with no epochs: unknown.
        epochs, steps_per_epoch: the run's shape; their product is ``total_steps``.
        batch_size, dataset_size: where known.
        model_params: the model's trainable parameters, where known (the LR rules for
            transformer pretraining scale the peak LR with it).
        peak_lr: a peak LR the user fixes; the rules then keep it instead of choosing.

    Raises:
        ProfileError: an unknown name, a non-positive or non-integer count, a peak LR
            that is not a number > 0, lengths that disagree, or a run longer than
            :data:`MAX_STEPS` steps.

    Example:
        >>> p = TaskProfile(task="Scratch", arch="cnn", epochs=30, steps_per_epoch=100)
        >>> (p.task, p.steps, p.known_length)
        ('scratch', 3000, True)
        >>> TaskProfile("unknown-length").known_length
        False
    """

    task: str
    arch: str | None = None
    optimizer: str | None = None
    total_steps: int | None = None
    epochs: int | None = None
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    dataset_size: int | None = None
    model_params: int | None = None
    peak_lr: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "task", _name("task", self.task, TASKS))
        set_(self, "arch", None if self.arch is None else _name("arch", self.arch, ARCHS))
        if self.optimizer is not None:
            set_(self, "optimizer", _name("optimizer", self.optimizer, OPTIMIZERS))
        for name in _INT_FIELDS:
            set_(self, name, _count(name, getattr(self, name)))
        if self.peak_lr is not None:
            set_(self, "peak_lr", _peak(self.peak_lr))
        if (
            self.steps_per_epoch is None
            and self.batch_size is not None
            and self.dataset_size is not None
        ):  # with or without epochs: "one epoch" means something in a run of any length
            set_(self, "steps_per_epoch", math.ceil(self.dataset_size / self.batch_size))
        self._check_lengths()

    def _check_lengths(self) -> None:
        if self.epochs is not None and self.steps_per_epoch is not None:
            product = self.epochs * self.steps_per_epoch
            if self.total_steps is not None and self.total_steps != product:
                raise ProfileError(
                    f"total_steps {self.total_steps} disagrees with epochs x steps_per_epoch "
                    f"= {self.epochs} x {self.steps_per_epoch} = {product}; give one or "
                    "make them agree."
                )
            object.__setattr__(self, "total_steps", product)
        check_run_length(self.total_steps, self.epochs, self.steps_per_epoch)
        if self.task == "unknown-length" and self.known_length:
            raise ProfileError(
                f"task 'unknown-length' takes no run length, but got total_steps="
                f"{self.total_steps!r}, epochs={self.epochs!r}; drop the length or pick "
                "another task."
            )

    # -- derived -----------------------------------------------------------------------
    @property
    def known_length(self) -> bool:
        """Whether the run's length is known (``total_steps`` or ``epochs`` given)."""
        return self.steps is not None

    @property
    def steps(self) -> int | None:
        """Scheduler steps in the run: ``total_steps``, else ``epochs`` (one step each)."""
        return self.total_steps if self.total_steps is not None else self.epochs

    @property
    def run_epochs(self) -> float | None:
        """The run's length in epochs where it can be told (may be fractional)."""
        if self.epochs is not None:
            return float(self.epochs)
        if self.total_steps is not None and self.steps_per_epoch is not None:
            return self.total_steps / self.steps_per_epoch
        return None

    @property
    def epoch_steps(self) -> float | None:
        """Scheduler steps per epoch: ``steps_per_epoch``, else ``total_steps / epochs``,
        else 1 when only epochs are known (one scheduler step per epoch)."""
        if self.steps_per_epoch is not None:
            return float(self.steps_per_epoch)
        if self.epochs is None:
            return None
        return 1.0 if self.total_steps is None else self.total_steps / self.epochs

    @property
    def interval(self) -> str:
        """What one ``scheduler.step()`` stands for: ``"epoch"`` for a run counted in
        epochs alone (no steps per epoch), else ``"step"``, one optimizer step."""
        return "epoch" if self.total_steps is None and self.epochs is not None else "step"

    def facts(self) -> dict[str, Any]:
        """The fields rules may ask about: every field plus ``length``, ``batch`` and
        ``interval``.

        ``length`` is ``"known"`` or ``"unknown"``; ``batch`` is ``"large"`` from
        :data:`LARGE_BATCH` on, ``"small"`` below, ``None`` when the batch is not given;
        ``steps`` is :attr:`steps`; ``interval`` is :attr:`interval` (``None`` when the
        length is unknown).
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["length"] = "known" if self.known_length else "unknown"
        out["interval"] = self.interval if self.known_length else None
        out["batch"] = (
            None if self.batch_size is None
            else "large" if self.batch_size >= LARGE_BATCH else "small"
        )
        out["steps"] = self.steps
        return out

    def describe(self) -> str:
        """One line: ``task=scratch arch=cnn optimizer=sgd length=3000 steps (30 x 100)``."""
        parts = [f"task={self.task}"]
        parts += [f"{k}={getattr(self, k)}" for k in ("arch", "optimizer") if getattr(self, k)]
        if not self.known_length:
            parts.append("length unknown")
        elif self.epochs is not None and self.steps_per_epoch is not None:
            parts.append(f"length={self.steps} steps ({self.epochs} epochs x "
                         f"{self.steps_per_epoch})")
        elif self.total_steps is None:
            parts.append(f"length={self.epochs} epochs (one scheduler step per epoch)")
        else:
            parts.append(f"length={self.steps} steps")
        parts += [f"{k}={getattr(self, k)}"
                  for k in ("batch_size", "dataset_size", "model_params", "peak_lr")
                  if getattr(self, k) is not None]
        return " ".join(parts)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field, ``None`` where not given (derived lengths filled in)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskProfile:
        """The inverse of :meth:`to_dict`; an unknown key raises a :class:`ProfileError`."""
        if not isinstance(data, Mapping):
            raise ProfileError(f"a task profile must be a mapping, but got {data!r}.")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ProfileError(
                f"unknown profile field {unknown[0]!r}; allowed: {', '.join(names)}."
            )
        if data.get("task") is None:
            raise ProfileError(f"a task profile needs a task, one of {', '.join(TASKS)}.")
        return cls(**{k: v for k, v in data.items() if v is not None})


def _name(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    name = value.strip().lower().replace("_", "-") if isinstance(value, str) else value
    if name not in allowed:
        raise ProfileError(f"unknown {field} {value!r}; allowed: {', '.join(allowed)}.")
    return str(name)


def _count(field: str, value: Any) -> int | None:
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok and isinstance(value, float):
        ok = math.isfinite(value) and value.is_integer()
    if not ok or value < 1:
        raise ProfileError(f"{field} must be a positive integer, but got {value!r}.")
    return int(value)


def _peak(value: Any) -> float:
    try:
        peak = float(value) if not isinstance(value, (bool, str)) else math.nan
    except (TypeError, ValueError):
        peak = math.nan
    if not (math.isfinite(peak) and peak > 0):
        raise ProfileError(f"peak_lr must be a number > 0, but got {value!r}.")
    return peak
