"""Options shared by several commands, defined once (the pip-tools way)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

__all__ = [
    "TASKS",
    "Count",
    "PositiveInt",
    "PositiveNumber",
    "RunLength",
    "format_option",
    "profile_from_options",
    "profile_options",
    "storage_option",
]

TASKS = ("scratch", "pretrain", "finetune", "unknown-length", "quick")
ARCHS = ("cnn", "transformer", "mlp", "rnn", "other")
OPTIMIZERS = ("sgd", "adam", "adamw", "other")


class Count(click.ParamType):
    """A positive count, plain or with a k, M, B (or G) suffix: ``66k``, ``1.3B``."""

    name = "count"
    _SCALE = {"k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9}

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        scale = self._SCALE.get(text[-1:].lower(), 1)
        number = text[:-1] if scale != 1 else text
        try:
            count = float(number) * scale
        except ValueError:
            count = float("nan")
        if not (count >= 1 and count < 1e16 and count == round(count)):
            self.fail(f"{value!r} is not a positive whole count (such as 66000, 66k, "
                      "125M or 1.3B).", param, ctx)
        return int(round(count))


class PositiveNumber(click.ParamType):
    """A finite number > 0 (``--peak-lr``): a bad one names the option, not the field."""

    name = "number"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            self.fail(f"{value} is not a number > 0.", param, ctx)
        return number


class PositiveInt(click.IntRange):
    """An integer >= 1 (``--trials``, ``--total-steps``): a bad one names the option, not
    the Python API's word (``n_trials``, ``total_steps``)."""

    name = "integer"  # 'abc' is not a valid integer (IntRange says 'integer range')

    def __init__(self, max: int | None = None) -> None:  # noqa: A002 (IntRange's name)
        super().__init__(min=1, max=max)


class RunLength(PositiveInt):
    """``--total-steps``, ``--epochs``, ``--steps-per-epoch``: an integer >= 1 and at most
    :data:`~lradvisor.rules._profile.MAX_STEPS`, refused past it in the line the
    profile and the service use, naming the flag."""

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        from lradvisor.rules._profile import MAX_STEPS, run_too_long

        count = int(super().convert(value, param, ctx))
        if count > MAX_STEPS:
            flag = param.opts[0] if param is not None and param.opts else "the length"
            raise click.UsageError(run_too_long(f"{flag} {count}"), ctx)
        return count


_COUNT = PositiveInt()
_LENGTH = RunLength()

_PROFILE_OPTIONS = (
    click.option("--task", type=click.Choice(TASKS), help="What kind of training run this is."),
    click.option("--arch", type=click.Choice(ARCHS), help="Model architecture."),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Optimizer family."),
    click.option("--total-steps", type=_LENGTH, help="Optimizer steps in the full run."),
    click.option("--epochs", type=_LENGTH,
                 help="Epochs in the full run (with --steps-per-epoch)."),
    click.option("--steps-per-epoch", type=_LENGTH, help="Optimizer steps per epoch."),
    click.option("--batch-size", type=_COUNT, help="Batch size, where known."),
    click.option("--dataset-size", type=_COUNT, help="Training examples, where known."),
    click.option("--model-params", type=Count(), metavar="N",
                 help="The model's trainable parameters, where known: 66000, 66k, 125M, "
                 "1.3B (transformer pretraining scales the peak LR with it)."),
    click.option("--peak-lr", type=PositiveNumber(),
                 help="Fix the peak LR instead of the rules' choice."),
    click.option(
        "--rules", "rules_files", multiple=True, type=click.Path(dir_okay=False),
        help="A rules file of your own (TOML), added to the shipped guide; repeatable.",
    ),
)

_PROFILE_KEYS = (
    "task", "arch", "optimizer", "total_steps", "epochs", "steps_per_epoch",
    "batch_size", "dataset_size", "model_params", "peak_lr",
)


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the task-profile options (``--task``, ``--arch``, ... ``--rules``) to a command."""
    for option in reversed(_PROFILE_OPTIONS):
        func = option(func)
    return func


def profile_from_options(options: dict[str, Any], *, default_task: str | None = None) -> Any:
    """A :class:`~lradvisor.rules.TaskProfile` from the profile options of a command."""
    from lradvisor.rules import TaskProfile
    from lradvisor.rules._profile import check_run_length

    fields = {k: options.get(k) for k in _PROFILE_KEYS if options.get(k) is not None}
    fields.setdefault("task", default_task)
    # --epochs x --steps-per-epoch too long: named by the flags, as one of them alone is
    check_run_length(None, fields.get("epochs"), fields.get("steps_per_epoch"),
                     names={"epochs": "--epochs", "steps_per_epoch": "--steps-per-epoch"})
    if fields["task"] is None:
        raise click.UsageError("Missing option '--task' (one of " + ", ".join(TASKS) + ").")
    return TaskProfile(**fields)  # type: ignore[arg-type]  # checked by TaskProfile


format_option = click.option(
    "--format", "fmt", type=click.Choice(("text", "json", "python")), default="text",
    show_default=True, help="text for people, json for programs, python for the code only.",
)

storage_option = click.option(
    "--storage", envvar="LRADVISOR_STORAGE", default=None,
    help="Study database URL (SQLAlchemy); default sqlite:///studies/lradvisor.db. "
    "Env: LRADVISOR_STORAGE.",
)
