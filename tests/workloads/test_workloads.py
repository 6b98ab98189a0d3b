"""The built-in workloads keep the trainable contract, each at a short length.

Real torch training on the CPU throughout; the optimizer's steps and LRs are read by a
torch optimizer hook, and the LRs checked against torch's own schedulers.
"""

from __future__ import annotations

import math
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from lradvisor.errors import LRAdvisorError
from lradvisor.schedules import ScheduleSpec
from lradvisor.workloads import WORKLOAD_NAMES, WORKLOADS, WorkloadError, get_workload, run

# Short lengths: enough steps for the contract, a fraction of a second each.
STEPS = {"digits-cnn": 40, "charlm": 20, "digits-finetune": 30, "tabular-mlp": 50}


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Pretrained weights go to a temporary cache, computed once for this module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LRADVISOR_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@contextmanager
def optimizer_lrs():
    """Record the first param group's LR at every ``optimizer.step()`` of any optimizer."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    lrs: list[float] = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"])
    )
    try:
        yield lrs
    finally:
        handle.remove()


def _cpu(name: str, spec: object, **kwargs: object) -> tuple[float, list[tuple[int, float]]]:
    return run(name, spec, total_steps=kwargs.pop("total_steps", STEPS[name]), device="cpu",
               **kwargs)


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_run_reports_a_finite_curve_ending_at_the_last_step(name: str) -> None:
    final, curve = _cpu(name, "cosine")
    steps = [step for step, _ in curve]
    assert math.isfinite(final)
    assert all(math.isfinite(value) for _, value in curve)
    assert len(curve) == min(20, STEPS[name])
    assert steps == sorted(set(steps)) and steps[-1] == STEPS[name]
    assert curve[-1][1] == final


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_same_seed_same_result_other_seed_other_result(name: str) -> None:
    first = _cpu(name, "cosine", seed=3)
    again = _cpu(name, "cosine", seed=3)
    other = _cpu(name, "cosine", seed=4)
    assert first == again
    assert other[0] != first[0]


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_schedule_changes_the_result(name: str) -> None:
    constant, _ = _cpu(name, "constant")
    cosine, _ = _cpu(name, "cosine")
    assert constant != cosine


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_takes_exactly_total_steps_at_torchs_cosine_lrs(name: str) -> None:
    peak, total = 0.5 * get_workload(name).default_lr, STEPS[name]
    with optimizer_lrs() as lrs:
        _cpu(name, ScheduleSpec.create("cosine", peak_lr=peak))
    reference_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    reference = CosineAnnealingLR(reference_opt, T_max=total)
    expected = []
    for _ in range(total):
        expected.append(reference_opt.param_groups[0]["lr"])
        reference_opt.step()
        reference.step()
    assert lrs == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_plateau_schedule_gets_its_metric_and_cuts_the_lr(name: str) -> None:
    peak = get_workload(name).default_lr
    spec = ScheduleSpec.create("plateau", peak_lr=peak, patience=0, threshold=0.5, factor=0.5)
    with optimizer_lrs() as lrs:
        final, _ = _cpu(name, spec)
    assert math.isfinite(final)
    assert len(lrs) == STEPS[name]
    assert lrs[0] == peak
    assert lrs[-1] < peak / 2  # at least two cuts, each from a reported metric


def test_spec_without_peak_lr_runs_at_the_workloads_default_lr() -> None:
    with optimizer_lrs() as lrs:
        _cpu("tabular-mlp", {"family": "constant", "params": {}})
    assert set(lrs) == {get_workload("tabular-mlp").default_lr}


def test_diverged_run_reports_the_non_finite_value_and_returns_inf() -> None:
    with optimizer_lrs() as lrs:
        final, curve = _cpu("digits-cnn", ScheduleSpec.create("constant", peak_lr=1e8))
    assert final == math.inf
    assert not math.isfinite(curve[-1][1])
    assert all(math.isfinite(value) for _, value in curve[:-1])
    assert len(lrs) == curve[-1][0] < STEPS["digits-cnn"]  # stopped at the divergence


def test_finetune_pretrains_once_then_reuses_the_cached_file(tmp_path, monkeypatch) -> None:
    from lradvisor.workloads import _digits_finetune

    monkeypatch.setenv("LRADVISOR_CACHE", str(tmp_path))
    first = _cpu("digits-finetune", "linear")
    [cached] = tmp_path.glob("digits-finetune-*.pt")
    written = cached.stat().st_mtime_ns
    _digits_finetune.pretrained_state.cache_clear()  # as a new process would start
    again = _cpu("digits-finetune", "linear")
    assert cached.stat().st_mtime_ns == written
    assert list(tmp_path.iterdir()) == [cached]  # no temporary files left
    assert again == first


def _bad_cache_file(kind: str, good: dict[str, torch.Tensor], path) -> None:
    if kind == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "other shapes":
        torch.save({k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in good.items()}, path)
    elif kind == "nan weights":
        torch.save({k: v * math.nan for k, v in good.items()}, path)
    else:
        torch.save(torch.zeros(3), path)


@pytest.mark.parametrize("kind", ["garbage", "other shapes", "nan weights", "not a dict"])
def test_finetune_recomputes_an_unusable_cache_file(tmp_path, monkeypatch, kind: str) -> None:
    from lradvisor.workloads._cache import recipe_key
    from lradvisor.workloads._digits_finetune import RECIPE, pretrained_state

    expected = _cpu("digits-finetune", "linear")  # from the module's clean cache
    good = pretrained_state(None)
    cached = tmp_path / f"digits-finetune-{recipe_key(RECIPE)}.pt"
    _bad_cache_file(kind, good, cached)
    monkeypatch.setenv("LRADVISOR_CACHE", str(tmp_path))
    assert _cpu("digits-finetune", "linear") == expected
    rewritten = torch.load(cached, weights_only=True)
    assert rewritten.keys() == good.keys()
    assert all(torch.equal(rewritten[k], good[k]) for k in good)


def test_finetune_runs_and_warns_when_the_cache_cannot_be_written(tmp_path, monkeypatch) -> None:
    expected = _cpu("digits-finetune", "linear")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LRADVISOR_CACHE", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="cannot cache the pretrained weights .*LRADVISOR_CACHE"):
        assert _cpu("digits-finetune", "linear") == expected
    assert blocker.read_text() == "not a directory"


def test_charlm_refuses_a_standard_library_without_all_its_sources(tmp_path) -> None:
    import shutil
    import sysconfig

    from lradvisor.workloads import _charlm

    stdlib = sysconfig.get_paths()["stdlib"]
    for name in _charlm.MODULES:
        shutil.copy(f"{stdlib}/{name}", tmp_path / name)
    assert _charlm.corpus(str(tmp_path)) == _charlm.corpus()
    (tmp_path / "typing.py").unlink()  # as on a Python that ships only typing.pyc
    with pytest.raises(LRAdvisorError, match=r"charlm needs .*typing\.py under"):
        _charlm.corpus(f"{tmp_path}/")  # another key: corpus() is cached by root


def test_unknown_workload_lists_the_valid_names() -> None:
    with pytest.raises(WorkloadError, match="unknown workload 'mnist'") as err:
        get_workload("mnist")
    assert isinstance(err.value, LRAdvisorError)
    for name in WORKLOAD_NAMES:
        assert name in str(err.value)
    with pytest.raises(WorkloadError):
        run("mnist", "cosine", total_steps=5)


def test_registry_entries_describe_their_trainables() -> None:
    assert tuple(WORKLOADS) == WORKLOAD_NAMES
    scenarios = {w.scenario for w in WORKLOADS.values()}
    assert scenarios == {"scratch", "pretrain", "finetune", "quick"}
    for workload in WORKLOADS.values():
        assert workload.train.__name__ == "train"
        assert workload.trainable.endswith(":train")
        assert workload.total_steps == workload.epochs * workload.steps_per_epoch
        assert workload.profile() == {
            "task": workload.scenario,
            "arch": workload.arch,
            "optimizer": workload.optimizer,
            "epochs": workload.epochs,
            "steps_per_epoch": workload.steps_per_epoch,
            "batch_size": workload.batch_size,
            "dataset_size": workload.dataset_size,
            "model_params": workload.model_params,
        }


def test_declared_sizes_match_the_data() -> None:
    from lradvisor.workloads import _charlm, _digits_cnn, _digits_finetune, _tabular_mlp

    assert len(_digits_cnn.digits_split()[0]) == get_workload("digits-cnn").dataset_size
    finetune_rows = len(_digits_finetune._finetune_split()[0])
    assert finetune_rows == get_workload("digits-finetune").dataset_size
    assert len(_tabular_mlp.diabetes_split()[0]) == get_workload("tabular-mlp").dataset_size
    assert len(_charlm.corpus()[0]) == get_workload("charlm").dataset_size
    for workload in WORKLOADS.values():
        if workload.name != "charlm":
            assert workload.steps_per_epoch == workload.dataset_size // workload.batch_size


def test_declared_model_sizes_match_the_models() -> None:
    from lradvisor.workloads import _charlm, _tabular_mlp
    from lradvisor.workloads._nets import MLP, CharTransformer, DigitsCNN

    features = _tabular_mlp.diabetes_split()[0].shape[1]
    models = {
        "digits-cnn": DigitsCNN(),
        "digits-finetune": DigitsCNN(classes=5),
        "tabular-mlp": MLP((features, _tabular_mlp.HIDDEN, _tabular_mlp.HIDDEN, 1)),
        "charlm": CharTransformer(_charlm.VOCAB, _charlm.CONTEXT, d_model=_charlm.D_MODEL),
    }
    for name, model in models.items():
        count = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert get_workload(name).model_params == count, name


def test_importing_the_registry_loads_neither_torch_nor_sklearn() -> None:
    code = (
        "import sys, lradvisor.workloads as w; w.get_workload('charlm').profile();"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_runs_on_the_gpu(name: str) -> None:
    final, curve = run(name, "cosine", total_steps=STEPS[name], device="cuda")
    assert math.isfinite(final) and len(curve) == min(20, STEPS[name])


def test_run_leaves_the_callers_thread_count_as_it_was() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _cpu("tabular-mlp", "cosine", total_steps=5)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
