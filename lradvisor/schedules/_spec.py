"""``ScheduleSpec``: the one currency of lradvisor.

Rules produce it, the search samples it, the study database stores it, and the policy
and the service hand it out. It is frozen, validated on creation (also when read back
from JSON), and states lengths relative to the run, so one spec serves a run of any
length.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from lradvisor.errors import SpecError
from lradvisor.schedules._params import length_steps, validate_params, warmup_within_run
from lradvisor.schedules._registry import all_families, get_family
from lradvisor.schedules._warmup import with_warmup

if TYPE_CHECKING:
    from collections.abc import Callable

    from lradvisor.schedules._family import Family

__all__ = ["OPEN_ENDED", "ScheduleSpec"]

# The run length used for open-ended specs (unknown length): longer than any real run.
OPEN_ENDED = 2**62


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule family and its parameters, with an optional peak LR.

    Args:
        family: a family id (``lradvisor schedules list``).
        params: the family's parameters; left-out ones take their defaults.
        peak_lr: the LR the schedule's multiplier scales; ``None`` keeps the
            optimizer's own LR when a scheduler is built.

    Example:
        >>> spec = ScheduleSpec.create("cosine", warmup_fraction=0.1, peak_lr=3e-4)
        >>> round(spec.lr(50, total_steps=100), 8)
        0.00017605
        >>> ScheduleSpec.from_json(spec.to_json()) == spec
        True
    """

    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    peak_lr: float | None = None

    def __post_init__(self) -> None:
        fam = get_family(self.family)
        if not isinstance(self.params, Mapping):
            raise SpecError(f"params of {self.family!r} must be a mapping, got {self.params!r}.")
        checked = validate_params(fam.name, fam.all_params, self.params)
        object.__setattr__(self, "params", MappingProxyType(checked))
        if self.peak_lr is not None:
            object.__setattr__(self, "peak_lr", check_peak_lr(self.peak_lr))

    @classmethod
    def create(cls, family: str, *, peak_lr: float | None = None, **params: Any) -> ScheduleSpec:
        """Build a spec from keyword parameters: ``ScheduleSpec.create("step", gamma=0.5)``."""
        return cls(family, params, peak_lr)

    # -- equality and hashing over the frozen params ------------------------------------
    def _key(self) -> tuple[Any, ...]:
        return (self.family, tuple(sorted(self.params.items())), self.peak_lr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleSpec) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (ScheduleSpec, (self.family, dict(self.params), self.peak_lr))

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"family", "params", "peak_lr"}``."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {"family": self.family, "params": params, "peak_lr": self.peak_lr}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduleSpec:
        """The inverse of :meth:`to_dict`; validates as :meth:`create` does."""
        if not isinstance(data, Mapping) or "family" not in data:
            raise SpecError(f"a schedule spec needs a 'family' key, but got {data!r}.")
        extra = set(data) - {"family", "params", "peak_lr"}
        if extra:
            raise SpecError(
                f"unknown spec key {sorted(extra)[0]!r}; allowed: family, params, peak_lr."
            )
        return cls(data["family"], dict(data.get("params") or {}), data.get("peak_lr"))

    def to_json(self) -> str:
        """Compact JSON, keys sorted, so equal specs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ScheduleSpec:
        """Parse :meth:`to_json` output (or any JSON object of that shape)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(
                f"schedule spec is not valid JSON ({err.msg}): {text[:80]!r}"
            ) from None
        return cls.from_dict(data)

    def replace(self, *, peak_lr: float | None = None, **params: Any) -> ScheduleSpec:
        """A copy with some parameters (or the peak LR) changed."""
        merged = {**self.params, **params}
        for name, value in params.items():  # switching a length between steps and fraction
            if value is not None and name.endswith("_steps"):
                merged.pop(name[: -len("_steps")] + "_fraction", None)
            if value is not None and name.endswith("_fraction"):
                merged.pop(name[: -len("_fraction")] + "_steps", None)
        return ScheduleSpec(self.family, merged, self.peak_lr if peak_lr is None else peak_lr)

    def relative_to(self, total_steps: int) -> ScheduleSpec:
        """This spec with every length given in steps restated as a fraction of a run of
        ``total_steps`` steps, so it keeps its shape in a run of any other length (a
        proxy run, say). Warmup becomes a fraction of the whole run, every other length
        a fraction of the steps after warmup, as the schedule reads them. Raises
        :class:`SpecError` if a fraction falls out of range.

        Example:
            >>> ScheduleSpec.create("cosine", warmup_steps=100).relative_to(1000).describe()
            'cosine(min_lr_ratio=0, warmup_fraction=0.1, warmup_start_factor=0)'
        """
        total = check_total_steps(total_steps)
        # Warmup is a part of the whole run; every other length is a part of what
        # follows the warmup (see multiplier_fn), so it is restated against that.
        after_warmup = total - self.warmup_steps(total)
        changes = {}
        for param in self.definition.all_params:
            steps = self.params.get(param.steps_name) if param.steps_name else None
            if steps is not None:
                whole = total if param.name == "warmup_fraction" else max(1, after_warmup)
                changes[param.name] = steps / whole
        return self.replace(**changes) if changes else self

    # -- the schedule for one run ----------------------------------------------------------
    @property
    def definition(self) -> Family:
        """The :class:`Family` this spec belongs to."""
        return get_family(self.family)

    def warmup_steps(self, total_steps: int | None) -> int:
        """Warmup length of this spec in a run of ``total_steps`` steps (0 without warmup).

        Raises:
            SpecError: a ``warmup_steps`` longer than half the run (as ``warmup_fraction``
                is at most 0.5), naming the value and the range; for a run of unknown
                length (an open-ended spec) it is not checked.
        """
        if not self.definition.warmup:
            return 0
        total = self.run_length(total_steps)
        if total_steps is None:
            return length_steps(self.params, "warmup", total)
        return warmup_within_run(self.family, self.params, total)

    def run_length(self, total_steps: int | None) -> int:
        """``total_steps`` checked; ``None`` (unknown length) only for open-ended specs.

        A spec is open-ended when its family never looks at the run's end (``constant``,
        ``step``, ``inverse_sqrt``, ``cyclic``, ``plateau``) and every length it has is
        stated in steps.
        """
        if total_steps is not None:
            return check_total_steps(total_steps)
        relative = [k for k, v in self.params.items() if k.endswith("_fraction") and v]
        if not self.definition.open_ended or relative:
            why = f"its {relative[0]} is relative to the run" if relative else "it ends"
            open_ended = ", ".join(f.name for f in all_families() if f.open_ended)
            raise SpecError(
                f"{self.family} needs the run's total_steps ({why}); give the length, "
                f"or use an open-ended family ({open_ended}) with lengths in steps."
            )
        return OPEN_ENDED

    def multiplier_fn(self, total_steps: int | None) -> Callable[[int], float]:
        """A picklable ``f(step) -> multiplier`` for a run of ``total_steps`` steps.

        Built from module-level functions bound with :func:`functools.partial`, so a
        ``LambdaLR`` holding it pickles and its ``state_dict`` means something.
        """
        total = self.run_length(total_steps)
        fam = self.definition
        warmup = self.warmup_steps(total)
        if fam.warmup and warmup >= total:
            raise SpecError(
                f"warmup of {warmup} steps must be shorter than the run ({total} steps)."
            )
        kwargs = fam.kwargs(self.params, total - warmup)
        if not fam.warmup:
            return partial(fam.decay, total_steps=total, **kwargs)
        return partial(
            with_warmup,
            decay=fam.decay,
            total_steps=total,
            warmup_steps=warmup,
            start_factor=self.params["warmup_start_factor"],
            **kwargs,
        )

    def multiplier(self, step: int, total_steps: int) -> float:
        """The LR at ``step`` as a multiple of the peak, in a run of ``total_steps`` steps."""
        return self.multiplier_fn(total_steps)(step)

    def lr(self, step: int, total_steps: int, peak_lr: float | None = None) -> float:
        """The LR at ``step``: ``peak_lr`` (or the spec's) times :meth:`multiplier`."""
        return self._peak(peak_lr) * self.multiplier(step, total_steps)

    def curve(self, total_steps: int, peak_lr: float | None = None) -> list[float]:
        """The LR at every step ``0 .. total_steps - 1``; needs no torch.

        For ``plateau`` this is the upper envelope (the run never plateaus).
        """
        fn = self.multiplier_fn(total_steps)
        peak = self._peak(peak_lr) if peak_lr is not None or self.peak_lr is not None else 1.0
        return [peak * fn(step) for step in range(total_steps)]

    def build(self, optimizer: Any, total_steps: int, peak_lr: float | None = None) -> Any:
        """The torch scheduler for this spec; see :func:`lradvisor.build_scheduler`."""
        from lradvisor.schedules._torch import build_scheduler

        return build_scheduler(optimizer, self, total_steps, peak_lr=peak_lr)

    def _peak(self, peak_lr: float | None) -> float:
        peak = peak_lr if peak_lr is not None else self.peak_lr
        if peak is None:
            raise SpecError(f"{self.family}: no peak_lr given and the spec has none.")
        return check_peak_lr(peak)

    def describe(self) -> str:
        """One line: ``cosine(min_lr_ratio=0.0001, warmup_fraction=0.1) peak 0.0003``.

        Warmup parameters are left out when the spec has no warmup.
        """
        no_warmup = not self.params.get("warmup_fraction") and not self.params.get("warmup_steps")
        shown = ", ".join(
            f"{k}={_fmt(v)}" for k, v in self.params.items()
            if v is not None and not (no_warmup and k.startswith("warmup_"))
        )
        peak = f" peak {self.peak_lr:.3g}" if self.peak_lr is not None else ""
        return f"{self.family}({shown}){peak}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    return str(value)


def check_peak_lr(peak_lr: Any) -> float:
    """``peak_lr`` as a finite float > 0, or a :class:`SpecError` naming the bad value."""
    try:
        peak = float("nan") if isinstance(peak_lr, bool) else float(peak_lr)
    except (TypeError, ValueError):
        peak = float("nan")
    if not (math.isfinite(peak) and peak > 0):
        raise SpecError(f"peak_lr must be a number > 0, but got {peak_lr!r}.")
    return peak


def check_total_steps(total_steps: Any) -> int:
    """``total_steps`` as a positive int (numpy's integers too), or a :class:`SpecError`
    naming the bad value."""
    if isinstance(total_steps, numbers.Integral) and not isinstance(total_steps, bool):
        total_steps = int(total_steps)  # numpy's integers
    if isinstance(total_steps, bool) or not isinstance(total_steps, (int, float)):
        raise SpecError(f"total_steps must be a positive integer, but got {total_steps!r}.")
    if not math.isfinite(total_steps) or total_steps != int(total_steps) or total_steps < 1:
        raise SpecError(f"total_steps must be a positive integer, but got {total_steps!r}.")
    return int(total_steps)
