"""``check_resume``: does a checkpoint's schedule fit the run about to resume from it?

The mistakes it catches are silent in torch until far into the resumed run: a
scheduler state that was never saved (the schedule restarts: warmup again, the peak
LR on a half-trained model), a run resumed with a new length (the loaded state keeps
the old one, so the LR ends early or late), ``OneCycleLR`` asked for more steps than it
was built for ("Tried to step N times"), and a scheduler whose step count does not
match the optimizer's (stepped per epoch, or saved out of step).

Pure: it reads a checkpoint's plain data; a path is read with ``torch.load``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lradvisor.policy._errors import PolicyError
from lradvisor.policy._policy import STATE_FORMAT, ResumeWarning

__all__ = ["ResumeIssue", "check_resume"]

# The key that holds each torch scheduler's planned length in its state_dict.
_LENGTH_KEYS = ("total_steps", "T_max", "total_iters")
_STEP_KEYS = ("global_step", "step", "steps", "iteration")


@dataclass(frozen=True)
class ResumeIssue:
    """One mismatch: a short ``code``, the ``where`` in the checkpoint, the ``message``."""

    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} at {self.where}: {self.message}"


def check_resume(
    checkpoint: Mapping[str, Any] | str | os.PathLike[str],
    total_steps: int | None = None,
    *,
    step: int | None = None,
    warn: bool = True,
) -> list[ResumeIssue]:
    """The ways the saved schedule and the resumed run disagree; empty when they fit.

    Args:
        checkpoint: the loaded checkpoint (a dict holding a scheduler's or a policy's
            ``state_dict`` anywhere up to three levels down, Lightning's
            ``lr_schedulers`` list included), or a path to one.
        total_steps: the resumed run's length in scheduler steps, where known.
        step: the step the run resumes at; default the checkpoint's ``global_step`` /
            ``step`` entry. Compared with the scheduler's own count.
        warn: also issue each as a :class:`ResumeWarning`.

    Example:
        >>> ckpt = {"model": {}, "optimizer": {"state": {}, "param_groups": []}}
        >>> [i.code for i in check_resume(ckpt, total_steps=100, warn=False)]
        ['no-scheduler-state']
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = _load(checkpoint)
    states = list(_find_states(checkpoint, "checkpoint", depth=3))
    if not states:
        issues = [ResumeIssue(
            "no-scheduler-state", "checkpoint",
            f"no scheduler state among the keys {sorted(map(str, checkpoint))[:10]}: the "
            "resumed run restarts its schedule at step 0 (warmup and the peak LR again). "
            "Save scheduler.state_dict() (or policy.state_dict()) with the checkpoint.",
        )]
    else:
        if step is None:
            step = next((int(checkpoint[k]) for k in _STEP_KEYS
                         if isinstance(checkpoint.get(k), int)), None)
        issues = [i for where, s in states for i in _check_one(where, s, total_steps, step)]
    if warn:
        for issue in issues:
            warnings.warn(str(issue), ResumeWarning, stacklevel=2)
    return issues


def _load(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    import pickle

    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise PolicyError(f"cannot read checkpoint {os.fspath(path)!r}: {first}") from None
    if not isinstance(loaded, Mapping):
        raise PolicyError(f"checkpoint {os.fspath(path)!r} is a {type(loaded).__name__}, "
                          "not a dict; nothing to check.")
    return loaded


def _is_scheduler_state(value: Mapping[str, Any]) -> bool:
    return "last_epoch" in value and any(
        k in value for k in ("base_lrs", "_step_count", "num_bad_epochs"))


def _find_states(value: Any, where: str, depth: int) -> Any:
    """``(where, state)`` for every policy or scheduler state inside ``value``."""
    if isinstance(value, Mapping):
        if value.get("format") == STATE_FORMAT or _is_scheduler_state(value):
            yield where, value
            return
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return
    if depth > 0:
        for key, item in items:
            yield from _find_states(item, f"{where}[{key!r}]", depth - 1)


def _check_one(
    where: str, state: Mapping[str, Any], total_steps: int | None, step: int | None
) -> list[ResumeIssue]:
    if state.get("format") == STATE_FORMAT:
        planned, interval = state["total_steps"], state["interval"]
        inner = state["scheduler"]
        cls = state["scheduler_class"]
    else:
        # a length of 0 plans nothing (ConstantLR(total_iters=0), the constant family's)
        planned = next((state[k] for k in _LENGTH_KEYS
                        if isinstance(state.get(k), int) and state[k] > 0), None)
        interval, inner, cls = None, state, _guess_class(state)
    # PlateauLR's last_epoch counts metrics; its scheduler steps are steps_done
    done = int(inner.get("steps_done", inner["last_epoch"]))
    issues = []
    if total_steps is not None and planned is not None and total_steps != planned:
        issues.append(ResumeIssue(
            "length-changed", where,
            f"the saved {cls} was built for {planned} steps, the resumed run has "
            f"{total_steps}; loading its state keeps {planned}, so the LR "
            f"{'reaches its end early' if total_steps > planned else 'never finishes'}. "
            f"Resume with total_steps={planned}, or use a wsd policy and begin_decay()."
        ))
    if cls == "OneCycleLR" and planned is not None and total_steps is not None \
            and total_steps > planned:
        issues.append(ResumeIssue(
            "onecycle-overrun", where,
            f"OneCycleLR was built for {planned} steps; stepping it past them raises "
            f"ValueError ('Tried to step {planned + 1} times...') at step {planned + 1}."
        ))
    if planned is not None and planned < 2**62 and done >= planned:
        issues.append(ResumeIssue(
            "schedule-finished", where,
            f"the saved {cls} has taken {done} of its {planned} steps: it is already at "
            "its end, so the resumed run trains at the final LR."
        ))
    if step is not None and interval != "epoch" and done != step:
        issues.append(ResumeIssue(
            "step-mismatch", where,
            f"the scheduler has taken {done} steps but the checkpoint is at step {step}: "
            "it was stepped per epoch, skipped steps, or was saved at another time "
            "than the optimizer. Step it once per optimizer step and save both together."
        ))
    return issues


def _guess_class(state: Mapping[str, Any]) -> str:
    if "_schedule_phases" in state:
        return "OneCycleLR"
    if "num_bad_epochs" in state:
        return "PlateauLR" if "steps_done" in state else "ReduceLROnPlateau"
    if "T_max" in state:
        return "CosineAnnealingLR"
    if "lr_lambdas" in state:
        return "LambdaLR"
    return "scheduler"
