"""Samplers for the first rung, blind to the longer rungs' trials.

Only first-rung trials are sampled; every promoted run is replayed with fixed values.
A longer run reaches a lower loss than a short one of the same schedule, so if the
sampler saw promoted trials next to first-rung ones it would learn "long is good",
not "this schedule is good". :class:`FirstRungSampler` hands the real sampler (TPE by
default, any of Optuna's by name) a view of the study holding first-rung trials only.

The view reads the study once per sampled trial: Optuna's TPE (constant liar on, as
Optuna 5 defaults, so parallel workers see each other's running trials) otherwise
reads every trial from storage again for each parameter group, a few milliseconds
each on SQLite.

TPE itself is Optuna's, with two costs that grow with the study cut (the samples are
the same, value for value; ``tests/search/test_search_space.py`` checks it against
``optuna.samplers.TPESampler``): the grouped search space takes each finished trial's
parameters once, not every trial's again for every new trial; and the split of the
trials into good and bad is made once per sampled trial, not again for each of its
parameter groups (one per schedule family).
"""

from __future__ import annotations

import copy
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
            base: Any = _tpe_class()(
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
            self._snapshot = _Snapshot()

        def __str__(self) -> str:
            return f"FirstRung({self.base})"

        def _view(self, study: Any, trial: Any) -> _FirstRungView:
            return _FirstRungView(study, self._snapshot.trials(study, trial))

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self.base.infer_relative_search_space(self._view(study, trial), trial)

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            return self.base.sample_relative(self._view(study, trial), trial, search_space)

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            return self.base.sample_independent(self._view(study, trial), trial, name, dist)

        def before_trial(self, study: Any, trial: Any) -> None:
            self.base.before_trial(_FirstRungView(study), trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(_FirstRungView(study), trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return FirstRungSampler(base)


class _Snapshot:
    """The study's first-rung trials as read for the trial being sampled."""

    def __init__(self) -> None:
        # (study id, trial number) -> its trials, as one tuple: no torn read across threads
        self._cache: tuple[tuple[Any, int], list[Any]] | None = None

    def trials(self, study: Any, trial: Any) -> list[Any]:
        key = (study._study_id, trial.number)
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        # the study's per-trial cache (reset when a trial is created): the pruner's
        # first look at this trial's reference trials reads it again for free
        every = study._get_trials(deepcopy=False, states=None, use_cache=True)
        trials = [t for t in every if t.user_attrs.get("rung", 0) == 0]
        self._cache = (key, trials)  # a new trial: the study is read once
        return trials


class _FirstRungView:
    """A study that answers trial queries with first-rung trials only; else the study.

    ``trials``: the first-rung trials to answer with (None: read the study each time).
    """

    def __init__(self, study: Any, trials: list[Any] | None = None) -> None:
        self._study = study
        self._trials = trials

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[Any]:
        if self._trials is None:
            every = self._study._get_trials(deepcopy=deepcopy, states=states,
                                            use_cache=use_cache)
            return [t for t in every if t.user_attrs.get("rung", 0) == 0]
        trials = [t for t in self._trials if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[Any]:
        return self.get_trials()


_TPE: Any = None


def _tpe_class() -> Any:
    """Optuna's ``TPESampler`` with the per-trial costs described above cut (made once)."""
    global _TPE
    if _TPE is not None:
        return _TPE
    import optuna

    if not optuna.__version__.startswith("5."):  # the internals below are Optuna 5's
        _TPE = optuna.samplers.TPESampler
        return _TPE
    try:  # Optuna's internals this leans on; without them, its sampler as it is
        from optuna.samplers._tpe import sampler as tpe
        from optuna.search_space.group_decomposed import _GroupDecomposedSearchSpace

        split, gammas = tpe._split_trials, (tpe.default_gamma, tpe.default_gamma_multiobjective)
    except (ImportError, AttributeError):  # pragma: no cover - a changed Optuna 5
        _TPE = optuna.samplers.TPESampler
        return _TPE
    from optuna.trial import TrialState

    class _Groups(_GroupDecomposedSearchSpace):  # type: ignore[misc]
        """Optuna's grouped search space, adding each finished trial's parameters once.

        Adding a trial's parameters again leaves the groups as they are (each group
        lies inside or outside its parameter set), so this is Optuna's answer."""

        def __init__(self, include_pruned: bool = False) -> None:
            super().__init__(include_pruned)
            self._added: set[int] = set()

        def calculate(self, study: Any, use_cache: bool = False) -> Any:
            if self._study_id is None:
                self._study_id = study._study_id
            elif self._study_id != study._study_id:
                raise ValueError("`_GroupDecomposedSearchSpace` cannot handle multiple studies.")
            states = ((TrialState.COMPLETE, TrialState.PRUNED) if self._include_pruned
                      else (TrialState.COMPLETE,))
            for trial in study._get_trials(deepcopy=False, states=states, use_cache=use_cache):
                if trial._trial_id not in self._added:
                    self._search_space.add_distributions(trial.distributions)
                    self._added.add(trial._trial_id)
            return copy.deepcopy(self._search_space)

    class FastTPESampler(optuna.samplers.TPESampler):  # type: ignore[misc]
        """``TPESampler``; its trial split is shared by the groups of one sampled trial."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self._group:
                self._group_decomposed_search_space = _Groups(True)
            self._split: tuple[Any, Any] | None = None

        def _sample(self, study: Any, trial: Any, search_space: Any) -> Any:
            # Optuna 5's TPESampler._sample, with the split remembered for the trial
            running = TrialState.RUNNING
            states = [TrialState.COMPLETE, TrialState.PRUNED]
            if self._constant_liar:
                states.append(running)
            trials = study._get_trials(deepcopy=False, states=states,
                                       use_cache=not self._constant_liar)
            if self._constant_liar:
                trials = [t for t in trials if trial.number != t.number]
            if self._gamma is None:
                self._gamma = gammas[0] if len(study.directions) <= 1 else gammas[1]
            n = sum(t.state != running for t in trials)
            key = (trial.number, n,
                   tuple((t.number, t.state, tuple(t.values or ())) for t in trials))
            if self._split is None or self._split[0] != key:
                self._split = (key, split(study, trials, self._gamma(n)))
            below, above = self._split[1]
            mpe_below = self._build_parzen_estimator(study, search_space, below,
                                                     handle_below=True)
            mpe_above = self._build_parzen_estimator(study, search_space, above,
                                                     handle_below=False)
            samples = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
            acq = self._compute_acquisition_func(samples, mpe_below, mpe_above)
            ret = self._compare(samples, acq)
            for name, dist in search_space.items():
                ret[name] = dist.to_external_repr(ret[name])
            return ret

    _TPE = FastTPESampler
    return _TPE
