"""``SchedulePolicy``: a recommendation turned into the scheduler of one training run.

A policy starts from the rules (a task profile), a stored study, or a spec, and
:meth:`SchedulePolicy.attach` gives the run its torch scheduler: the native class (or
``LambdaLR``) for fixed schedules, :class:`AdaptiveDecayLR` for ``plateau``, and
:class:`AnytimeWSD` for ``wsd`` so the decay can be begun early or late. The policy
knows whether it was counted per optimizer step or per epoch, and says so.

Importing this module does not import torch; :meth:`attach` does.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from lradvisor.errors import SpecError
from lradvisor.plateau import PlateauDetector
from lradvisor.policy._errors import PolicyError
from lradvisor.schedules import ScheduleSpec, as_spec
from lradvisor.schedules._spec import OPEN_ENDED, check_total_steps

__all__ = ["STATE_FORMAT", "ResumeWarning", "SchedulePolicy"]

STATE_FORMAT = "lradvisor.policy/1"


class ResumeWarning(UserWarning):
    """A resumed run does not match the schedule it saved (length, step count, state)."""


class SchedulePolicy:
    """The schedule of one run: what to run, and the scheduler that runs it.

    Args:
        spec: the schedule (a spec, its dict or JSON form).
        recommendation: the rules' or study's recommendation it came from, if any.
        alternatives: the runners-up the rules gave with it (shown by :meth:`describe`).
        total_steps: the run's length in scheduler steps where known (``attach`` may
            still give another).
        interval: ``"step"`` or ``"epoch"``: what one ``scheduler.step()`` stands for
            when ``attach`` is given no length.
        detector: the plateau detector for adaptive policies (default: from the
            spec's ``patience``/``threshold``/``mode`` for ``plateau``).
        auto_decay: for ``wsd``, begin the decay by itself at a plateau of the
            metrics given to :meth:`observe`.

    Example:
        >>> import torch
        >>> policy = SchedulePolicy.from_spec('{"family": "cosine", "peak_lr": 0.1}')
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = policy.attach(opt, total_steps=100)
        >>> type(sched).__name__, policy.interval, opt.param_groups[0]["lr"]
        ('CosineAnnealingLR', 'step', 0.1)
    """

    def __init__(
        self,
        spec: ScheduleSpec | Mapping[str, Any] | str,
        *,
        recommendation: Any = None,
        alternatives: tuple[Any, ...] = (),
        total_steps: int | None = None,
        interval: str = "step",
        detector: PlateauDetector | None = None,
        auto_decay: bool = False,
    ) -> None:
        self.spec = as_spec(spec)
        self.recommendation = recommendation
        self.alternatives = tuple(alternatives)
        self.total_steps = None if total_steps is None else check_total_steps(total_steps)
        if interval not in ("step", "epoch"):
            raise PolicyError(f"interval must be 'step' or 'epoch', but got {interval!r}.")
        self.interval = interval
        if detector is not None and not isinstance(detector, PlateauDetector):
            raise TypeError("detector must be a lradvisor.plateau.PlateauDetector (or None), "
                            f"but got a {type(detector).__name__}.")
        self.detector = detector
        self.auto_decay = bool(auto_decay)
        self.scheduler: Any = None
        self.history: list[tuple[int, float]] = []

    # -- where a policy comes from --------------------------------------------------------
    @classmethod
    def from_rules(cls, profile: Any, rules_files: Any = (), **options: Any) -> SchedulePolicy:
        """The rules' top recommendation for ``profile`` (a ``TaskProfile`` or its dict).

        A profile with ``epochs`` but no ``steps_per_epoch`` is counted per epoch.
        """
        from lradvisor.rules import TaskProfile, advise

        if isinstance(profile, Mapping):
            profile = TaskProfile.from_dict(profile)
        rec, *rest = advise(profile, rules_files).recommendations
        options.setdefault("interval", profile.interval)
        return cls(rec.spec, recommendation=rec, alternatives=tuple(rest),
                   total_steps=rec.total_steps, **options)

    @classmethod
    def from_study(cls, storage: str | None, study: str, **options: Any) -> SchedulePolicy:
        """The best schedule a stored search found (``lradvisor search``'s study)."""
        from lradvisor.search import best_recommendations

        rec, *rest = best_recommendations(storage, study)  # the pick, then its runners-up
        return cls(rec.spec, recommendation=rec, alternatives=tuple(rest),
                   total_steps=rec.total_steps, **options)

    @classmethod
    def from_spec(
        cls, spec: ScheduleSpec | Mapping[str, Any] | str, **options: Any
    ) -> SchedulePolicy:
        """A policy for a spec, its dict form or its JSON (``suggest --format json``).

        From ``suggest``'s JSON the policy also takes the run's length and interval.

        Raises:
            SpecError: not a spec (text that is not JSON included, quoted in the message).
        """
        if isinstance(spec, str) and spec.lstrip().startswith("{"):
            import json

            try:
                data = json.loads(spec)
            except json.JSONDecodeError:
                data = None  # left to ScheduleSpec.from_json, whose SpecError quotes it
            if isinstance(data, dict) and "alternatives" in data:  # suggest's JSON
                options.setdefault("total_steps", data.get("total_steps"))
                options.setdefault("interval", data.get("interval") or "step")
                data = {k: data[k] for k in ("family", "params", "peak_lr") if k in data}
            if data is not None:
                spec = data
        return cls(spec, **options)

    # -- the scheduler --------------------------------------------------------------------
    def attach(
        self,
        optimizer: Any,
        total_steps: int | None = None,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> Any:
        """Set ``optimizer``'s LR to the peak and return the run's torch scheduler.

        With param groups of different LRs the largest becomes the peak and the others
        keep their ratios to it (:func:`~lradvisor.schedules.set_peak`).

        How the length is given says how to step it (:attr:`interval`):

        - ``total_steps=N``, or ``epochs=E, steps_per_epoch=S`` (``N = E * S``): call
          ``scheduler.step()`` once after every ``optimizer.step()``;
        - ``epochs=E`` alone: call ``scheduler.step()`` once at the end of every epoch;
        - nothing: the policy's own length (from the profile or study), else an
          unknown length, which only ``plateau``, ``wsd`` and the open-ended
          families can follow.

        Raises:
            PolicyError: ``optimizer`` is not a ``torch.optim.Optimizer``; ``epochs`` or
                ``steps_per_epoch`` not an integer >= 1, or lengths that disagree.
            SpecError: no length for a schedule that needs one (the optimizer untouched).
        """
        from torch.optim import Optimizer

        if not isinstance(optimizer, Optimizer):  # before set_peak writes to it
            got = "None" if optimizer is None else f"a {type(optimizer).__name__}"
            raise PolicyError(
                f"attach needs a torch.optim.Optimizer (the one whose step() the scheduler "
                f"follows), but got {got}; pass the optimizer, not the model or its params."
            )
        length, interval = self._length(total_steps, epochs, steps_per_epoch)
        family = self.spec.definition
        if length is None and not family.adaptive and family.name != "wsd":
            try:  # before set_peak writes to the optimizer
                self.spec.run_length(None)
            except SpecError as err:
                raise SpecError(f"{err} A policy runs wsd without a length too: "
                                "policy.begin_decay(steps) starts its decay.") from None
        peak = self.spec.peak_lr
        if peak is not None:
            from lradvisor.schedules import set_peak

            set_peak(optimizer, peak)
        if family.adaptive:
            sched = self._adaptive(optimizer, length)
        elif family.name == "wsd":
            sched = self._anytime(optimizer, length)
        else:
            sched = self._fixed(optimizer, length)
        self.scheduler, self.total_steps, self.interval = sched, length, interval
        return sched

    def _length(
        self, total_steps: int | None, epochs: int | None, steps_per_epoch: int | None
    ) -> tuple[int | None, str]:
        from lradvisor.policy._base import check_count

        if epochs is not None:
            epochs = check_count("epochs", epochs, low=1)
        if steps_per_epoch is not None:
            steps_per_epoch = check_count("steps_per_epoch", steps_per_epoch, low=1)
        if epochs is not None and steps_per_epoch is not None:
            product = epochs * steps_per_epoch
            if total_steps is not None and total_steps != product:
                raise PolicyError(
                    f"total_steps={total_steps} disagrees with epochs x steps_per_epoch = "
                    f"{epochs} x {steps_per_epoch} = {product}; give one or make them agree."
                )
            return product, "step"
        if steps_per_epoch is not None:
            raise PolicyError(f"steps_per_epoch={steps_per_epoch} needs epochs as well.")
        if epochs is not None:
            if total_steps is not None:
                raise PolicyError(
                    f"give total_steps ({total_steps}, stepped per batch) or epochs "
                    f"({epochs}, stepped per epoch), not both without steps_per_epoch."
                )
            return epochs, "epoch"
        if total_steps is not None:  # a plain int: the state_dict is saved with it
            return check_total_steps(total_steps), "step"
        return self.total_steps, self.interval

    def _fixed(self, optimizer: Any, length: int | None) -> Any:
        """The native torch class where one matches, else :class:`SpecLR`."""
        from lradvisor.schedules import build_scheduler

        sched = build_scheduler(optimizer, self.spec, length)
        if type(sched).__name__ != "LambdaLR":
            return sched
        from lradvisor.policy import _fixed

        return _fixed.SpecLR(optimizer, self.spec, self.spec.run_length(length))

    def _adaptive(self, optimizer: Any, length: int | None) -> Any:
        from lradvisor.policy._adaptive import AdaptiveDecayLR

        params = self.spec.params
        self.spec.multiplier_fn(length)  # validates warmup against the run
        return AdaptiveDecayLR(
            optimizer,
            warmup_steps=self.spec.warmup_steps(length),
            warmup_start_factor=params.get("warmup_start_factor", 0.0),
            factor=params["factor"],
            min_lr_ratio=params["min_lr_ratio"],
            cooldown=params["cooldown"],
            detector=self.detector or detector_for(self.spec),
        )

    def _anytime(self, optimizer: Any, length: int | None) -> Any:
        from lradvisor.policy._anytime import AnytimeWSD

        params, fam = self.spec.params, self.spec.definition
        if length is None:
            if params.get("warmup_fraction"):
                raise PolicyError(
                    f"wsd with warmup_fraction={params['warmup_fraction']} needs the run's "
                    "length; give warmup_steps instead for a run of unknown length."
                )
            warmup, start, steps = params.get("warmup_steps") or 0, None, None
        else:
            warmup = self.spec.warmup_steps(length)
            self.spec.multiplier_fn(length)  # validates warmup against the run
            steps = fam.kwargs(params, length - warmup)["decay_steps"]
            start = length - steps
        fraction = params.get("decay_fraction") or 0.2
        return AnytimeWSD(
            optimizer,
            warmup_steps=warmup,
            warmup_start_factor=params["warmup_start_factor"],
            decay_shape=params["decay_shape"],
            min_lr_ratio=params["min_lr_ratio"],
            decay_fraction=min(fraction, 0.99),
            decay_start=start,
            decay_steps=steps,
            auto=self.auto_decay,
            detector=self.detector or PlateauDetector(),
        )

    # -- during the run -------------------------------------------------------------------
    def observe(self, step: int, value: float) -> None:
        """Record the validation ``value`` at ``step``; adaptive schedulers act on it.

        ``plateau`` cuts the LR at a plateau; ``wsd`` with ``auto_decay`` begins its
        decay; fixed schedules only record it (``history``).

        Raises:
            PolicyError: ``step`` or ``value`` is not a number (nothing is recorded).
        """
        sched = self._attached()
        value = _number("value", value, float)
        self.history.append((_number("step", step, int), value))
        observe = getattr(sched, "observe", None)
        if observe is not None:
            observe(value)

    def begin_decay(self, steps: int | None = None, *, at: int | None = None) -> None:
        """``wsd`` only: decay over ``steps`` steps from now (or from step ``at``).

        ``steps`` defaults to the spec's ``decay_steps``, else its ``decay_fraction``
        of the run so far. See :meth:`AnytimeWSD.begin_decay`.
        """
        sched = self._attached()
        if not hasattr(sched, "begin_decay"):
            raise PolicyError(
                f"begin_decay needs a wsd policy, but this one runs {self.spec.family}; "
                "use ScheduleSpec.create('wsd', ...) for a decay begun on request."
            )
        if steps is None:
            steps = self.spec.params.get("decay_steps")
        sched.begin_decay(steps, at=at)

    def _attached(self) -> Any:
        if self.scheduler is None:
            raise PolicyError("the policy has no scheduler yet: call policy.attach(optimizer).")
        return self.scheduler

    # -- adapters ---------------------------------------------------------------------------
    def lightning_config(self, optimizer: Any, *, monitor: str | None = None,
                         **length: Any) -> dict[str, Any]:
        """What a LightningModule's ``configure_optimizers`` returns for this policy.

        Attaches first when ``length`` (``total_steps=``, ``epochs=``,
        ``steps_per_epoch=``) is given, nothing is attached yet, or the scheduler is
        another optimizer's (a second ``fit`` with the same policy). The scheduler's
        ``interval`` is the policy's; ``monitor`` is needed for adaptive policies. A
        per-step adaptive policy also needs :meth:`lightning_callback` in the Trainer.
        """
        from lradvisor.policy._lightning import lightning_config

        if length or self.scheduler is None or self.scheduler.optimizer is not optimizer:
            self.attach(optimizer, **length)
        return lightning_config(self, optimizer, monitor)

    def lightning_callback(self, monitor: str = "val_loss") -> Any:
        """A Lightning callback giving each validation's ``monitor`` to :meth:`observe`."""
        from lradvisor.policy._lightning import PolicyMetricCallback

        return PolicyMetricCallback(self, monitor)

    def hf_optimizers(self, optimizer: Any, total_steps: int) -> tuple[Any, Any]:
        """``(optimizer, scheduler)`` for ``transformers.Trainer(optimizers=...)``.

        ``total_steps`` is the Trainer's optimizer steps (``max_steps``, or epochs x
        update steps per epoch); the Trainer steps the scheduler once per optimizer step.
        """
        return optimizer, self.attach(optimizer, total_steps)

    def hf_callback(self, metric: str = "eval_loss") -> Any:
        """A ``TrainerCallback`` giving each evaluation's ``metric`` to :meth:`observe`."""
        from lradvisor.policy._hf import PolicyMetricCallback

        return PolicyMetricCallback(self, metric)

    # -- resume ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data: the spec, the length and interval, the scheduler's state, history."""
        return {
            "format": STATE_FORMAT,
            "spec": self.spec.to_dict(),
            "total_steps": self.total_steps,
            "interval": self.interval,
            "scheduler_class": type(self._attached()).__name__,
            "scheduler": self.scheduler.state_dict(),
            "history": [list(item) for item in self.history],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue a saved run: the identical LR sequence from where it stopped.

        Raises:
            PolicyError: not a policy state, or one saved for another schedule.
        Warns:
            ResumeWarning: the run's length or interval changed since it was saved.
        """
        sched = self._attached()
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise PolicyError(f"not a policy state_dict (format {STATE_FORMAT!r} expected).")
        saved = ScheduleSpec.from_dict(state["spec"])
        if saved != self.spec:
            raise PolicyError(
                f"the checkpoint runs {saved.describe()}, but this policy runs "
                f"{self.spec.describe()}; resume with the saved spec."
            )
        if type(sched).__name__ != state["scheduler_class"]:
            raise PolicyError(
                f"the checkpoint holds a {state['scheduler_class']} state, but this policy "
                f"built a {type(sched).__name__}; attach with the saved length."
            )
        for key in ("total_steps", "interval"):
            if state[key] != getattr(self, key):
                warnings.warn(
                    f"resumed with {key}={getattr(self, key)!r} but the schedule was saved "
                    f"with {key}={state[key]!r}; the LR follows the saved schedule.",
                    ResumeWarning,
                    stacklevel=2,
                )
        sched.load_state_dict(dict(state["scheduler"]))
        self.history = [(int(s), float(v)) for s, v in state["history"]]

    # -- for people -----------------------------------------------------------------------
    def describe(self) -> str:
        """The text ``lradvisor suggest`` prints, plus how to step once attached."""
        from lradvisor.cli._render import render

        rec = self.recommendation
        if rec is None:
            from lradvisor.rules import Recommendation

            rec = Recommendation(self.spec, self.total_steps, "Given as a schedule spec.", (), 0.0)
        text = render([rec, *self.alternatives], "text", interval=self.interval)
        if self.scheduler is None:
            return text
        unit = "optimizer step" if self.interval == "step" else "epoch"
        length = "unknown length" if self.total_steps in (None, OPEN_ENDED) else (
            f"{self.total_steps} {unit}s")
        return (f"{text}\n\nAttached: {type(self.scheduler).__name__}, {length}; call "
                f"scheduler.step() once per {unit}.")


def _number(name: str, value: Any, kind: type) -> Any:
    """``kind(value)``, or a :class:`PolicyError` naming ``value``."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{name} must be a number, but got {name}={value!r}.") from None


def detector_for(spec: ScheduleSpec) -> PlateauDetector:
    """The detector for a ``plateau`` spec: ``window = (patience + 1) // 2`` (>= 2).

    torch cuts after ``patience + 1`` metrics without a new best; the detector compares
    the median of the last ``window`` metrics with the best earlier level, so a window
    of about half that reacts after a similar stretch while ignoring single values.
    """
    params = spec.params
    return PlateauDetector(
        max(2, (int(params["patience"]) + 1) // 2),
        threshold=params["threshold"],
        threshold_mode=params["threshold_mode"],
        mode=params["mode"],
    )
