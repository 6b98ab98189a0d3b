"""The LR range test: fastai's methods and smoothing, torch's exponential ramp, the stop
on divergence, seed agreement on a real trainable, bad input, and the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from lradvisor.cli import cli
from lradvisor.lrfind import (
    SEED_AGREEMENT,
    LRFindError,
    LRFindResult,
    lr_find,
    minimum,
    seed_agreement,
    smooth,
    steep,
    suggest_lr,
    valley,
)

HERE = __file__


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models


# -- trainables (loaded by path by the CLI test, as users load theirs) -------------------
def mlp_sweep(ctx):
    """A small MLP regression with SGD, training loss reported every step."""
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(256, 8, generator=gen)
    y = x @ torch.randn(8, 1, generator=gen) + 0.1 * torch.randn(256, 1, generator=gen)
    torch.manual_seed(ctx.seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=ctx.peak_lr, momentum=0.9)
    sched = ctx.scheduler(opt)
    order = torch.Generator().manual_seed(ctx.seed)
    loss = torch.tensor(math.nan)
    for step in range(1, ctx.total_steps + 1):
        idx = torch.randint(0, 256, (32,), generator=order)
        loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ctx.report(step, loss.item())
    return loss.item()


SEEN_LRS: list[float] = []


def lr_recorder(ctx):
    """Records the LR each optimizer step uses; reports a flat loss."""
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=123.0)  # the sweep must override the trainable's LR
    sched = ctx.scheduler(opt)
    SEEN_LRS.clear()
    for step in range(1, ctx.total_steps + 1):
        SEEN_LRS.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        ctx.report(step, 1.0)
    return 1.0


def blows_up(ctx):
    """Loss flat for 20 steps, then growing 50% a step: the sweep must stop early."""
    for step in range(1, ctx.total_steps + 1):
        ctx.report(step, 1.0 if step <= 20 else 1.5 ** (step - 20))
    return 0.0


def turns_nan(ctx):
    """Real SGD on a tiny regression whose loss turns NaN at step 41, as an overflow does."""
    w = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([w], lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    x = torch.linspace(-1, 1, 16).reshape(4, 4)
    for step in range(1, ctx.total_steps + 1):
        loss = ((x @ w - 1.0) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ctx.report(step, loss.item() if step <= 40 else math.nan)
    return 0.0


def reports_twice(ctx):
    """Too few reports to read."""
    ctx.report(1, 1.0)
    ctx.report(2, 0.5)
    return 0.5


# -- fastai's own functions (fastai/callback/schedule.py, nbs/14_callback.schedule.ipynb),
# as published, on torch tensors: the reference our pure versions must match ----------------
def fastai_valley(lrs, losses, num_it):
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx]), (float(lrs[idx]), losses[idx])


def fastai_minimum(lrs, losses, num_it):
    lr_min = lrs[losses.argmin()].item()
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_min))]
    return lr_min / 10, (lr_min, loss_idx)


def fastai_steep(lrs, losses, num_it):
    grads = (losses[1:] - losses[:-1]) / (lrs[1:].log() - lrs[:-1].log())
    lr_steep = lrs[grads.argmin()].item()
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_steep))]
    return lr_steep, (lr_steep, loss_idx)


def fastai_smooth(values, beta=0.98):
    """fastai's AvgSmoothLoss: ``val = lerp(loss, val, beta)``, debiased by ``1 - beta**n``."""
    val, out = torch.tensor(0.0, dtype=torch.float64), []
    for count, v in enumerate(values, start=1):
        val = torch.lerp(torch.tensor(v, dtype=torch.float64), val, beta)
        out.append(float(val / (1 - beta**count)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_methods_match_fastai(seed):
    gen = torch.Generator().manual_seed(seed)
    lrs = torch.logspace(-6, 1, 60, dtype=torch.float64)
    noise = 0.2 * torch.rand(60, generator=gen, dtype=torch.float64)
    bowl = (torch.log10(lrs) + 2) ** 2 / 10 + noise
    ls, xs = bowl.tolist(), lrs.tolist()
    assert valley(xs, ls) == fastai_valley(lrs, bowl, 60)[0]
    assert math.isclose(steep(xs, ls), fastai_steep(lrs, bowl, 60)[0], rel_tol=1e-12)
    assert math.isclose(minimum(xs, ls), fastai_minimum(lrs, bowl, 60)[0], rel_tol=1e-12)


def test_smoothing_every_step_is_fastais():
    values = [3.0 - 0.01 * i + 0.3 * math.sin(i) for i in range(80)]
    ours = smooth(list(range(1, 81)), values, 0.98)
    assert ours == pytest.approx(fastai_smooth(values), rel=1e-12)


def test_smoothing_sparse_reports_uses_beta_per_step():
    # a constant series stays constant, and a report every k steps weighs by beta ** k
    assert smooth([5, 10, 15], [2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])
    every = smooth([3, 6], [1.0, 0.0], 0.9)
    assert every[1] == pytest.approx(0.9**3 * (1 - 0.9**3) / (1 - 0.9**6))


def test_ramp_is_torchs_exponential_lr():
    steps, lo, hi = 30, 1e-5, 1.0
    result = lr_find(lr_recorder, lr_min=lo, lr_max=hi, steps=steps, beta=0.5, device="cpu")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lo)
    ref = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=(hi / lo) ** (1 / (steps - 1)))
    expected = []
    for _ in range(steps):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert pytest.approx(expected, rel=1e-9) == SEEN_LRS
    assert result.lrs == pytest.approx(expected, rel=1e-9)  # each loss paired with its LR
    assert result.stopped_at is None and result.steps_used == steps


def test_stops_when_smoothed_loss_passes_four_times_best():
    result = lr_find(blows_up, steps=60, beta=0.5, device="cpu")
    assert result.stopped_at is not None and result.stopped_at < 60
    sm = smooth(list(range(1, result.stopped_at + 1)), list(result.losses), 0.5)
    assert sm[-1] > 4 * min(sm) and all(v <= 4 * min(sm[: i + 1]) for i, v in enumerate(sm[:-1]))
    assert result.suggestion.high <= result.lrs[-1]


def test_seeds_agree_within_stated_factor():
    results = [lr_find(mlp_sweep, lr_min=1e-5, lr_max=100.0, steps=120, seed=s, device="cpu")
               for s in range(3)]
    assert all(r.stopped_at is not None for r in results)  # it did diverge: a real sweep
    assert seed_agreement(results) <= SEED_AGREEMENT
    for r in results:
        sug = r.suggestion
        assert sug.low <= sug.peak_lr <= sug.high < r.lrs[-1]
        methods = sug.methods.values()
        assert sug.disagreement == pytest.approx(max(methods) / min(methods))


def test_suggested_peak_trains_better_than_far_below_and_at_divergence():
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search import TrialContext

    result = lr_find(mlp_sweep, lr_min=1e-5, lr_max=100.0, steps=120, device="cpu")
    finals = {}
    for name, lr in (("peak", result.suggestion.peak_lr), ("low", result.suggestion.peak_lr / 100),
                     ("diverged", result.lrs[-1])):
        ctx = TrialContext(ScheduleSpec.create("cosine", peak_lr=lr), total_steps=150)
        finals[name] = mlp_sweep(ctx)
    assert finals["peak"] < finals["low"]
    assert not finals["diverged"] < finals["peak"]


def test_round_trip_and_png(tmp_path):
    result = lr_find(mlp_sweep, lr_min=1e-5, lr_max=100.0, steps=40, device="cpu")
    back = LRFindResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result
    path = result.save_png(tmp_path / "lr.png")
    assert path.stat().st_size > 5000


@pytest.mark.parametrize("kwargs, word", [
    ({"lr_min": 0}, "lr_min"), ({"lr_min": float("nan")}, "lr_min"), ({"lr_max": -1}, "lr_max"),
    ({"lr_min": 1.0, "lr_max": 0.1}, "lr_max must be above"), ({"steps": 3}, "steps"),
    ({"steps": 10.5}, "steps"), ({"diverge": 1.0}, "diverge"), ({"beta": 1.0}, "beta"),
    ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\], but got -1"),
])
def test_bad_arguments(kwargs, word):
    with pytest.raises(LRFindError, match=word):
        lr_find(mlp_sweep, **kwargs)


def test_too_few_reports_says_report_more():
    with pytest.raises(LRFindError, match="report the training loss more often"):
        lr_find(reports_twice, steps=20, device="cpu")
    with pytest.raises(LRFindError, match="needs a trainable"):
        lr_find()


def test_too_few_reports_states_the_real_minimum():
    """The message said 7 losses were needed; below 10 reports none is cut, so 5 do."""
    lrs = [10 ** (-5 + i) for i in range(5)]
    losses = [2.0, 1.5, 1.0, 0.9, 3.0]
    assert suggest_lr(list(range(1, 6)), lrs, losses, beta=0.0).peak_lr > 0
    with pytest.raises(LRFindError) as err:
        suggest_lr(list(range(1, 5)), lrs[:4], losses[:4], beta=0.0)
    assert str(err.value) == (
        "the range test got 4 loss report(s) (4 usable); it needs at least 5: report the "
        "training loss more often (every step) or sweep more steps.")
    with pytest.raises(LRFindError, match=r"\(3 usable, before the first non-finite one\); "
                       "it needs at least 5:"):
        suggest_lr(list(range(1, 6)), lrs, [*losses[:3], math.nan, 1.0], beta=0.0)


def test_a_workload_given_is_checked_beside_a_trainable():
    from lradvisor.workloads import WorkloadError

    with pytest.raises(WorkloadError, match="unknown workload 'nosuch'; allowed: digits-cnn"):
        lr_find(mlp_sweep, workload="nosuch", steps=20, device="cpu")


def test_a_sweep_that_diverges_at_once_says_so():
    """Real SGD started far above its stable LR blows up in its first steps; the error
    told the user to report more often, which they already did (every step)."""
    with pytest.raises(LRFindError) as err:
        lr_find(mlp_sweep, lr_min=1e4, lr_max=1e6, steps=40, device="cpu")
    message = str(err.value)
    assert message.startswith("the loss ") and "start the sweep lower (lr_min, got 10000.0)" \
        in message, message
    assert "report the training loss more often" not in message


def test_suggest_lr_ignores_points_after_nan():
    lrs = [10 ** (-5 + i / 8) for i in range(48)]
    losses = [2.0 - 0.03 * i for i in range(40)] + [math.nan] * 8
    sug = suggest_lr(list(range(48)), lrs, losses, beta=0.0)
    assert sug.high <= lrs[39]


def test_cli_text_json_and_plot(tmp_path):
    runner = CliRunner()
    args = ["lr-find", "--trainable", f"{HERE}:mlp_sweep", "--lr-min", "1e-5", "--lr-max", "100",
            "--steps", "60"]
    out = runner.invoke(cli, [*args, "--seeds", "2", "--plot", str(tmp_path / "c.png")])
    assert out.exit_code == 0, out.output
    assert "seeds agree within" in out.output and "Suggested peak LR" in out.output
    assert out.output.count("Suggested") == 1  # each seed's peak is on its own line
    assert re.search(r"^LR range test, seed 1: .*; peak LR ", out.output, re.MULTILINE)
    assert (tmp_path / "c.png").stat().st_size > 5000
    out = runner.invoke(cli, [*args, "--format", "json"])
    data = json.loads(out.output)
    assert data["suggestion"]["low"] <= data["suggestion"]["peak_lr"] <= data["suggestion"]["high"]
    assert len(data["runs"]) == 1
    out = runner.invoke(cli, ["lr-find"])
    assert out.exit_code == 2 and "--trainable" in out.output


def test_cli_text_prints_the_suggestion_once():
    """One seed's suggestion was printed twice: under the sweep's line and at the end."""
    out = CliRunner().invoke(cli, ["lr-find", "--trainable", f"{HERE}:mlp_sweep", "--lr-min",
                                   "1e-5", "--lr-max", "100", "--steps", "40"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("LR range test, seed 0: ") and "peak LR" not in lines[0]
    assert [line for line in lines if "Suggested" in line] == [lines[-2]]
    assert lines[-2].startswith("Suggested peak LR ")


def test_cli_json_is_strict_when_the_sweep_ends_in_nan():
    """The NaN loss that stopped the sweep was printed as a bare ``NaN``, which is not
    JSON (jq and JavaScript refuse it); it is the string "nan", which float() reads."""
    out = CliRunner().invoke(cli, ["lr-find", "--trainable", f"{HERE}:turns_nan",
                                   "--steps", "60", "--format", "json"])
    assert out.exit_code == 0, out.output

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(out.output, parse_constant=refuse)
    run = data["runs"][0]
    assert run["stopped_at"] == 41 and run["losses"][-1] == "nan"
    back = LRFindResult.from_dict(run)
    assert math.isnan(back.losses[-1]) and back.suggestion.to_dict() == run["suggestion"]


def test_search_lr_find_sets_the_peak_lr_range(tmp_path):
    from lradvisor.storage import load_study, open_storage

    url = f"sqlite:///{tmp_path / 's.db'}"
    out = CliRunner().invoke(cli, [
        "search", "--trainable", f"{HERE}:mlp_sweep", "--task", "quick", "--optimizer", "sgd",
        "--total-steps", "60", "--trials", "6", "--rungs", "0.5,1", "--storage", url,
        "--study", "lrf", "--lr-find",
    ])
    assert out.exit_code == 0, out.output
    study = load_study(open_storage(url), "lrf")
    found = LRFindResult.from_dict(study.user_attrs["lr_find"])
    space = study.user_attrs["space"]
    assert (space["lr_low"], space["lr_high"]) == (found.suggestion.low, found.suggestion.high)
    sampled = [json.loads(t.user_attrs["spec"])["peak_lr"] for t in study.trials
               if t.user_attrs.get("origin") == "sampled"]
    assert sampled and all(found.suggestion.low <= lr <= found.suggestion.high for lr in sampled)


@pytest.mark.parametrize("given, seed", [((), 7), (("--seed", "3"), 3)],
                         ids=["the study's", "given"])
def test_search_lr_find_on_a_resume_sweeps_with_the_seed_the_search_runs_with(
        tmp_path, given, seed):
    """A resume without --seed keeps the study's (ce53525): its sweep ran with seed 0."""
    from lradvisor.search import Fidelity, run_search
    from lradvisor.storage import load_study, open_storage

    url = f"sqlite:///{tmp_path / 's.db'}"
    profile = {"task": "quick", "optimizer": "sgd", "total_steps": 40}
    run_search(f"{HERE}:mlp_sweep", profile=profile, n_trials=1, storage=url, study_name="s",
               seed=7, fidelity=Fidelity(rungs=(0.5, 1.0)), device="cpu")
    out = CliRunner().invoke(cli, [
        "search", "--trainable", f"{HERE}:mlp_sweep", "--task", "quick", "--optimizer", "sgd",
        "--total-steps", "40", "--trials", "1", "--rungs", "0.5,1", "--storage", url,
        "--study", "s", "--lr-find", *given,
    ])
    assert out.exit_code == 0, out.output
    attrs = load_study(open_storage(url), "s").user_attrs
    assert attrs["lr_find"]["seed"] == seed
    assert attrs["seed"] == 7  # the study's own, kept


MARKED = """
import pathlib, sys
sys.path.insert(0, {tests!r})
from test_lrfind import mlp_sweep

def train(ctx):
    pathlib.Path(__file__).with_name("swept").write_text("the sweep ran")
    return mlp_sweep(ctx)
"""


@pytest.mark.parametrize("args, error", [
    ((), "Error: a search needs the full run's length"),
    (("--total-steps", "60", "--families", "nosuch"), "Error: unknown schedule family 'nosuch'"),
    (("--total-steps", "60", "--seed", "-1"),
     "Error: seed must be an integer in [0, 4294967295], but got -1."),
    (("--total-steps", "60", "--storage", "sqlite:///{blocker}/s.db"),
     "Error: cannot open study storage"),
], ids=["no length", "family", "seed", "storage"])
def test_search_lr_find_checks_its_settings_before_the_sweep(tmp_path, args, error):
    """The sweep (the user's training) ran first, and then the search refused its settings."""
    from tests.conftest import run_cli

    (tmp_path / "t.py").write_text(MARKED.format(tests=str(Path(HERE).parent)))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    given = [a.format(blocker=blocker) for a in args]
    base = ["--task", "quick", "--storage", f"sqlite:///{tmp_path / 's.db'}"]
    proc = run_cli("search", "--trainable", f"{tmp_path / 't.py'}:train", "--lr-find",
                   "--trials", "1", *base, *given)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(error), proc.stderr
    assert not (tmp_path / "swept").exists()


def test_the_search_range_stops_below_the_edge_of_divergence():
    # A clean sweep: the loss falls until LR 1e-1 and blows up after it.
    lrs = [10 ** (-6 + i / 10) for i in range(70)]
    losses = [2.0 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 3)) for lr in lrs[:50]]
    losses += [losses[-1] * (1.5 ** k) for k in range(1, 21)]
    sug = suggest_lr(list(range(70)), lrs, losses, beta=0.0)
    assert sug.lr_at_min_loss > sug.high  # the edge of divergence is not searched
    assert sug.high == max(max(sug.methods.values()), 2 * sug.peak_lr)
    assert sug.low <= sug.peak_lr <= sug.high


@pytest.mark.parametrize("args, error", [
    (("--seed", "-1"), "Error: seed must be an integer in [0, 4294967295], but got -1."),
    (("--seed", "4294967295", "--seeds", "2"),
     "Error: seed + seeds - 1 must be at most 4294967295, but got seed 4294967295 and "
     "seeds 2."),
    (("--workload", "nosuch"), "Error: unknown workload 'nosuch'; allowed: digits-cnn, "
     "charlm, digits-finetune, tabular-mlp."),
    (("--workload", "digits-cnn"), "Error: give --trainable or --workload, not both (got "),
], ids=["negative seed", "seeds past the last", "unknown workload", "both"])
def test_lr_find_refuses_its_settings_before_the_sweep(tmp_path, args, error):
    """A seed search refuses was taken, and --workload beside --trainable was ignored
    without a word, even a name that is no workload."""
    from tests.conftest import run_cli

    (tmp_path / "t.py").write_text(MARKED.format(tests=str(Path(HERE).parent)))
    proc = run_cli("lr-find", "--trainable", f"{tmp_path / 't.py'}:train", "--steps", "20",
                   *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(error), proc.stderr
    assert not (tmp_path / "swept").exists()


def test_the_sweep_keeps_param_groups_in_their_ratios() -> None:
    """A backbone at a tenth of its head is swept at a tenth of it: the ramp is the
    largest group's, as a search's peak is (it used to set every group alike)."""
    import torch

    from lradvisor.lrfind import SweepContext
    from lradvisor.schedules import ScheduleSpec

    ctx = SweepContext(spec=ScheduleSpec.create("constant", peak_lr=1e-5), total_steps=10,
                       lr_min=1e-5, lr_max=1e-1)
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (0.001, 0.01)]
    opt = torch.optim.SGD(params)
    sched = ctx.scheduler(opt)
    for _ in range(5):
        opt.step()
        sched.step()
    backbone, head = (g["lr"] for g in opt.param_groups)
    assert head == pytest.approx(1e-5 * (1e-1 / 1e-5) ** (5 / 9), rel=1e-6)  # the ramp
    assert backbone == pytest.approx(head / 10, rel=1e-12)


def test_cli_text_curve_shows_a_shallow_valley(tmp_path):
    """A loss that moves 10% around its level (digits-cnn's 2.25..2.35) is drawn over the
    chart's height, not as a flat line at its top (the y axis started at 0)."""
    from tests.conftest import run_cli

    (tmp_path / "t.py").write_text(
        "import math\n"
        "import torch\n\n\n"
        "def train(ctx):\n"
        "    w = torch.nn.Parameter(torch.zeros(1))\n"
        "    opt = torch.optim.SGD([w], lr=1.0)\n"
        "    sched = ctx.scheduler(opt)\n"
        "    for step in range(1, ctx.total_steps + 1):\n"
        "        x = math.log10(opt.param_groups[0]['lr'])\n"
        "        ctx.report(step, 2.3 - 0.05 * math.exp(-(x + 2) ** 2))\n"
        "        opt.step()\n"
        "        sched.step()\n"
        "    return 2.3\n"
    )
    proc = run_cli("lr-find", "--trainable", f"{tmp_path / 't.py'}:train", "--steps", "60",
                   "--lr-min", "1e-5", "--lr-max", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Smoothed loss")) + 1
    chart = lines[start:start + 10]
    rows_with_points = [line for line in chart if "*" in line.split("|", 1)[1]]
    assert len(rows_with_points) >= 5, "\n".join(chart)
    assert chart[-1].split("|")[0].strip(), "the bottom row names the lowest loss"



RAISES = """\
import torch


def load(step):
    raise ValueError(f"batch {step}\\nis empty")


def train(ctx, bad=None):
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=ctx.peak_lr)
    sched = ctx.scheduler(opt)
    for step in range(1, ctx.total_steps + 1):
        x = load(step) if step == bad == 7 else torch.ones(8, 3 if step == bad else 4)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ctx.report(step, loss.item())


def shapes(ctx):
    return train(ctx, bad=5)


def loads(ctx):
    return train(ctx, bad=7)
"""


@pytest.mark.parametrize("command", [
    ("lr-find", "--steps", "20"),
    ("search", "--lr-find", "--task", "quick", "--total-steps", "60", "--trials", "1"),
], ids=["lr-find", "search --lr-find"])
@pytest.mark.parametrize("function, error", [
    ("shapes", "RuntimeError: mat1 and mat2 shapes cannot be multiplied (8x3 and 4x1) "
               "(at {path}:14 in train)"),
    ("loads", "ValueError: batch 7 is empty (at {path}:5 in load)"),
], ids=["raised in torch", "raised in the file"])
def test_a_trainable_that_raises_is_one_line_naming_its_error_and_line(tmp_path, command,
                                                                       function, error):
    """It was a full traceback through click and lradvisor, exit 1. The line named is the
    innermost one in the trainable's file: the user's call for an error raised inside
    torch (line 14), the raise itself in a helper of theirs (line 5)."""
    from tests.conftest import run_cli

    path = tmp_path / "t.py"
    path.write_text(RAISES)
    storage = ("--storage", f"sqlite:///{tmp_path / 's.db'}") if command[0] == "search" else ()
    proc = run_cli(*command, "--trainable", f"{path}:{function}", *storage)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: lr-find: the trainable raised " + error.format(path=path)]


def test_lr_find_in_python_raises_the_trainables_own_error(tmp_path):
    """A library does not swallow it: the same exception, its traceback through the
    user's frames intact."""
    import traceback

    from lradvisor.search import load_trainable

    path = tmp_path / "t.py"
    path.write_text(RAISES)
    with pytest.raises(ValueError, match="^batch 7\nis empty$") as caught:
        lr_find(load_trainable(f"{path}:loads"), steps=20)
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert [(f.name, f.lineno) for f in frames[-3:]] == [("loads", 27), ("train", 13),
                                                          ("load", 5)]
