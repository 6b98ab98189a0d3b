"""Options shared by several commands, defined once (the pip-tools way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = [
    "TASKS",
    "format_option",
    "profile_from_options",
    "profile_options",
    "storage_option",
]

TASKS = ("scratch", "pretrain", "finetune", "unknown-length", "quick")
ARCHS = ("cnn", "transformer", "mlp", "rnn", "other")
OPTIMIZERS = ("sgd", "adam", "adamw", "other")

_PROFILE_OPTIONS = (
    click.option("--task", type=click.Choice(TASKS), help="What kind of training run this is."),
    click.option("--arch", type=click.Choice(ARCHS), help="Model architecture."),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Optimizer family."),
    click.option("--total-steps", type=int, help="Optimizer steps in the full run."),
    click.option("--epochs", type=int, help="Epochs in the full run (with --steps-per-epoch)."),
    click.option("--steps-per-epoch", type=int, help="Optimizer steps per epoch."),
    click.option("--batch-size", type=int, help="Batch size, where known."),
    click.option("--dataset-size", type=int, help="Training examples, where known."),
    click.option("--peak-lr", type=float, help="Fix the peak LR instead of the rules' choice."),
    click.option(
        "--rules", "rules_files", multiple=True, type=click.Path(dir_okay=False),
        help="A rules file of your own (TOML), added to the shipped guide; repeatable.",
    ),
)

_PROFILE_KEYS = (
    "task", "arch", "optimizer", "total_steps", "epochs", "steps_per_epoch",
    "batch_size", "dataset_size", "peak_lr",
)


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the task-profile options (``--task``, ``--arch``, ... ``--rules``) to a command."""
    for option in reversed(_PROFILE_OPTIONS):
        func = option(func)
    return func


def profile_from_options(options: dict[str, Any], *, default_task: str | None = None) -> Any:
    """A :class:`~lradvisor.rules.TaskProfile` from the profile options of a command."""
    from lradvisor.rules import TaskProfile

    fields = {k: options.get(k) for k in _PROFILE_KEYS if options.get(k) is not None}
    fields.setdefault("task", default_task)
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
