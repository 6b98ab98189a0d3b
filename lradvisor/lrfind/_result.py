"""One range test's outcome (:class:`LRFindResult`: the curve, where it stopped, the
suggestion, its PNG) and how runs with several seeds are read together."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lradvisor.lrfind._curve import LRSuggestion
from lradvisor.plots import png_path, save_figure

__all__ = ["SEED_AGREEMENT", "LRFindResult", "combined", "seed_agreement"]

SEED_AGREEMENT = 4.0
"""Suggested peak LRs of runs with different seeds agree within this factor: measured
at most 3.5x over 4 seeds on digits-cnn and charlm (20 reports per sweep), tested."""

MIN_POINTS = 5



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
