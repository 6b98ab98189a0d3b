"""PyTorch Lightning: the ``configure_optimizers`` answer, and a callback for the metric.

Imports ``lightning`` at import time; :mod:`lradvisor.policy` imports it only when asked.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback

from lradvisor.policy._errors import PolicyError

__all__ = ["PolicyMetricCallback", "lightning_config"]


def lightning_config(policy: Any, optimizer: Any, monitor: str | None) -> dict[str, Any]:
    """``{"optimizer", "lr_scheduler": {"scheduler", "interval", "frequency", ...}}``.

    ``interval`` is the policy's (``"step"`` or ``"epoch"``), so Lightning steps the
    scheduler as often as its length was counted. An adaptive policy stepped per epoch
    gets Lightning's own plateau path (``reduce_on_plateau`` with ``monitor``:
    ``scheduler.step(metric)`` after each epoch's validation). Stepped per batch it is
    stepped without a metric, and :class:`PolicyMetricCallback` feeds it each
    validation's value (Lightning would otherwise hand it the same stale value every
    step).
    """
    sched = policy.scheduler
    adaptive = hasattr(sched, "observe") and (
        policy.spec.definition.adaptive or policy.auto_decay)
    if adaptive and monitor is None:
        raise PolicyError(
            f"a {policy.spec.family} policy reacts to a metric: give monitor= the name "
            "you self.log() in validation_step (e.g. monitor='val_loss')."
        )
    per_epoch = adaptive and policy.interval == "epoch"
    config: dict[str, Any] = {
        "scheduler": sched,
        "interval": policy.interval,
        "frequency": 1,
        "reduce_on_plateau": per_epoch,
        "name": f"lradvisor-{policy.spec.family}",
    }
    if monitor is not None:
        config["monitor"] = monitor
        config["strict"] = True
    return {"optimizer": optimizer, "lr_scheduler": config}


class PolicyMetricCallback(Callback):
    """After each validation, give the policy the logged ``monitor`` value.

    Needed for an adaptive policy stepped per batch (see :func:`lightning_config`); it
    does nothing for a policy Lightning already feeds (stepped per epoch).
    """

    def __init__(self, policy: Any, monitor: str) -> None:
        self.policy = policy
        self.monitor = monitor

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or self.policy.interval == "epoch":
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise PolicyError(
                f"monitor {self.monitor!r} was not logged; logged: "
                f"{', '.join(sorted(trainer.callback_metrics)) or '(nothing)'}."
            )
        self.policy.observe(trainer.global_step, float(value))
