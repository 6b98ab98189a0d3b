"""A trial's reports: judged in memory, written in batches, the same outcome as one by one.

Real Optuna studies on real SQLite files and PostgreSQL.
"""

from __future__ import annotations

import math
import re

import optuna
import pytest

from lradvisor.schedules import ScheduleSpec
from lradvisor.search import Fidelity, make_sampler
from lradvisor.search._pruner import PlateauPruner, make_pruner
from lradvisor.search._rungs import Planned
from lradvisor.search._space import SearchSpace
from lradvisor.search._trial import TrialRunner, buffers_reports
from lradvisor.storage import open_storage, write_trial_batch
from tests.distributed.conftest import fresh_pg_url, pg, pg_database  # noqa: F401 (fixtures)

REPORTS = [(0, 2.0), (10, 1.5), (20, math.nan), (30, math.inf), (40, -math.inf), (50, 0.25)]


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def storage_url(request, tmp_path):
    if request.param == "memory":  # not RDB: one call per value
        return optuna.storages.InMemoryStorage()
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return fresh_pg_url(request.getfixturevalue("pg"), request.getfixturevalue("pg_database"))


def _open(url):
    return url if isinstance(url, optuna.storages.BaseStorage) else open_storage(url)


def test_a_batch_writes_what_one_call_per_value_writes(storage_url):
    study = optuna.create_study(storage=_open(storage_url), study_name="b")
    batched, single = study.ask(), study.ask()
    batched.report(9.0, 10)  # a step written before the batch is overwritten, as Optuna does
    single.report(9.0, 10)
    attrs = {"rung": 1, "spec": ScheduleSpec.create("cosine").to_json(), "diverged": True}
    write_trial_batch(study._storage, batched._trial_id, REPORTS, attrs)
    for step, value in REPORTS:
        study._storage.set_trial_intermediate_value(single._trial_id, step, value)
    for key, value in attrs.items():
        single.set_user_attr(key, value)
    fresh = optuna.load_study(study_name="b", storage=_open(storage_url))
    a, b = (fresh.trials[t.number] for t in (batched, single))
    assert str(a.intermediate_values) == str(b.intermediate_values)  # nan == nan as text
    assert a.intermediate_values[10] == 1.5 and math.isnan(a.intermediate_values[20])
    assert a.intermediate_values[30] == math.inf and a.intermediate_values[40] == -math.inf
    assert a.user_attrs == b.user_attrs == attrs


def test_a_batch_to_a_finished_trial_is_refused_and_writes_nothing(tmp_path):
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    trial.report(1.0, 0)
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError, match="finished"):
        write_trial_batch(study._storage, trial._trial_id, [(5, 0.5)], {"late": 1})
    frozen = study.trials[0]
    assert frozen.intermediate_values == {0: 1.0} and "late" not in frozen.user_attrs


def _curve(ctx):
    """A noisy falling curve whose floor depends on the peak LR: some trials are pruned."""
    floor = 0.1 + abs(math.log10(ctx.peak_lr) + 1.5)
    value = math.nan
    for i in range(1, 21):
        step = i * ctx.total_steps // 20
        value = floor + 2.0 / i + 0.02 * math.sin(7 * i + 13 * ctx.peak_lr)
        ctx.report(step, value)
    return value


def _runner(url: str, flush_every: float, pruner=None) -> TrialRunner:
    study = optuna.create_study(storage=open_storage(url), study_name="c",
                                sampler=make_sampler("random", seed=0),
                                pruner=pruner or PlateauPruner(n_startup_trials=2))
    space = SearchSpace.build(["cosine", "linear"], lr_low=1e-3, lr_high=1.0)
    return TrialRunner(study, space, _curve, Fidelity(), 400, device="cpu",
                       flush_every=flush_every)


def _outcomes(runner: TrialRunner, n: int = 12):
    records = [runner.run(Planned(None, 0, 0, "sampled")) for _ in range(n)]
    stored = runner.study.trials
    return records, [(t.state, t.value, t.params, dict(t.intermediate_values),
                      t.user_attrs.get("steps_used")) for t in stored]


def test_buffered_reports_give_the_same_study_as_writing_each_report(tmp_path):
    buffered, buffered_trials = _outcomes(_runner(f"sqlite:///{tmp_path}/a.db", 3600.0))
    each, each_trials = _outcomes(_runner(f"sqlite:///{tmp_path}/b.db", 0.0))
    assert buffered_trials == each_trials
    assert [r.state for r in buffered] == [r.state for r in each]
    pruned = [t for t in buffered_trials if t[0] == optuna.trial.TrialState.PRUNED]
    assert pruned and any(len(t[3]) < 20 for t in pruned)  # cut mid-curve, all written


def test_a_running_trials_reports_reach_the_study_when_flushed(tmp_path):
    seen: dict[float, list[int]] = {}

    def watched(ctx):  # another connection reads the study while the trial runs
        other = optuna.load_study(study_name="c", storage=open_storage(url))
        seen[flush] = []
        for i in range(1, 6):
            ctx.report(i, 1.0 / i)
            seen[flush].append(len(other.trials[-1].intermediate_values))
        return 0.2

    for flush in (3600.0, 0.0):
        url = f"sqlite:///{tmp_path}/{flush}.db"
        runner = _runner(url, flush)
        runner.trainable = watched
        record = runner.run(Planned(ScheduleSpec.create("cosine", peak_lr=0.01), 0, 0, "x"))
        assert record.state == "COMPLETE"
        assert len(runner.study.trials[record.number].intermediate_values) == 5
    assert seen[3600.0] == [0, 0, 0, 0, 0]  # buffered until the trial ends
    assert seen[0.0] == [1, 2, 3, 4, 5]  # written as reported


def test_a_failing_trial_keeps_the_reports_it_made(tmp_path):
    def breaks(ctx):
        ctx.report(1, 0.5)
        ctx.report(2, 0.4)
        raise RuntimeError("out of memory")

    runner = _runner(f"sqlite:///{tmp_path}/s.db", 3600.0)
    runner.trainable = breaks
    record = runner.run(Planned(None, 0, 0, "sampled"))
    frozen = runner.study.trials[record.number]
    assert record.state == "FAIL"  # the error, and the line of the trainable it came from
    assert re.fullmatch(r"RuntimeError: out of memory \(at \S*test_trial_curve\.py:\d+ "
                        r"in breaks\)", record.error), record.error
    assert frozen.intermediate_values == {1: 0.5, 2: 0.4}


@pytest.mark.parametrize(("name", "buffered"), [
    ("plateau", True), ("median", True), ("patient", True), ("wilcoxon", True),
    ("none", True), ("successive_halving", False), ("hyperband", False)])
def test_pruners_that_keep_state_in_the_trial_see_every_report_written(name, buffered):
    assert buffers_reports(make_pruner(name)) is buffered


def test_hyperband_keeps_its_rung_decisions_with_reports_written_through(tmp_path):
    # Hyperband writes its rung decisions into the trial's system attributes and reads
    # them back at the next report: every trial climbs its rungs in order.
    runner = _runner(f"sqlite:///{tmp_path}/s.db", 3600.0,
                     optuna.pruners.HyperbandPruner(min_resource=40, max_resource=400))
    _, trials = _outcomes(runner, 16)
    stored = runner.study.trials
    assert any(t[0] == optuna.trial.TrialState.PRUNED for t in trials)
    for trial in stored:
        rungs = sorted(int(k.rsplit("_", 1)[1]) for k in trial.system_attrs
                       if k.startswith("completed_rung_"))
        assert rungs == list(range(len(rungs)))


def test_the_rules_configuration_is_never_pruned_on_its_way_up(tmp_path):
    # A pruner that stops every trial at its first check: the rules' run still completes.
    runner = _runner(f"sqlite:///{tmp_path}/s.db", 3600.0,
                     optuna.pruners.ThresholdPruner(upper=0.0))
    pick = ScheduleSpec.create("cosine", peak_lr=0.03)
    states = [runner.run(Planned(pick, rung, 0, origin)).state
              for rung, origin in [(0, "rules"), (0, "sampled"), (1, "rules"), (1, "promoted")]]
    assert states == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED"]


class _CountingStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, counting its reads of a study's trials."""

    reads = 0

    def _get_trials(self, *args, **kwargs):
        type(self).reads += 1
        return super()._get_trials(*args, **kwargs)


def test_a_sampled_trial_reads_the_study_once_then_the_pruner_rereads_after_its_refresh(
        tmp_path, monkeypatch):
    from lradvisor.search import _pruner

    study = optuna.create_study(storage=_CountingStorage(f"sqlite:///{tmp_path}/r.db"),
                                sampler=make_sampler("tpe", seed=0, startup=2),
                                pruner=PlateauPruner(n_startup_trials=1))
    space = SearchSpace.build(["cosine", "linear"], lr_low=1e-3, lr_high=1.0)
    runner = TrialRunner(study, space, _curve, Fidelity(), 400, device="cpu",
                         flush_every=3600.0)
    for _ in range(4):
        runner.run(Planned(None, 0, 0, "sampled"))
    before = _CountingStorage.reads
    runner.run(Planned(None, 0, 0, "sampled"))
    # the sampler's read of the study serves the pruner's first look at this trial
    assert _CountingStorage.reads - before == 1
    monkeypatch.setattr(_pruner, "_REFRESH_SECONDS", 0.0)
    before = _CountingStorage.reads
    record = runner.run(Planned(None, 0, 0, "sampled"))
    reads = _CountingStorage.reads - before
    reports = len(study.trials[record.number].intermediate_values)
    # past its first look, the pruner reads the study again once its refresh is due
    assert reports >= 2 and reads == reports


def test_a_repeated_step_warns_at_the_trainables_line(tmp_path):
    def repeats(ctx):
        ctx.report(1, 0.5)
        ctx.report(1, 0.4)  # the warning names this line, not lradvisor's
        return 0.4

    runner = _runner(f"sqlite:///{tmp_path}/s.db", 3600.0)
    runner.trainable = repeats
    with pytest.warns(UserWarning, match="already reported") as caught:
        record = runner.run(Planned(ScheduleSpec.create("cosine", peak_lr=0.01), 0, 0, "x"))
    assert record.state == "COMPLETE"
    assert caught[0].filename == __file__
    assert caught[0].lineno == repeats.__code__.co_firstlineno + 2


def test_ctx_scheduler_keeps_the_param_groups_ratios_under_the_trials_peak() -> None:
    import torch

    from lradvisor.search._context import TrialContext

    ctx = TrialContext(spec=ScheduleSpec.create("linear", peak_lr=0.4), total_steps=10)
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (0.002, 0.02)]
    opt = torch.optim.AdamW(params)
    ctx.scheduler(opt)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.04, 0.4])
