"""The search: rules first, then sampled proxies, promoted up the rungs, judged on seeds.

:func:`run_search` is the whole orchestration, in the order a reader would explain it:

1. load the trainable and the profile; refuse a run of unknown length;
2. ask the rules: their prior becomes the search space, their top recommendations the
   first trials (so a search never ends worse than the rules alone);
3. open the study (same name: resume) and record profile, proxy settings and rules;
4. run the first rung (rules' picks, then the sampler's), each trial a proxy at
   ``rungs[0]`` of the run with the plateau pruner watching;
5. promote up the rungs (:func:`~lradvisor.search._rungs.next_runs`), re-running each
   promoted configuration at the longer length with its lineage recorded;
6. pick the winner (:func:`~lradvisor.search._rungs.choose`) and store the
   recommendation for the full run with its evidence.

Peaks are the full run's throughout (sampled, stored, recommended); where the profile's
``[[horizon]]`` rule fires, a proxy at a fraction ``f`` of the run trains at the peak
times ``f ** -b`` (:meth:`~lradvisor.search._space.SearchSpace.proxy_spec`), since short
runs want higher peaks than full ones.

Trials run in this process, one after another. The budget, in full-run equivalents,
caps the steps of this call; each stage keeps back what the later stages need at the
least. Ctrl-C stops after failing the running trial as ``interrupted``; everything
finished stays in the study, and the recommendation is still stored.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lradvisor.errors import StudyError
from lradvisor.search._evidence import with_evidence
from lradvisor.search._fidelity import Fidelity, rung_steps
from lradvisor.search._heap import start_objects_frozen
from lradvisor.search._interrupt import ctrl_c_remembered
from lradvisor.search._recommend import Horizon, recommend
from lradvisor.search._resume import _fail_left_running, _open
from lradvisor.search._rungs import INTERRUPTED, Planned, Record, leaderboard, next_runs
from lradvisor.search._settings import keep_lr_range, run_settings
from lradvisor.search._space import SearchSpace, for_direction
from lradvisor.search._trainable import load_trainable
from lradvisor.search._trial import TrialRunner, record_of

__all__ = ["Progress", "SearchResult", "run_search"]


@dataclass(frozen=True)
class Progress:
    """Where a running search stands, passed to the ``callback`` after every trial."""

    done: int
    total: int
    rung: int
    best: float | None
    pruned: int
    failed: int
    elapsed: float
    steps_used: int
    full_steps: int


@dataclass
class SearchResult:
    """What :func:`run_search` returns.

    Attributes:
        study: the Optuna study (all its trials, earlier runs' included).
        recommendation: the pick for the full run (``None``: nothing completed).
        evidence: the recommendation's evidence as data (length, trial counts, ...).
        steps_used: optimizer steps this call spent, pruned and failed trials included.
        study_steps: steps of every trial in the study.
        full_steps: the full run's length.
        trials_run: trials this call ran.
        interrupted: whether Ctrl-C stopped it.
    """

    study: Any
    recommendation: Any
    evidence: dict[str, Any] | None
    steps_used: int
    study_steps: int
    full_steps: int
    trials_run: int
    interrupted: bool = False
    records: list[Record] = field(default_factory=list, repr=False)

    @property
    def full_run_equivalents(self) -> float:
        """``steps_used / full_steps``: this call's compute in full runs."""
        return self.steps_used / self.full_steps


def run_search(
    trainable: str | Callable[..., Any] | None = None,
    *,
    profile: Any = None,
    workload: str | None = None,
    n_trials: int = 40,
    budget: float | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: str | None = None,
    sampler: str | None = None,
    seed: int | None = None,
    families: Sequence[str] | None = None,
    direction: str = "minimize",
    fidelity: Fidelity | None = None,
    rules_files: Sequence[str] = (),
    rules_first: int = 3,
    device: str | None = None,
    callback: Callable[[Progress], None] | None = None,
    lr_range: tuple[float, float] | None = None,
    learned: Any = None,
) -> SearchResult:
    """Search schedules for a training function; returns the study and the pick.

    Args:
        trainable: ``train(ctx) -> float``, or ``"module:function"`` /
            ``"file.py:function"``; defaults to the workload's.
        profile: a ``TaskProfile`` or its dict; defaults to the workload's.
        workload: a built-in workload name (``digits-cnn``).
        n_trials: first-rung trials this call adds (the rules' picks among them).
        budget: cap on this call's compute, in full-run equivalents; ``None``: none.
        timeout: seconds after which no new trial starts.
        storage: study database URL (default ``$LRADVISOR_STORAGE`` or SQLite).
        study_name: the study; an existing one is resumed.
        pruner: a name for ``make_pruner`` (``plateau``, ``median``, ..., ``none``).
        sampler: ``tpe``, ``random``, ``cmaes``, ``qmc`` or ``gp``.
        seed: seeds the sampler; first-rung runs use it, finalists it and the next.
            ``pruner``, ``sampler``, ``seed`` not given (``None``): a resumed study's
            own, as it runs now; for a new study ``plateau``, ``tpe`` and 0. One given
            that differs is recorded as the resume's (``studies show``).
        families: restrict the search to these families.
        direction: ``minimize`` or ``maximize`` the trainable's value.
        fidelity: rung settings (default :class:`Fidelity`).
        rules_files: the user's rules files, as for ``suggest``.
        rules_first: how many of the rules' top recommendations run first.
        device: for the context (``None``: a GPU when present).
        callback: called with a :class:`Progress` after every trial.
        lr_range: ``(low, high)`` of the peak LR instead of the rules' range (e.g. from
            :func:`lradvisor.lr_find`). It is stored with the study (``lr_range``):
            a resume without one, and the study's workers, search it too; ``None`` on
            a study that has none: the rules' range.
        learned: a learned guide (``LearnedGuide``, see ``lradvisor rules learn``):
            families and settings that won on similar studies run first.

    Raises:
        TrainableError, StudyError, ProfileError, SpecError: before any trial runs.

    Example:
        >>> result = run_search(workload="digits-cnn", n_trials=8, budget=2,
        ...                     storage="sqlite://")  # doctest: +SKIP
        >>> result.recommendation.spec.describe()  # doctest: +SKIP
    """
    setup = _prepare(trainable, profile, workload, families, rules_files, study_name,
                     learned, direction)
    if lr_range is not None:  # the space refuses a bad one now, before the study is touched
        setup["lr_range"] = lr_range
        keep_lr_range(setup, {})
    fid = check_settings(n_trials, seed, timeout, fidelity, budget)
    study, fid = _open(setup, storage, direction, pruner, sampler, seed, n_trials, fid,
                       explicit=fidelity is not None, asked=fidelity)
    seed = run_settings(study.user_attrs)["seed"]  # the given one, else the study's
    runner = TrialRunner(study, setup["space"], setup["trainable"], fid, setup["full_steps"],
                         setup["profile"].steps_per_epoch, device)
    loop = _Loop(runner, fid, direction, seed, budget, timeout, callback)
    _fail_left_running(study)
    loop.records = [record_of(t) for t in study.get_trials(deepcopy=False)]
    interrupted = False
    try:
        with ctrl_c_remembered() as loop.ctrl_c, start_objects_frozen():
            loop.first_rung(_rules_plans(setup, loop.records, rules_first, seed), n_trials)
            for rung in range(1, fid.last + 1):
                loop.rung(rung)
    except KeyboardInterrupt:
        interrupted = True  # the trial it cut off is stored (failed): read them all back
        loop.records = [record_of(t) for t in study.get_trials(deepcopy=False)]
    found = recommend(loop.records, fid, direction=direction, full_steps=setup["full_steps"],
                      study_name=study.study_name, rules=setup["rules"],
                      horizon=Horizon.of(study.user_attrs))
    rec, evidence = found if found else (None, None)
    if rec is not None:
        study.set_user_attr("recommendation", {**rec.to_dict(), "evidence_data": evidence})
    return SearchResult(
        study=study, recommendation=rec, evidence=evidence, steps_used=loop.spent,
        study_steps=sum(r.steps_used for r in loop.records), full_steps=setup["full_steps"],
        trials_run=loop.done, interrupted=interrupted, records=loop.records,
    )


def check_settings(n_trials: Any, seed: Any, timeout: Any, fidelity: Fidelity | None,
                   budget: Any) -> Fidelity:
    """A search's own settings, checked before anything runs; the rungs fitted to the
    budget (``search``, ``search --jobs`` and the checks before ``--lr-find``'s sweep).

    Raises:
        StudyError: ``n_trials`` is not an integer >= 1, or as
            :func:`check_seed_and_timeout` and :meth:`Fidelity.fit`.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise StudyError(f"n_trials must be an integer >= 1, but got {n_trials!r}.")
    check_seed_and_timeout(seed, timeout)
    return (fidelity or Fidelity()).fit(budget)


def check_seed_and_timeout(seed: Any, timeout: Any) -> None:
    """A seed the samplers take (an integer in [0, 2**32 - 1], as numpy's; ``None``: the
    study's) and a timeout that is ``None`` or a finite number of seconds > 0.

    Raises:
        StudyError: either is out of range.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 2**32):
        raise StudyError(f"seed must be an integer in [0, 4294967295], but got {seed!r}.")
    if timeout is None:
        return
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout) or timeout <= 0):
        raise StudyError(f"timeout must be a number of seconds > 0, but got {timeout!r}.")


def _prepare(trainable: Any, profile: Any, workload: str | None, families: Any,
             rules_files: Sequence[str], study_name: str | None,
             learned: Any = None, direction: str = "minimize") -> dict[str, Any]:
    """Everything checked before the database is touched (each fault is one line).

    ``direction`` orients metric-driven families (``plateau``'s ``mode``) to the value
    the trainable reports."""
    from lradvisor.rules import TaskProfile, advise

    work = None
    if workload is not None:
        from lradvisor.workloads import get_workload

        work = get_workload(workload)
    if trainable is None:
        if work is None:
            raise StudyError("a search needs a trainable (module:function) or a workload.")
        trainable = work.trainable
    function = load_trainable(trainable)
    if profile is None and work is not None:
        profile = work.profile()
    if profile is None:
        raise StudyError("a search needs a task profile (at least --task) or a workload.")
    if not isinstance(profile, TaskProfile):
        profile = TaskProfile.from_dict(profile)
    full = profile.steps or (work.total_steps if work is not None else None)
    if not full:
        raise StudyError(
            f"a search needs the full run's length, and {profile.describe()!r} has none: "
            "give --total-steps, or --epochs with --steps-per-epoch."
        )
    advice = advise(profile, rules_files)
    rules_peak = advice.prior.lr_default  # before evidence: what learned ratios are against
    rules_prior = advice.prior.to_dict()  # what the rules (guide + --rules files) concluded
    rules_schedules = [r.spec.to_dict() for r in advice.recommendations]  # and recommended
    name = study_name or _default_name(workload, trainable, profile)
    setup = {
        "trainable": function, "trainable_path": trainable if isinstance(trainable, str)
        else f"{getattr(trainable, '__module__', '?')}:{getattr(trainable, '__name__', '?')}",
        "profile": profile, "full_steps": int(full), "rules_advice": advice,
        "families": families, "name": name, "workload": workload, "rules_peak": rules_peak,
        "rules_prior": rules_prior, "rules_schedules": rules_schedules,
        "rules_files": tuple(rules_files), "direction": direction,
    }
    with_evidence(setup, learned)  # advice, space, rules, learned (a resume may redo it)
    return setup


def _default_name(workload: str | None, trainable: Any, profile: Any) -> str:
    if workload:
        return workload
    base = trainable if isinstance(trainable, str) else getattr(trainable, "__name__", "search")
    return f"{base.rsplit('/', 1)[-1]}-{profile.task}"


def _rules_plans(setup: dict[str, Any], records: list[Record], count: int,
                 seed: int) -> list[Planned]:
    """The rules' top recommendations as first-rung runs, lengths made relative; those
    already run (not waiting, not cut off by an interrupt) are not run again."""
    space: SearchSpace = setup["space"]
    have = {r.key for r in records
            if r.rung == 0 and r.state != "WAITING" and r.error != INTERRUPTED}
    plans = []
    recs = [r for r in setup["advice"].recommendations if r.spec.family in space.names]
    for index, rec in enumerate(recs[:count]):
        spec = relative_spec(for_direction(rec.spec, setup["direction"]),
                             setup["full_steps"])
        if spec is not None and spec.to_json() not in have:
            plans.append(Planned(spec, 0, seed, "rules" if index == 0 else "rules-alt"))
    return plans


def relative_spec(spec: Any, full_steps: int) -> Any:
    """``spec`` with lengths in steps restated as fractions of the full run, so it keeps
    its shape at a proxy length; ``None`` when it cannot be (a fraction out of range)."""
    from lradvisor.errors import SpecError

    try:
        return spec.relative_to(full_steps)
    except SpecError:
        return None


class _Loop:
    """The running state of one call: spent steps, records, the clock, the budget."""

    def __init__(self, runner: TrialRunner, fid: Fidelity, direction: str, seed: int,
                 budget: float | None, timeout: float | None,
                 callback: Callable[[Progress], None] | None) -> None:
        self.runner, self.fid, self.direction, self.seed = runner, fid, direction, seed
        full = runner.full_steps
        self.budget_steps = math.inf if budget is None else budget * full
        self.deadline = math.inf if timeout is None else time.monotonic() + timeout
        self.callback = callback
        self.start = time.monotonic()
        self.records: list[Record] = []
        self.spent = self.done = self.pruned = self.failed = 0
        self.total = 0
        self.steps = [rung_steps(r, full) for r in fid.rungs]
        self.ctrl_c = threading.Event()

    def reserve(self, rung: int) -> float:
        """Steps the rungs after ``rung`` need at the least."""
        fid, out = self.fid, 0.0
        for later in range(rung + 1, fid.last + 1):
            runs = fid.finalists * (fid.seeds if later == fid.last else 1)
            if later != fid.last:
                runs += len(fid.lr_factors)
            out += runs * self.steps[later]
        return out

    def affordable(self, rung: int) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        return self.spent + self.steps[rung] <= self.budget_steps - self.reserve(rung)

    def first_rung(self, rules: list[Planned], n_trials: int) -> None:
        plans = rules[:n_trials]
        plans += [Planned(None, 0, self.seed, "sampled")] * (n_trials - len(plans))
        later = range(1, self.fid.last + 1)
        self.total = n_trials + sum(self.fid.runs(i, n_trials) for i in later)
        for plan in plans:
            if not self.affordable(0):
                break
            self.run(plan)

    def rung(self, rung: int) -> None:
        """Run what ``rung`` needs, in waves (promoted first, then the LR re-search)."""
        tried: set[tuple[Any, int]] = set()
        while True:
            plans = next_runs(self.records, rung, self.fid, self.direction, seed=self.seed)
            plans = [p for p in plans if (p.spec and p.spec.to_json(), p.seed) not in tried]
            if not plans:
                return
            for plan in plans:
                if not self.affordable(rung):
                    return
                tried.add((plan.spec and plan.spec.to_json(), plan.seed))
                self.run(plan)

    def run(self, plan: Planned) -> None:
        if self.ctrl_c.is_set():  # a Ctrl-C that the code it met swallowed
            raise KeyboardInterrupt
        record = self.runner.run(plan)
        self.records.append(record)
        self.spent += record.steps_used
        self.done += 1
        self.pruned += record.state == "PRUNED"
        self.failed += record.state == "FAIL"
        if self.callback is not None:
            board = leaderboard(self.records, plan.rung, self.direction)
            self.callback(Progress(
                done=self.done, total=max(self.total, self.done), rung=plan.rung,
                best=board[0].score if board else None, pruned=self.pruned,
                failed=self.failed, elapsed=time.monotonic() - self.start,
                steps_used=self.spent, full_steps=self.runner.full_steps,
            ))
