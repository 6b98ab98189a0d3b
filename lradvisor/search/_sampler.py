"""Samplers for the first rung, blind to the longer rungs' trials.

Only first-rung trials are sampled; every promoted run is replayed with fixed values.
A longer run reaches a lower loss than a short one of the same schedule, so if the
sampler saw promoted trials next to first-rung ones it would learn "long is good",
not "this schedule is good". :class:`FirstRungSampler` hands the real sampler (TPE by
default, any of Optuna's by name) a view of the study holding first-rung trials only.
"""

from __future__ import annotations

import warnings
from typing import Any

from lradvisor.errors import StudyError

__all__ = ["SAMPLERS", "make_sampler"]

SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp")


def make_sampler(name: str = "tpe", seed: int | None = None, *, startup: int = 10) -> Any:
    """Optuna sampler ``name`` (seeded), wrapped to see first-rung trials only.

    Args:
        name: ``tpe`` (multivariate, grouped: suits the conditional space),
            ``random``, ``cmaes``, ``qmc`` or ``gp``.
        seed: makes the sampling repeatable.
        startup: random trials before TPE / GP / CMA-ES model the results.
    """
    import optuna

    if name not in SAMPLERS:
        raise StudyError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        samplers = optuna.samplers
        if name == "tpe":
            base: Any = samplers.TPESampler(
                seed=seed, multivariate=True, group=True, n_startup_trials=startup
            )
        elif name == "random":
            base = samplers.RandomSampler(seed=seed)
        elif name == "cmaes":
            base = samplers.CmaEsSampler(
                seed=seed, n_startup_trials=startup,
                independent_sampler=samplers.RandomSampler(seed=seed),
            )
        elif name == "qmc":
            base = samplers.QMCSampler(seed=seed)
        else:
            base = samplers.GPSampler(
                seed=seed, n_startup_trials=startup,
                independent_sampler=samplers.RandomSampler(seed=seed),
            )
    return _wrap(base)


def _wrap(base: Any) -> Any:
    import optuna

    class FirstRungSampler(optuna.samplers.BaseSampler):
        """Delegates to ``base`` with a study view that holds first-rung trials only."""

        def __init__(self, inner: Any) -> None:
            self.base = inner

        def __str__(self) -> str:
            return f"FirstRung({self.base})"

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self.base.infer_relative_search_space(_FirstRungView(study), trial)

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            return self.base.sample_relative(_FirstRungView(study), trial, search_space)

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            return self.base.sample_independent(_FirstRungView(study), trial, name, dist)

        def before_trial(self, study: Any, trial: Any) -> None:
            self.base.before_trial(_FirstRungView(study), trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(_FirstRungView(study), trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return FirstRungSampler(base)


class _FirstRungView:
    """A study that answers trial queries with first-rung trials only; else the study."""

    def __init__(self, study: Any) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[Any]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if t.user_attrs.get("rung", 0) == 0]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[Any]:
        return self.get_trials()
