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

TPE itself is Optuna's, made cheaper where its cost grows with the study or with the
number of schedule families; the samples are the same, value for value
(``tests/search/test_search_space.py`` checks them against
``optuna.samplers.TPESampler``):

* a trial's parameter groups (one per schedule family) are sampled when the trial
  first asks for one of their values, so a trial samples its own family's group and
  the group of ``family`` and ``peak_lr``, not every family's (``_LazyGroups``);
* the grouped search space takes each finished trial's parameters once, not every
  trial's again for every new trial;
* the split of the trials into good and bad is made once per sampled trial, not
  again for each group, with each finished trial's sort keys computed once;
* each finished trial's parameters are turned into TPE's internal values once.

One difference is deliberate: with several workers, Optuna's constant liar counts a
running trial in every family's group with the values it drew there but never uses;
here it counts in the groups of the values it holds (``buffered_params`` writes them
when sampling ends). A single process samples exactly as Optuna does.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Iterator, Mapping
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
_UNSEEN = object()


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
        from optuna.search_space.group_decomposed import (
            _GroupDecomposedSearchSpace,
            _SearchSpaceGroup,
        )

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
            # Optuna deep-copies; new dicts of the same (never changed) distributions
            # keep the groups as safe from the caller, at a 50th of the cost
            out = _SearchSpaceGroup()
            out._search_spaces = [dict(space) for space in self._search_space.search_spaces]
            return out

    class FastTPESampler(optuna.samplers.TPESampler):  # type: ignore[misc]
        """``TPESampler``, its groups sampled when asked for and its per-trial work
        shared or made once (the module docstring); the same draws as Optuna's."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self._group:
                self._group_decomposed_search_space = _Groups(True)
            self._split: tuple[Any, Any] | None = None
            self._keys: dict[int, tuple[float, Any]] = {}  # trial id -> its split keys
            # parameter names -> trial id -> the trial's internal values of them
            self._rows: dict[tuple[str, ...], dict[int, tuple[Any, ...] | None]] = {}

        def _split_trials(self, study: Any, trials: list[Any], n_below: int) -> Any:
            """Optuna 5's ``_split_trials``, each finished trial's sort keys made once."""
            if len(study.directions) > 1:
                return split(study, trials, n_below)
            keys = self._keys
            complete, pruned, infeasible, running = [], [], [], []
            for t in trials:
                if t.state == TrialState.RUNNING:  # before feasibility, as Optuna's
                    running.append(t)
                    continue
                if t._trial_id not in keys:  # (infeasibility, pruned trial's score)
                    keys[t._trial_id] = (
                        tpe._get_infeasible_trial_score(t),
                        tpe._get_pruned_trial_score(t, study)
                        if t.state == TrialState.PRUNED else None)
                if keys[t._trial_id][0] > 0:
                    infeasible.append(t)
                elif t.state == TrialState.COMPLETE:
                    complete.append(t)
                elif t.state == TrialState.PRUNED:
                    pruned.append(t)
                else:  # pragma: no cover - Optuna asks for these states only
                    raise AssertionError(t.state)
            below, above = tpe._split_complete_trials(complete, study, n_below)
            n_below = max(0, n_below - len(below))
            pruned.sort(key=lambda t: keys[t._trial_id][1])
            k = min(n_below, len(pruned))
            below, above = below + pruned[:k], above + pruned[k:]
            n_below = max(0, n_below - k)
            infeasible.sort(key=lambda t: keys[t._trial_id][0])
            k = min(n_below, len(infeasible))
            below, above = below + infeasible[:k], above + infeasible[k:] + running
            below.sort(key=lambda t: t.number)
            above.sort(key=lambda t: t.number)
            return below, above

        def _get_internal_repr(self, trials: list[Any], search_space: Any,
                               study: Any) -> Any:
            """Optuna 5's: the internal values of the trials holding all of
            ``search_space``; a finished trial's row (or its lack) is made once."""
            import numpy as np

            names = tuple(search_space)
            rows = self._rows.setdefault(names, {})  # trial id -> its row, or None
            out = []
            for t in trials:
                row = rows.get(t._trial_id, _UNSEEN)
                if row is _UNSEEN:
                    # Optuna's _get_params: a finished trial's own values; a running
                    # one's as the constant liar sees them (not cached: they may grow)
                    finished = t.state.is_finished()
                    params = t.params if finished else self._get_params(t, study)
                    row = (tuple(dist.to_internal_repr(params[name])
                                 for name, dist in search_space.items())
                           if search_space.keys() <= params.keys() else None)
                    if finished:
                        rows[t._trial_id] = row
                if row is not None:
                    out.append(row)
            if not out:
                return {name: np.asarray([]) for name in names}
            columns = zip(*out, strict=True)  # rows are all len(names) long
            return {name: np.asarray(list(column))
                    for name, column in zip(names, columns, strict=True)}

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            """Optuna's grouped ``sample_relative``, each group sampled when first asked.

            A trial asks for its family's group only; Optuna samples every family's.
            The values are the same: a group's draws take a fixed count of random
            numbers (``_LazyGroups``), so each is drawn from where Optuna's eager loop
            would be, and the generator is moved past all of them at once. Optuna's
            constant liar also stores the values in the trial, for other workers to
            count against the groups a running trial drew; here only the groups it
            uses count, through the values ``buffered_params`` writes when sampling
            ends (``_get_params`` reads them as a running trial's parameters).
            """
            if not self._group:
                return super().sample_relative(study, trial, search_space)
            assert self._search_space_group is not None  # infer_relative_search_space's
            spaces = []
            for sub_space in self._search_space_group.search_spaces:
                space = {name: dist for name, dist in sorted(sub_space.items())
                         if not dist.single() and name in search_space}
                if space:
                    spaces.append(space)
            done = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                             TrialState.PRUNED),
                                     use_cache=True)
            if not spaces or len(done) < self._n_startup_trials:
                return {}  # Optuna's: too few trials, each parameter sampled at random
            return _LazyGroups(self, study, trial, spaces)

        def _sample(self, study: Any, trial: Any, search_space: Any,
                    rng: Any = None) -> Any:
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
            # a finished trial's values never change: the numbers and states tell all
            key = (trial.number, n, tuple((t.number, t.state) for t in trials))
            if self._split is None or self._split[0] != key:
                self._split = (key, self._split_trials(study, trials, self._gamma(n)))
            below, above = self._split[1]
            mpe_below = self._build_parzen_estimator(study, search_space, below,
                                                     handle_below=True)
            mpe_above = self._build_parzen_estimator(study, search_space, above,
                                                     handle_below=False)
            samples = mpe_below.sample(rng or self._rng.rng, self._n_ei_candidates)
            acq = self._compute_acquisition_func(samples, mpe_below, mpe_above)
            ret = self._compare(samples, acq)
            for name, dist in search_space.items():
                ret[name] = dist.to_external_repr(ret[name])
            return ret

    _TPE = FastTPESampler
    return _TPE


class _LazyGroups(Mapping[str, Any]):
    """The relative values of a sampled trial's parameter groups, each drawn on demand.

    TPE draws ``n_ei_candidates`` candidates of a group from a Parzen mixture: one
    uniform number per candidate picks its kernel, one per parameter draws the value
    (the inverse CDF of a categorical or truncated normal), whatever the data. So
    group ``i`` starts ``n_ei_candidates * sum(1 + len(group j) for j < i)`` numbers
    after the generator's state when sampling begins, and the sampler's generator is
    moved past all groups at once, as Optuna's loop over every group leaves it.
    ``tests/search/test_search_space.py`` checks the values against Optuna's.
    """

    def __init__(self, sampler: Any, study: Any, trial: Any,
                 spaces: list[dict[str, Any]]) -> None:
        rng = sampler._rng.rng
        self._sampler, self._study, self._trial = sampler, study, trial
        self._state = rng.get_state()
        self._spaces = spaces
        self._offsets, offset = [], 0
        for space in spaces:
            self._offsets.append(offset)
            offset += sampler._n_ei_candidates * (1 + len(space))
        rng.random_sample(offset)  # where Optuna's eager loop leaves the generator
        self._group = {name: i for i, space in enumerate(spaces) for name in space}
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            i = self._group[name]  # a KeyError for a name no group holds, as a dict's
            rng = _scratch_rng()
            rng.set_state(self._state)
            rng.random_sample(self._offsets[i])
            self._values.update(self._sampler._sample(self._study, self._trial,
                                                      self._spaces[i], rng))
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._group

    def __iter__(self) -> Iterator[str]:
        return iter(self._group)

    def __len__(self) -> int:
        return len(self._group)


_SCRATCH = threading.local()


def _scratch_rng() -> Any:
    """A generator of this thread's to set to a saved state (making one costs ~0.1 ms)."""
    rng = getattr(_SCRATCH, "rng", None)
    if rng is None:
        import numpy as np

        rng = _SCRATCH.rng = np.random.RandomState(0)
    return rng
