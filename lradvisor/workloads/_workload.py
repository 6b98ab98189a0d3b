"""``Workload``: what one built-in proxy workload is, described without torch.

A workload is a trainable (a module-level ``train(ctx) -> float``) plus the facts the
rule engine and the benchmarks need about it: its scenario in the guide's words, its
architecture and optimizer, and the shape of its full-length run. The description is
plain data, so listing workloads (``lradvisor --help``, ``click.Choice``) never loads
torch or scikit-learn; the trainable is imported when it is first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lradvisor.errors import LRAdvisorError

if TYPE_CHECKING:
    from lradvisor.search._context import TrialContext

__all__ = ["Workload", "WorkloadError"]


class WorkloadError(LRAdvisorError):
    """A built-in workload name that does not exist."""


@dataclass(frozen=True)
class Workload:
    """One built-in proxy workload.

    Args:
        name: the id used on the command line and in benchmarks (``digits-cnn``).
        scenario: the guide's task kind: ``scratch``, ``pretrain``, ``finetune`` or
            ``quick``.
        arch: ``cnn``, ``transformer`` or ``mlp``.
        optimizer: the optimizer the trainable uses (``sgd`` is SGD with momentum).
        epochs, steps_per_epoch: the full-length run; ``total_steps`` is their product.
        batch_size: examples (sequences for ``charlm``) per optimizer step.
        dataset_size: training examples (characters for ``charlm``).
        model_params: the model's trainable parameters.
        default_lr: a peak LR that trains well with a decaying schedule; used when a
            spec has no ``peak_lr``.
        metric: what ``train`` returns and reports (lower is better).
        trainable: ``"module:function"`` of the training function.
        description: one line saying what it trains on what.
    """

    name: str
    scenario: str
    arch: str
    optimizer: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    dataset_size: int
    model_params: int
    default_lr: float
    metric: str
    trainable: str
    description: str

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the full-length run: ``epochs * steps_per_epoch``."""
        return self.epochs * self.steps_per_epoch

    @property
    def train(self) -> Callable[[TrialContext], float]:
        """The training function ``train(ctx) -> float`` (imported on first use)."""
        module, _, attr = self.trainable.partition(":")
        function: Callable[[TrialContext], float] = getattr(
            importlib.import_module(module), attr
        )
        return function

    def profile(self) -> dict[str, Any]:
        """The task profile of the full-length run, as a plain dict.

        Its keys are those of ``lradvisor.rules.TaskProfile``, so
        ``TaskProfile(**workload.profile())`` describes this workload to the rules.

        Example:
            >>> from lradvisor.workloads import get_workload
            >>> get_workload("digits-cnn").profile()["task"]
            'scratch'
        """
        return {
            "task": self.scenario,
            "arch": self.arch,
            "optimizer": self.optimizer,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.batch_size,
            "dataset_size": self.dataset_size,
            "model_params": self.model_params,
        }
