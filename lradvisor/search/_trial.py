"""One proxy run as one Optuna trial: ask, build the context, train, tell.

Faults are the trial's, never the study's: a training function that raises is told
``FAIL`` with its error text in ``user_attrs["error"]``; a NaN or infinite value
(reported or returned) is ``PRUNED`` with ``user_attrs["diverged"] = True``; a spec
that does not fit the proxy length fails with the reason. Ctrl-C fails the running
trial as ``interrupted`` (a resumed search runs it again) and is re-raised.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lradvisor.errors import LRAdvisorError
from lradvisor.search._context import TrialContext
from lradvisor.search._fidelity import Fidelity, rung_steps
from lradvisor.search._rungs import INTERRUPTED, Planned, Record
from lradvisor.search._space import SearchSpace

__all__ = ["TrialRunner", "record_of"]


@dataclass
class TrialRunner:
    """Runs planned proxy runs of one search, one after another, in this process.

    Attributes:
        study: the Optuna study (its pruner judges the non-final rungs).
        space: where sampled trials come from, and how fixed ones are recorded.
        trainable: ``train(ctx) -> float``.
        fidelity: the rung fractions.
        full_steps: optimizer steps of the full run.
        steps_per_epoch: the run's epoch length, where known.
        device: passed to the context (``None``: a GPU when torch sees one).
    """

    study: Any
    space: SearchSpace
    trainable: Callable[[TrialContext], Any]
    fidelity: Fidelity
    full_steps: int
    steps_per_epoch: int | None = None
    device: str | None = None

    def run(self, plan: Planned) -> Record:
        """Make the run ``plan`` describes; returns its stored record."""
        import optuna

        steps = rung_steps(self.fidelity.rungs[plan.rung], self.full_steps)
        attrs: dict[str, Any] = {
            "rung": plan.rung, "fidelity": self.fidelity.rungs[plan.rung],
            "total_steps": steps, "full_steps": self.full_steps, "seed": plan.seed,
            "origin": plan.origin, "parent": plan.parent,
        }
        if plan.spec is not None:
            attrs["spec"] = plan.spec.to_json()
        trial = self._ask(plan, attrs)
        try:
            spec = self.space.sample(trial, plan.spec)
            if plan.spec is None:
                trial.set_user_attr("spec", spec.to_json())
            spec.multiplier_fn(steps)  # the schedule must fit the proxy length
        except LRAdvisorError as err:
            return self._fail(trial, f"spec does not fit the search: {err}")
        last = [0]
        ctx = TrialContext(
            spec=spec, total_steps=steps, seed=plan.seed, device=self._device(),
            steps_per_epoch=self.steps_per_epoch, epochs=self._epochs(steps),
            fidelity=self.fidelity.rungs[plan.rung],
            on_report=self._reporter(trial, last, prune=plan.rung < self.fidelity.last),
        )
        try:
            value = self.trainable(ctx)
        except optuna.TrialPruned:
            return self._tell(trial, "PRUNED", None, last[0])
        except KeyboardInterrupt:
            self._fail(trial, INTERRUPTED, last[0])
            raise
        except Exception as err:  # the user's code: recorded, the study goes on
            return self._fail(trial, f"{type(err).__name__}: {err}", last[0])
        if value is None and ctx.curve:
            value = ctx.curve[-1][1]
        try:
            value = float(value)
        except (TypeError, ValueError):
            return self._fail(trial, f"trainable returned {value!r}, not a number", steps)
        if not math.isfinite(value):
            trial.set_user_attr("diverged", True)
            return self._tell(trial, "PRUNED", None, steps)
        return self._tell(trial, "COMPLETE", value, steps)

    def _ask(self, plan: Planned, attrs: dict[str, Any]) -> Any:
        """A new trial with ``attrs`` set, carrying ``plan.spec``'s values when it has one.

        Enqueued, then asked at once: the attributes are written in one commit, and a
        fixed spec's values come back through the trial's ``suggest`` calls.
        """
        token = uuid.uuid4().hex
        params = self.space.params_of(plan.spec) if plan.spec is not None else {}
        self.study.enqueue_trial(params, user_attrs={**attrs, "token": token},
                                 skip_if_exists=False)
        while True:
            trial = self.study.ask()
            if trial.user_attrs.get("token") == token:
                return trial
            self._fail(trial, "stale queued trial from an earlier run")

    def _reporter(
        self, trial: Any, last: list[int], *, prune: bool
    ) -> Callable[[int, float], None]:
        import optuna

        def on_report(step: int, value: float) -> None:
            last[0] = max(last[0], step)
            trial.report(value, step)
            if not math.isfinite(value):
                trial.set_user_attr("diverged", True)
                raise optuna.TrialPruned(f"diverged at step {step} (value {value})")
            if prune and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")

        return on_report

    def _tell(self, trial: Any, state: str, value: float | None, steps_used: int) -> Record:
        import optuna

        trial.set_user_attr("steps_used", int(steps_used))
        self.study.tell(trial, value, state=getattr(optuna.trial.TrialState, state))
        return record_of(self.study._storage.get_trial(trial._trial_id))

    def _fail(self, trial: Any, error: str, steps_used: int = 0) -> Record:
        trial.set_user_attr("error", error[:2000])
        return self._tell(trial, "FAIL", None, steps_used)

    def _device(self) -> str:
        if self.device is None:
            from lradvisor.search._context import default_device

            self.device = default_device()
        return self.device

    def _epochs(self, steps: int) -> int | None:
        if not self.steps_per_epoch:
            return None
        return max(1, math.ceil(steps / self.steps_per_epoch))


def record_of(trial: Any) -> Record:
    """The :class:`Record` of an Optuna ``FrozenTrial`` (specs read back from JSON)."""
    from lradvisor.schedules import ScheduleSpec

    attrs = trial.user_attrs
    spec = None
    if attrs.get("spec"):
        try:
            spec = ScheduleSpec.from_json(attrs["spec"])
        except LRAdvisorError:
            spec = None
    value = trial.value if trial.values is not None else None
    return Record(
        number=trial.number,
        rung=int(attrs.get("rung", 0)),
        spec=spec,
        seed=int(attrs.get("seed", 0)),
        state=trial.state.name,
        value=value,
        origin=str(attrs.get("origin", "sampled")),
        parent=attrs.get("parent"),
        steps_used=int(attrs.get("steps_used", 0)),
        diverged=bool(attrs.get("diverged", False)),
        error=attrs.get("error"),
    )
