"""One proxy run as one Optuna trial: ask, build the context, train, tell.

Faults are the trial's, never the study's: a training function that raises is told
``FAIL`` with its error in one line, with where in its file it came from, in
``user_attrs["error"]`` (``ValueError: no data (at train.py:5 in train)``); a NaN or
infinite value (reported or returned) is ``PRUNED`` with ``user_attrs["diverged"] =
True``; a spec that does not fit the proxy length fails with the reason. Ctrl-C fails
the running trial as ``interrupted`` (a resumed search runs it again) and is re-raised;
it is held back while the trial is made and sampled and over each of its writes, so it
never leaves a trial RUNNING (:meth:`TrialRunner.run`).

Reports are judged in memory and written in batches (:class:`TrialCurve`): Optuna
writes each ``trial.report`` in its own transaction, which on SQLite cost more than
the rest of a trial's bookkeeping together.
"""

from __future__ import annotations

import copy
import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lradvisor.errors import LRAdvisorError
from lradvisor.search._context import TrialContext
from lradvisor.search._fidelity import Fidelity, rung_steps
from lradvisor.search._interrupt import ctrl_c_held
from lradvisor.search._rungs import INTERRUPTED, Planned, Record
from lradvisor.search._space import SearchSpace
from lradvisor.search._trainable import failure_line
from lradvisor.storage import buffered_params

__all__ = ["TrialCurve", "TrialRunner", "buffers_reports", "record_of"]


def process_name() -> str:
    """``host:pid`` of this process, stored on each trial it runs (``process``), so a
    resumed search can tell a trial that a killed search left RUNNING from one that
    another process is running."""
    return f"{socket.gethostname()}:{os.getpid()}"

#: seconds between writes of a running trial's reports (and at its end)
FLUSH_EVERY = 2.0


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
        flush_every: seconds between writes of a running trial's reports to the
            study; all are written when the trial ends.
    """

    study: Any
    space: SearchSpace
    trainable: Callable[[TrialContext], Any]
    fidelity: Fidelity
    full_steps: int
    steps_per_epoch: int | None = None
    device: str | None = None
    flush_every: float = FLUSH_EVERY

    def run(self, plan: Planned) -> Record:
        """Make the run ``plan`` describes; returns its stored record.

        Ctrl-C leaves no trial RUNNING. It is held back while the trial is made and
        sampled (cut there, the trial was stored but unknown to the code that fails it)
        and over each of its writes (cut, one left SQLite locked, and the trial could not
        be failed), and strikes where they end; a trial it strikes before its end is
        failed as interrupted. Either way it is re-raised.
        """
        steps = rung_steps(self.fidelity.rungs[plan.rung], self.full_steps)
        attrs: dict[str, Any] = {
            "rung": plan.rung, "fidelity": self.fidelity.rungs[plan.rung],
            "total_steps": steps, "full_steps": self.full_steps, "seed": plan.seed,
            "origin": plan.origin, "parent": plan.parent, "process": process_name(),
        }
        if plan.spec is not None:
            attrs["spec"] = plan.spec.to_json()
        device = self._device()  # before the trial: finding it may import torch (seconds)
        curve: TrialCurve | None = None
        last = [0]  # the last step the trainable reported
        try:
            with ctrl_c_held():  # the trial is made, sampled and known here, or not made
                trial = self._ask(plan, attrs)
                curve = TrialCurve(self.study, trial, self.flush_every)
                try:
                    proxy = self._sample(trial, plan, steps)
                except LRAdvisorError as err:
                    return self._fail(trial, f"spec does not fit the search: {err}", 0, curve)
            return self._train(plan, proxy, curve, steps, device, last)
        except KeyboardInterrupt:
            if curve is not None and not curve.finished:
                self._fail(curve.trial, INTERRUPTED, last[0], curve)
            raise

    def _sample(self, trial: Any, plan: Planned, steps: int) -> Any:
        """The new trial's spec (``plan``'s, or sampled), as the proxy trains it.

        Raises:
            LRAdvisorError: the schedule does not fit the proxy's length.
        """
        with buffered_params(trial) as batch:  # its values and spec: one commit
            spec = self.space.sample(trial, plan.spec)
            if plan.spec is None:
                batch.set_user_attr("spec", spec.to_json())
            # the spec is the full run's; the proxy trains at its length's peak
            proxy = self.space.proxy_spec(spec, self.fidelity.rungs[plan.rung])
            if proxy is not spec:
                batch.set_user_attr("proxy_peak_lr", proxy.peak_lr)
        proxy.multiplier_fn(steps)  # the schedule must fit the proxy length
        return proxy

    def _train(self, plan: Planned, proxy: Any, curve: TrialCurve, steps: int, device: str,
               last: list[int]) -> Record:
        """Train the new trial at ``proxy`` and tell its outcome."""
        import optuna

        trial = curve.trial
        ctx = TrialContext(
            spec=proxy, total_steps=steps, seed=plan.seed, device=device,
            steps_per_epoch=self.steps_per_epoch, epochs=self._epochs(steps),
            fidelity=self.fidelity.rungs[plan.rung],
            # the rules' configuration is the search's safety net: never pruned
            on_report=self._reporter(curve, last, prune=plan.rung < self.fidelity.last
                                     and plan.origin != "rules"),
        )
        try:
            value = self.trainable(ctx)
        except optuna.TrialPruned:
            return self._tell(trial, "PRUNED", None, last[0], curve)
        except (Exception, SystemExit) as err:  # the user's code: recorded, study goes on
            what = failure_line(err, TrialRunner._train.__code__) or f"{type(err).__name__}: {err}"
            return self._fail(trial, what, last[0], curve)
        if value is None and ctx.curve:
            value = ctx.curve[-1][1]
        try:
            value = float(value)
        except (TypeError, ValueError):
            return self._fail(trial, f"trainable returned {value!r}, not a number", steps,
                              curve)
        if not math.isfinite(value):
            curve.set_attr("diverged", True)
            return self._tell(trial, "PRUNED", None, steps, curve)
        return self._tell(trial, "COMPLETE", value, steps, curve)

    def _ask(self, plan: Planned, attrs: dict[str, Any]) -> Any:
        """A new running trial with ``attrs`` set, carrying ``plan.spec``'s values when it
        has one (they come back through the trial's ``suggest`` calls): one commit."""
        from lradvisor.storage import create_trial

        params = self.space.params_of(plan.spec) if plan.spec is not None else {}
        return create_trial(self.study, attrs, params)

    def _reporter(
        self, curve: TrialCurve, last: list[int], *, prune: bool
    ) -> Callable[[int, float], None]:
        import optuna

        def on_report(step: int, value: float) -> None:
            last[0] = max(last[0], step)
            curve.report(step, value)
            if not math.isfinite(value):
                curve.set_attr("diverged", True)
                raise optuna.TrialPruned(f"diverged at step {step} (value {value})")
            if prune and curve.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")

        return on_report

    def _tell(self, trial: Any, state: str, value: float | None, steps_used: int,
              curve: TrialCurve | None = None) -> Record:
        """End the trial; a Ctrl-C meanwhile strikes once it is stored (cut, the write
        left the trial RUNNING)."""
        with ctrl_c_held():
            curve = curve or TrialCurve(self.study, trial)
            curve.set_attr("steps_used", int(steps_used))
            return record_of(curve.finish(state, value))

    def _fail(self, trial: Any, error: str, steps_used: int = 0,
              curve: TrialCurve | None = None) -> Record:
        curve = curve or TrialCurve(self.study, trial)
        curve.set_attr("error", error[:2000])
        return self._tell(trial, "FAIL", None, steps_used, curve)

    def _device(self) -> str:
        if self.device is None:
            from lradvisor.search._context import default_device

            self.device = default_device()
        return self.device

    def _epochs(self, steps: int) -> int | None:
        if not self.steps_per_epoch:
            return None
        return max(1, math.ceil(steps / self.steps_per_epoch))


class TrialCurve:
    """A running trial's reports and attributes, judged in memory, written in batches.

    Optuna's ``trial.report`` writes each value in its own transaction; its
    ``should_prune`` already judges the trial's in-memory copy. Here the values (and
    the attributes set with :meth:`set_attr`) go to the study at most every
    ``flush_every`` seconds and when :meth:`flush` is called at the trial's end, in
    one transaction on an RDB storage (:func:`~lradvisor.storage.write_trial_batch`).
    Other workers and ``studies show`` therefore see a running trial's curve up to
    ``flush_every`` seconds late; a killed worker loses at most that much of the curve
    of the trial it was running (which is failed and run again anyway). Pruners that
    keep state in the trial's storage (successive halving, Hyperband: see
    :func:`buffers_reports`) get every report written first, as plain Optuna does.
    """

    def __init__(self, study: Any, trial: Any, flush_every: float = FLUSH_EVERY) -> None:
        self.study = study
        self.trial = trial
        self.flush_every = float(flush_every)
        self.write_through = not buffers_reports(study.pruner)
        self._reports: list[tuple[int, float]] = []
        self._attrs: dict[str, Any] = {}
        self._view: Any = None  # the trial as its pruner sees it
        self._flushed_at = time.monotonic()
        self.finished = False  # ended by :meth:`finish`

    def report(self, step: int, value: float) -> None:
        """``trial.report(value, step)``: a repeated step is ignored with a warning."""
        if self.write_through:
            with ctrl_c_held():  # a write cut in half leaves SQLite locked
                self.trial.report(value, step)
            return
        if step < 0:
            raise ValueError(f"The `step` argument is {step} but cannot be negative.")
        view = self.view()
        if step in view.intermediate_values:
            warnings.warn(f"The reported value is ignored because this `step` {step} "
                          "is already reported.", UserWarning, stacklevel=4)
            return
        view.intermediate_values[step] = value
        self._reports.append((step, value))
        if time.monotonic() - self._flushed_at >= self.flush_every:
            self.flush()

    def should_prune(self) -> bool:
        """``trial.should_prune()``, judged on the in-memory view."""
        if self.write_through:  # such a pruner writes its decisions
            with ctrl_c_held():
                return bool(self.trial.should_prune())
        return bool(self.study.pruner.prune(self.study, self.view()))

    def set_attr(self, key: str, value: Any) -> None:
        """``trial.set_user_attr(key, value)``, written with the next batch."""
        self._attrs[key] = value
        if self._view is not None:
            self._view.user_attrs[key] = value

    def view(self) -> Any:
        """The trial as a ``FrozenTrial``: read once, then kept up to date here."""
        if self._view is None:
            # an Optuna Trial keeps its frozen self up to date (params, attributes,
            # reports): copying it saves reading the trial from storage
            kept = getattr(self.trial, "_cached_frozen_trial", None)
            frozen = copy.copy(kept or self.study._storage.get_trial(self.trial._trial_id))
            frozen.intermediate_values = dict(frozen.intermediate_values)
            frozen.user_attrs = {**frozen.user_attrs, **self._attrs}
            self._view = frozen
        return self._view

    def finish(self, state: str, value: float | None) -> Any:
        """End the trial (``COMPLETE``, ``PRUNED`` or ``FAIL``) with what is pending, in
        one write (:func:`~lradvisor.storage.finish_trial`); returns it finished."""
        from lradvisor.storage import finish_trial

        reports, attrs = self._reports, self._attrs
        self._reports, self._attrs = [], {}
        done = finish_trial(self.study, self.trial, state, value, self.view(), reports, attrs)
        self.finished = True
        return done

    def flush(self) -> None:
        """Write what is pending, in one transaction."""
        from lradvisor.storage import write_trial_batch

        reports, attrs = self._reports, self._attrs
        self._reports, self._attrs = [], {}
        self._flushed_at = time.monotonic()
        with ctrl_c_held():  # a write cut in half leaves SQLite locked
            write_trial_batch(self.study._storage, self.trial._trial_id, reports, attrs)


def buffers_reports(pruner: Any) -> bool:
    """Whether ``pruner`` only reads the study, so a trial's reports may be buffered.

    Optuna's successive-halving and Hyperband pruners write their rung decisions into
    the trial's system attributes and read them back; a pruner this function does not
    know is treated the same way (every report written before it is asked).
    """
    import optuna.pruners as p

    from lradvisor.search._pruner import PlateauPruner

    if isinstance(pruner, p.PatientPruner):
        inner = getattr(pruner, "_wrapped_pruner", None)
        return inner is None or buffers_reports(inner)
    return isinstance(pruner, (PlateauPruner, p.NopPruner, p.PercentilePruner,
                               p.ThresholdPruner, p.WilcoxonPruner))


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
