"""HuggingFace ``Trainer``: a callback that feeds the evaluation metric to the policy.

``Trainer(optimizers=(optimizer, scheduler))`` steps a scheduler once per optimizer step
(any scheduler but a ``ReduceLROnPlateau``), which is how the policy counts; what it
does not do is hand the metric to a scheduler of its own kind. This callback does.

Imports ``transformers`` at import time; :mod:`lradvisor.policy` imports it when asked.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from lradvisor.policy._errors import PolicyError

__all__ = ["PolicyMetricCallback"]


class PolicyMetricCallback(TrainerCallback):
    """After each evaluation, ``policy.observe(global_step, metrics[metric])``.

    Args:
        policy: an attached :class:`~lradvisor.policy.SchedulePolicy`.
        metric: the key in the evaluation metrics (``"eval_loss"``; HF prefixes
            ``eval_`` to what ``compute_metrics`` returns).
    """

    def __init__(self, policy: Any, metric: str = "eval_loss") -> None:
        self.policy = policy
        self.metric = metric

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None,
                    **kwargs: Any) -> None:
        if not metrics or self.metric not in metrics:
            raise PolicyError(
                f"metric {self.metric!r} not among the evaluation metrics "
                f"{sorted(metrics or {})}; pass metric= one of them."
            )
        self.policy.observe(state.global_step, float(metrics[self.metric]))
