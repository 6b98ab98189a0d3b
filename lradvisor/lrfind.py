"""The LR range test (Smith 2017, fastai's ``lr_find``): a peak LR from one short sweep.

The trainable runs once with its LR growing exponentially from ``lr_min`` to ``lr_max``
over ``steps`` optimizer steps. Every loss it reports is smoothed (a debiased moving
average, as fastai's); the sweep stops as soon as the smoothed loss passes
``diverge`` times its best so far, or a loss is NaN or infinite. Three of fastai's
suggestion methods are read off the smoothed curve:

* ``valley``: about two thirds down the longest descending stretch (fastai's default);
* ``steep``: where the loss falls fastest per decade of LR;
* ``minimum``: a tenth of the LR at the lowest loss.

The three often disagree by 10x or more (``valley`` low, ``minimum`` high); their
geometric mean is the suggested peak LR, which measured more stable across seeds than
any one of them or their median. Its range runs from the lowest method's LR to the
highest (at least half to twice the peak), not up to the LR at the lowest loss, the
edge of divergence; ``disagreement`` says how far apart the methods are (highest /
lowest).

The trainable is the search's ``train(ctx)``: it must report the training loss often,
every step at best, through ``ctx.report(step, loss)``. The context's ``reports``
attribute is set to ``steps`` as a hint that it may. The built-in workloads report
their validation value 20 times per run, which is enough for a coarse curve.

The pure maths (smoothing, the three methods, the suggestion) needs no torch; the
sweep itself imports it.

Example:
    >>> lrs = [10 ** (-4 + i / 10) for i in range(40)]
    >>> losses = [2.0 - 0.02 * i if i < 30 else 1.4 + 0.5 * (i - 30) for i in range(40)]
    >>> sug = suggest_lr(list(range(1, 41)), lrs, losses, beta=0.0)
    >>> 1e-3 < sug.peak_lr < sug.high <= lrs[30]
    True
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lradvisor.errors import LRAdvisorError
from lradvisor.plots import png_path, save_figure
from lradvisor.search._context import TrialContext

__all__ = [
    "SEED_AGREEMENT",
    "LRFindResult",
    "LRSuggestion",
    "LRFindError",
    "SweepContext",
    "check_seed",
    "combined",
    "lr_find",
    "minimum",
    "seed_agreement",
    "smooth",
    "steep",
    "suggest_lr",
    "trainable_failure",
    "valley",
]

SEED_AGREEMENT = 4.0
"""Suggested peak LRs of runs with different seeds agree within this factor: measured
at most 3.5x over 4 seeds on digits-cnn and charlm (20 reports per sweep), tested."""

MIN_POINTS = 5


class LRFindError(LRAdvisorError):
    """The range test cannot be run or read as asked (bad range, too few losses)."""


class _StopSweep(Exception):
    """Raised from ``report`` to end the sweep (divergence); caught by :func:`lr_find`."""


# -- pure maths ----------------------------------------------------------------------------
def ramp_multiplier(step: int, *, ratio: float, steps: int) -> float:
    """LR multiple of ``lr_min`` for scheduler step ``step``: ``ratio ** (step / (steps-1))``.

    Module-level so the ``LambdaLR`` holding it pickles.
    """
    return float(ratio ** (min(step, steps - 1) / max(1, steps - 1)))


def ramp_lr(step: int, *, lr_min: float, lr_max: float, steps: int) -> float:
    """The LR of optimizer step ``step`` (1-based) in a sweep of ``steps`` steps."""
    return lr_min * ramp_multiplier(step - 1, ratio=lr_max / lr_min, steps=steps)


def smooth(steps: Sequence[int], values: Sequence[float], beta: float = 0.98) -> list[float]:
    """Debiased exponential moving average of ``values`` reported at ``steps``.

    ``beta`` is per optimizer step, so a trainable reporting every ``k`` steps is
    smoothed over the same stretch of steps (``beta ** k`` per report). With every
    step reported this is fastai's ``AvgSmoothLoss``.
    """
    out, avg, weight, last = [], 0.0, 0.0, 0
    for step, value in zip(steps, values, strict=False):
        b = beta ** max(1, step - last)
        avg = b * avg + (1 - b) * value
        weight = b * weight + (1 - b)
        out.append(avg / weight if weight > 0 else value)
        last = step
    return out


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``valley``: about 2/3 down the longest strictly descending subsequence."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def steep(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``steep``: the LR where the loss falls fastest per unit of ``log(lr)``."""
    grads = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(len(lrs) - 1)
    ]
    return float(lrs[min(range(len(grads)), key=grads.__getitem__)])


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``minimum``: a tenth of the LR at the lowest loss."""
    return float(lrs[min(range(len(losses)), key=losses.__getitem__)]) / 10


@dataclass(frozen=True)
class LRSuggestion:
    """A peak LR read off a range test, with the range to search and how sure it is.

    Attributes:
        peak_lr: the geometric mean of the three methods' LRs.
        low, high: the range to search: the lowest method's LR to the highest
            (never narrower than ``peak_lr / 2 .. peak_lr * 2``). The LR of the lowest
            loss is not in it: there the sweep is at the edge of divergence, which is
            why fastai's ``minimum`` takes a tenth of it, and a peak that close wins
            short runs and fails long ones.
        methods: ``valley``, ``steep``, ``minimum`` -> LR.
        disagreement: the highest method LR over the lowest (1 = they agree).
        lr_at_min_loss: the LR where the smoothed loss was lowest.
    """

    peak_lr: float
    low: float
    high: float
    methods: Mapping[str, float]
    disagreement: float
    lr_at_min_loss: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"peak_lr": self.peak_lr, "low": self.low, "high": self.high,
                "methods": dict(self.methods), "disagreement": self.disagreement,
                "lr_at_min_loss": self.lr_at_min_loss}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LRSuggestion:
        """The inverse of :meth:`to_dict`."""
        return cls(float(data["peak_lr"]), float(data["low"]), float(data["high"]),
                   {k: float(v) for k, v in data["methods"].items()},
                   float(data["disagreement"]), float(data["lr_at_min_loss"]))

    def describe(self) -> str:
        """One line: peak, range, and the three methods."""
        shown = ", ".join(f"{k} {v:.3g}" for k, v in self.methods.items())
        return (f"peak LR {self.peak_lr:.3g} (range {self.low:.3g} .. {self.high:.3g}; "
                f"{shown}; methods disagree by {self.disagreement:.2f}x)")


def suggest_lr(steps: Sequence[int], lrs: Sequence[float], losses: Sequence[float],
               *, beta: float = 0.98) -> LRSuggestion:
    """The suggestion from a sweep's reported ``(step, lr, loss)`` points.

    As fastai does, the first tenth of the points and the last ``min(5, n // 10)`` are
    left out (start-up noise; the blow-up), and everything from the first non-finite
    loss on.

    Raises:
        LRFindError: fewer than 5 usable points.
    """
    finite = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    end = finite[0] if finite else len(losses)
    sm = smooth(steps[:end], losses[:end], beta)
    n = len(sm)
    cut_lrs, cut = list(lrs[n // 10: n - min(5, n // 10)]), sm[n // 10: n - min(5, n // 10)]
    if len(cut) < MIN_POINTS:  # so n < MIN_POINTS: below 10 points none is cut
        before = ", before the first non-finite one" if finite else ""
        raise LRFindError(
            f"the range test got {len(losses)} loss report(s) ({len(cut)} usable{before}); "
            f"it needs at least {MIN_POINTS}: report the training loss more often (every "
            "step) or sweep more steps."
        )
    methods = {"valley": valley(cut_lrs, cut), "steep": steep(cut_lrs, cut),
               "minimum": minimum(cut_lrs, cut)}
    ordered = sorted(methods.values())
    peak = math.exp(statistics.fmean(math.log(v) for v in ordered))
    at_min = float(cut_lrs[min(range(len(cut)), key=cut.__getitem__)])
    low, high = min(ordered[0], peak / 2), max(ordered[-1], peak * 2)
    return LRSuggestion(peak, low, high, methods, ordered[-1] / ordered[0], at_min)


def seed_agreement(results: Sequence[LRFindResult]) -> float:
    """Highest suggested peak LR over the lowest, across runs (1 = identical)."""
    peaks = [r.suggestion.peak_lr for r in results]
    return max(peaks) / min(peaks)


def combined(results: Sequence[LRFindResult]) -> LRSuggestion:
    """One suggestion from several runs: geometric means of the peaks and the bounds."""
    def gmean(values: Sequence[float]) -> float:
        return math.exp(statistics.fmean(math.log(v) for v in values))

    sugs = [r.suggestion for r in results]
    methods = {k: gmean([s.methods[k] for s in sugs]) for k in sugs[0].methods}
    return LRSuggestion(gmean([s.peak_lr for s in sugs]), gmean([s.low for s in sugs]),
                        gmean([s.high for s in sugs]), methods,
                        max(methods.values()) / min(methods.values()),
                        gmean([s.lr_at_min_loss for s in sugs]))


# -- the sweep -----------------------------------------------------------------------------
@dataclass
class SweepContext(TrialContext):
    """A :class:`TrialContext` whose scheduler ramps the LR up and whose reports watch it.

    ``spec`` is a ``constant`` schedule at ``lr_min`` (so ``ctx.peak_lr`` is the LR the
    trainable builds its optimizer with); :meth:`scheduler` overrides it with the ramp.
    """

    lr_min: float = 1e-7
    lr_max: float = 10.0
    diverge: float = 4.0
    beta: float = 0.98
    reports: int = 0
    stopped_at: int | None = None
    _avg: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, math.inf])

    def scheduler(self, optimizer: Any) -> Any:
        """Set the largest param group's LR to ``lr_min`` (the others in their ratios to
        it, as the search's ``ctx.scheduler`` sets a peak) and return the exponential
        ramp: the LRs swept are the largest group's."""
        from torch.optim.lr_scheduler import LambdaLR

        from lradvisor.schedules import set_peak

        set_peak(optimizer, self.lr_min)
        ramp = partial(ramp_multiplier, ratio=self.lr_max / self.lr_min, steps=self.total_steps)
        self._scheduler = LambdaLR(optimizer, ramp)
        return self._scheduler

    def report(self, step: int, value: float) -> None:
        """Record the loss; stop the sweep when it is not finite or has diverged."""
        super().report(step, value)
        avg, weight, last, best = self._avg
        if not math.isfinite(value):
            self.stopped_at = int(step)
            raise _StopSweep
        b = self.beta ** max(1.0, step - last)
        avg, weight = b * avg + (1 - b) * value, b * weight + (1 - b)
        smoothed = avg / weight
        self._avg = [avg, weight, float(step), min(best, smoothed)]
        if smoothed > self.diverge * min(best, smoothed):
            self.stopped_at = int(step)
            raise _StopSweep


@dataclass(frozen=True)
class LRFindResult:
    """One range test: the curve, where it stopped, and the suggestion."""

    steps: tuple[int, ...]
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    suggestion: LRSuggestion
    lr_min: float
    lr_max: float
    sweep_steps: int
    seed: int = 0
    stopped_at: int | None = None

    @property
    def steps_used(self) -> int:
        """Optimizer steps the sweep ran (it may have stopped early)."""
        return self.stopped_at or self.sweep_steps

    def ending(self) -> str:
        """Where the sweep stopped, or that it ran all its steps."""
        return (f"stopped at step {self.stopped_at} (LR {self.lrs[-1]:.3g}): the loss diverged"
                if self.stopped_at else f"ran all {self.sweep_steps} steps to LR {self.lr_max:g}")

    def describe(self) -> str:
        """Where it stopped and what it suggests, one line each."""
        return (f"LR range test, seed {self.seed}: {self.ending()}.\n"
                f"Suggested {self.suggestion.describe()}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (stored with a study by ``search --lr-find``)."""
        return {"steps": list(self.steps), "lrs": list(self.lrs), "losses": list(self.losses),
                "smoothed": list(self.smoothed), "suggestion": self.suggestion.to_dict(),
                "lr_min": self.lr_min, "lr_max": self.lr_max, "sweep_steps": self.sweep_steps,
                "seed": self.seed, "stopped_at": self.stopped_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LRFindResult:
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(data["steps"]), tuple(data["lrs"]),
                   tuple(float(v) for v in data["losses"]),  # "nan" / "inf" from the CLI
                   tuple(float(v) for v in data["smoothed"]),
                   LRSuggestion.from_dict(data["suggestion"]),
                   float(data["lr_min"]), float(data["lr_max"]), int(data["sweep_steps"]),
                   int(data.get("seed", 0)), data.get("stopped_at"))

    def save_png(self, path: Any, title: str = "") -> Any:
        """The smoothed loss against the LR (log x), the three methods marked.

        Raises:
            OutputError: ``path`` is no PNG file, or cannot be written.
        """
        png_path(path)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        ax.plot(self.lrs, self.losses, color="0.75", linewidth=1, label="reported")
        ax.plot(self.lrs, self.smoothed, linewidth=1.8, label="smoothed")
        for name, lr in self.suggestion.methods.items():
            ax.axvline(lr, linestyle="--", linewidth=1, label=f"{name} {lr:.2g}")
        ax.axvspan(self.suggestion.low, self.suggestion.high, alpha=0.12, color="green",
                   label="search range")
        ax.set_xscale("log")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        if finite:
            ax.set_ylim(min(finite) * 0.95, min(max(finite), 4 * min(finite)) * 1.05)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(title or f"LR range test: peak {self.suggestion.peak_lr:.3g}")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return save_figure(fig, path)


def lr_find(
    trainable: str | Callable[..., Any] | None = None,
    *,
    workload: str | None = None,
    lr_min: float = 1e-7,
    lr_max: float = 10.0,
    steps: int = 100,
    seed: int = 0,
    diverge: float = 4.0,
    beta: float = 0.98,
    device: str | None = None,
) -> LRFindResult:
    """Run the LR range test on a trainable (``train(ctx)``) or a built-in workload.

    Args:
        trainable: ``train(ctx)``, or ``"module:function"`` / ``"file.py:function"``.
        workload: a built-in workload name (checked), whose trainable is swept when
            ``trainable`` is not given.
        lr_min, lr_max: the sweep's first and last LR (fastai's defaults).
        steps: optimizer steps of the sweep.
        seed: the run's seed, in [0, 2**32 - 1] as a search's.
        diverge: stop once the smoothed loss exceeds this many times its best.
        beta: smoothing per optimizer step.
        device: for the context (``None``: a GPU when present).

    Raises:
        LRFindError: a bad range or seed, or too few reported losses to read.
        TrainableError: the trainable cannot be loaded.
        WorkloadError: ``workload`` names no built-in workload.
        Exception: whatever the trainable raises, unchanged (the CLI makes it one line
            with :func:`trainable_failure`).

    Example:
        >>> result = lr_find(workload="digits-cnn", steps=100)  # doctest: +SKIP
        >>> result.suggestion.peak_lr  # doctest: +SKIP
    """
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search import default_device, load_trainable

    _check(lr_min, lr_max, steps, diverge, beta, seed)
    if workload is not None:  # checked even beside a trainable, as a search does
        from lradvisor.workloads import get_workload

        work = get_workload(workload)
        trainable = work.trainable if trainable is None else trainable
    if trainable is None:
        raise LRFindError("lr_find needs a trainable (module:function) or a workload.")
    function = load_trainable(trainable)
    ctx = SweepContext(spec=ScheduleSpec.create("constant", peak_lr=lr_min), total_steps=steps,
                       seed=seed, device=device or default_device(), lr_min=lr_min,
                       lr_max=lr_max, diverge=diverge, beta=beta, reports=steps)
    _train(function, ctx)
    points = [(s, v) for s, v in ctx.curve if 1 <= s <= steps]
    got_steps = [s for s, _ in points]
    losses = [v for _, v in points]
    lrs = [ramp_lr(s, lr_min=lr_min, lr_max=lr_max, steps=steps) for s in got_steps]
    try:
        suggestion = suggest_lr(got_steps, lrs, losses, beta=beta)
    except LRFindError:
        if ctx.stopped_at is None:
            raise
        raise LRFindError(_stopped_early(ctx.stopped_at, losses, lr_min, lr_max, steps)) from None
    sm = smooth(got_steps, [v if math.isfinite(v) else math.nan for v in losses], beta)
    return LRFindResult(tuple(got_steps), tuple(lrs), tuple(losses), tuple(sm), suggestion,
                        lr_min, lr_max, steps, seed, ctx.stopped_at)


def _train(function: Callable[..., Any], ctx: SweepContext) -> None:
    """Run the trainable until it returns or the sweep stops it. Every frame under this
    one in a traceback is the trainable's (see :func:`trainable_failure`)."""
    with contextlib.suppress(_StopSweep):
        function(ctx)


def trainable_failure(err: BaseException) -> str | None:
    """``err`` in one line, with the innermost line of the trainable's own file it passed
    through, when it came out of the trainable :func:`lr_find` ran; ``None`` otherwise
    (the sweep's own errors, bad input). A search's failed trials say the same
    (:func:`~lradvisor.search._trainable.failure_line`).

    Example:
        >>> def train(ctx):
        ...     raise ValueError("no data")
        >>> try:
        ...     lr_find(train, steps=10)
        ... except ValueError as err:
        ...     print(trainable_failure(err))  # doctest: +ELLIPSIS
        ValueError: no data (at ...:2 in train)
    """
    from lradvisor.search._trainable import failure_line

    return failure_line(err, _train.__code__)


def _stopped_early(step: int, losses: Sequence[float], lr_min: float, lr_max: float,
                   steps: int) -> str:
    """Why a sweep that stopped before it had enough losses to read cannot be read (the
    advice to report more often does not help there)."""
    lr = ramp_lr(step, lr_min=lr_min, lr_max=lr_max, steps=steps)
    what = "was not finite" if losses and not math.isfinite(losses[-1]) else "diverged"
    return (f"the loss {what} at step {step} of {steps} (LR {lr:.3g}), before the range test "
            f"had {MIN_POINTS} losses to read: start the sweep lower (lr_min, got {lr_min!r}) "
            "or check the trainable's first losses.")


def _check(lr_min: Any, lr_max: Any, steps: Any, diverge: Any, beta: Any, seed: Any) -> None:
    for name, value in (("lr_min", lr_min), ("lr_max", lr_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise LRFindError(f"{name} must be a number > 0, but got {value!r}.")
    if lr_max <= lr_min:
        raise LRFindError(f"lr_max must be above lr_min, but got {lr_min!r} .. {lr_max!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < MIN_POINTS + 2:
        raise LRFindError(f"steps must be an integer >= {MIN_POINTS + 2}, but got {steps!r}.")
    if isinstance(diverge, bool) or not isinstance(diverge, (int, float)) or not diverge > 1:
        raise LRFindError(f"diverge must be a number > 1, but got {diverge!r}.")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
        raise LRFindError(f"beta must be in [0, 1), but got {beta!r}.")
    check_seed(seed)


def check_seed(seed: Any) -> None:
    """A seed as a search takes it: an integer in [0, 2**32 - 1], as numpy's."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise LRFindError(f"seed must be an integer in [0, 4294967295], but got {seed!r}.")
