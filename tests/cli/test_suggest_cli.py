"""``lradvisor suggest`` and ``lradvisor schedules``: through CliRunner and real subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lradvisor.cli import cli as cli_group
from lradvisor.schedules import FAMILY_NAMES, ScheduleSpec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str):
    return CliRunner().invoke(cli_group, list(args), catch_exceptions=False)


def test_suggest_finetune_needs_nothing_else():
    result = invoke("suggest", "--task", "finetune")
    assert result.exit_code == 0, result.output
    assert "Why:" in result.output
    assert "LR curve" in result.output
    assert "scheduler = build_scheduler(optimizer, spec" in result.output


def test_suggest_text_shows_runners_up_and_the_length():
    result = invoke("suggest", "--task", "scratch", "--arch", "cnn",
                    "--epochs", "30", "--steps-per-epoch", "100")
    assert result.exit_code == 0, result.output
    assert "3000 steps" in result.output
    assert "Runners-up:" in result.output


def test_suggest_json_has_the_documented_fields():
    result = invoke("suggest", "--task", "pretrain", "--arch", "transformer",
                    "--total-steps", "20000", "--format", "json")
    data = json.loads(result.output)
    for key in ("family", "params", "peak_lr", "total_steps", "rationale", "rules",
                "alternatives", "prior"):
        assert key in data, key
    assert data["total_steps"] == 20000
    assert data["peak_lr"] > 0
    assert isinstance(data["rules"], list) and data["rules"]
    for alt in data["alternatives"]:
        assert {"family", "params", "peak_lr", "rationale", "rules"} <= set(alt)
    ScheduleSpec.from_dict({k: data[k] for k in ("family", "params", "peak_lr")})


def test_suggest_json_unknown_length_gives_null_total_steps():
    data = json.loads(invoke("suggest", "--task", "finetune", "--format", "json").output)
    assert data["total_steps"] is None


@pytest.mark.parametrize(
    "args",
    [
        ("--task", "scratch", "--arch", "cnn", "--total-steps", "500"),
        ("--task", "pretrain", "--arch", "transformer", "--total-steps", "800"),
        ("--task", "finetune"),
        ("--task", "quick", "--epochs", "5", "--steps-per-epoch", "40"),
        ("--task", "unknown-length"),
    ],
)
def test_suggest_python_runs_as_is_and_matches_the_spec(args):
    import torch

    code = invoke("suggest", *args, "--format", "python").output
    data = json.loads(invoke("suggest", *args, "--format", "json").output)
    spec = ScheduleSpec.from_dict({k: data[k] for k in ("family", "params", "peak_lr")})
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=123.0)
    namespace = {"optimizer": optimizer}
    exec(compile(code, "<suggest --format python>", "exec"), namespace)
    scheduler = namespace["scheduler"]
    steps = data["total_steps"] or 50
    expected = spec.curve(steps) if data["total_steps"] else [
        spec.lr(step, None) for step in range(steps)]
    got = []
    for _ in range(steps):
        got.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert got == pytest.approx(expected, rel=1e-9)


def test_suggest_plot_writes_a_png(tmp_path):
    out = tmp_path / "curve.png"
    result = invoke("suggest", "--task", "scratch", "--total-steps", "300", "--plot", str(out))
    assert result.exit_code == 0
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


def test_schedules_list_names_every_family():
    output = invoke("schedules", "list").output
    names = [line.split()[0] for line in output.splitlines() if line.strip()]
    assert names == list(FAMILY_NAMES)


def test_schedules_show_lists_parameters():
    output = invoke("schedules", "show", "cosine").output
    assert "min_lr_ratio" in output and "warmup_fraction" in output


def test_schedules_plot_draws_and_writes_png(tmp_path):
    out = tmp_path / "c.png"
    result = invoke("schedules", "plot", "cosine", "--total-steps", "200",
                    "--param", "warmup_fraction=0.1", "-o", str(out))
    assert result.exit_code == 0
    assert "*" in result.output
    assert out.read_bytes().startswith(PNG_MAGIC)


BAD_INPUT = [
    (("suggest", "--task", "bogus"), "bogus"),
    (("suggest", "--task", "finetune", "--arch", "lstm9"), "lstm9"),
    (("suggest", "--task", "finetune", "--optimizer", "lion9"), "lion9"),
    (("suggest", "--task", "finetune", "--total-steps", "0"), "0"),
    (("suggest", "--task", "finetune", "--total-steps", "-5"), "-5"),
    (("suggest", "--task", "finetune", "--total-steps", "2.5"), "2.5"),
    (("suggest", "--task", "finetune", "--epochs", "0", "--steps-per-epoch", "10"), "0"),
    (("suggest", "--task", "finetune", "--peak-lr", "0"), "0"),
    (("suggest", "--task", "finetune", "--peak-lr", "-1e-3"), "-1e-3"),
    (("suggest", "--task", "finetune", "--format", "yaml"), "yaml"),
    (("suggest", "--task", "pretrain", "--model-params", "66q"), "66q"),
    (("suggest", "--task", "pretrain", "--model-params", "0"), "'0'"),
    (("suggest", "--task", "pretrain", "--model-params", "1.5"), "1.5"),
    # past 2**53 steps: it was a traceback (OverflowError drawing the curve) from 2**63
    (("suggest", "--task", "scratch", "--total-steps", "99999999999999999999999"),
     "at most 2**53 = 9007199254740992 scheduler steps, but got --total-steps "
     "99999999999999999999999."),
    (("suggest", "--task", "scratch", "--epochs", "1000000000000", "--steps-per-epoch",
      "100000000000"), "--epochs x --steps-per-epoch = 1000000000000 x 100000000000"),
    (("suggest", "--task", "scratch", "--epochs", "99999999999999999999"),
     "but got --epochs 99999999999999999999."),
    (("schedules", "plot", "cosine", "--total-steps", "99999999999999999999"),
     "at most 2**53 = 9007199254740992 scheduler steps, but got --total-steps "
     "99999999999999999999."),
    (("schedules", "show", "cosinee"), "cosinee"),
    (("schedules", "plot", "cosine", "--param", "warmup_fraction=2"), "2"),
    (("schedules", "plot", "cosine", "--param", "bogus=1"), "bogus"),
    (("schedules", "plot", "cosine", "--total-steps", "0"), "0"),
    (("schedules", "plot", "wsd", "--total-steps", "100", "--param", "decay_steps=500"),
     "wsd.decay_steps must be an integer in [1, 100] (the steps of this run after warmup), "
     "but got 500."),
    (("schedules", "plot", "step", "--total-steps", "100", "--param", "step_steps=120",
      "--param", "warmup_steps=10"),
     "step.step_steps must be an integer in [1, 90] (the steps of this run after warmup), "
     "but got 120."),
]


@pytest.mark.parametrize(("args", "named"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2(cli, args, named):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert named in lines[-1]
    assert len([line for line in lines if line.startswith("Error")]) == 1


@pytest.mark.parametrize(("given", "peak"), [("65856", 0.0039), ("66k", 0.0039),
                                             ("125M", 0.00041), ("1.3B", 0.0002)])
def test_model_params_scale_a_transformer_pretraining_peak(cli, given, peak):
    proc = cli("suggest", "--task", "pretrain", "--arch", "transformer", "--optimizer",
               "adamw", "--total-steps", "1000", "--model-params", given, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    best = json.loads(proc.stdout)
    assert best["peak_lr"] == peak
    assert "lr-adam-pretrain-transformer-size" in best["rules"]


def test_malformed_rules_file_is_one_line_exit_2(cli, tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text("[[rule]]\nid = 'x'\nwhen = { task = 'finetune' \n")
    proc = cli("suggest", "--task", "finetune", "--rules", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "rules.toml" in proc.stderr


def test_python_m_behaves_as_the_console_script(cli):
    script = subprocess.run(
        [sys.executable, "-c", "import sys; from lradvisor.cli import main; "
         "sys.argv[0] = 'lradvisor'; main()", "suggest", "--task", "finetune",
         "--format", "json"],
        capture_output=True, text=True, check=True,
    )
    module = cli("suggest", "--task", "finetune", "--format", "json")
    assert module.returncode == 0
    assert json.loads(module.stdout) == json.loads(script.stdout)


@pytest.mark.parametrize("args", [("suggest", "--task", "finetune"), ("--help",),
                                  ("schedules", "list")])
def test_hot_paths_do_not_import_torch_or_optuna(args):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lradvisor", *args],
                          capture_output=True, text=True, check=True)
    imported = set(re.findall(r"\|\s+([\w.]+)\s*$", proc.stderr, flags=re.M))
    for heavy in ("torch", "optuna", "sklearn", "matplotlib"):
        assert heavy not in imported, f"{heavy} imported by {args}"


def test_suggest_epochs_alone_is_stepped_once_per_epoch():
    """``--epochs`` without steps per epoch is one scheduler step per epoch: the text, the
    JSON and the code say so, and the code stepped that way runs torch's cosine over the
    epochs (stepped per batch it would end after 10 batches and climb back)."""
    import torch
    from torch.optim.lr_scheduler import CosineAnnealingLR

    args = ("suggest", "--task", "scratch", "--epochs", "10", "--rules-only")
    text = invoke(*args).output
    assert "Recommended schedule (10 epochs, one scheduler step per epoch):" in text
    assert "once after every epoch" in text and "every optimizer.step()" not in text
    data = json.loads(invoke(*args, "--format", "json").output)
    assert (data["total_steps"], data["interval"]) == (10, "epoch")
    assert {alt["interval"] for alt in data["alternatives"]} == {"epoch"}
    code = invoke(*args, "--format", "python").output
    assert "# Call scheduler.step() once after every epoch." in code
    assert "optimizer.step()" not in code

    assert data["family"] == "cosine" and not data["params"]["warmup_fraction"]
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=123.0)
    namespace = {"optimizer": optimizer}
    exec(compile(code, "<suggest --format python>", "exec"), namespace)
    reference_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=data["peak_lr"])
    reference = CosineAnnealingLR(reference_opt, T_max=10,
                                  eta_min=data["params"]["min_lr_ratio"] * data["peak_lr"])
    got, expected = [], []
    for _epoch in range(10):
        for _batch in range(7):
            optimizer.step()
            reference_opt.step()
        got.append(optimizer.param_groups[0]["lr"])
        expected.append(reference_opt.param_groups[0]["lr"])
        namespace["scheduler"].step()  # once after every epoch, as the code says
        reference.step()
    assert got == pytest.approx(expected, rel=1e-9)
    assert got[-1] < got[0] / 10  # decayed over the 10 epochs, not over 10 batches


def test_suggest_a_known_number_of_steps_is_stepped_per_optimizer_step():
    for args in (("--total-steps", "10"), ("--epochs", "2", "--steps-per-epoch", "5")):
        data = json.loads(invoke("suggest", "--task", "scratch", *args, "--format",
                                 "json").output)
        assert (data["total_steps"], data["interval"]) == (10, "step")
        code = invoke("suggest", "--task", "scratch", *args, "--format", "python").output
        assert "# Call scheduler.step() once after every optimizer.step()." in code


POLYNOMIAL_RULE = """
[[rule]]
id = "test-polynomial-floor"
when = { task = "scratch", length = "known" }
family = "polynomial"
params = { end_ratio = 0.1 }
score = 1000
reason = "Polynomial decay to a tenth of the peak."
"""


def test_suggest_torch_line_names_the_class_build_scheduler_returns(cli, tmp_path):
    """polynomial with a floor is a LambdaLR (torch's PolynomialLR ends at 0), and the
    ``torch:`` line says so without importing torch."""
    import torch

    from lradvisor import build_scheduler

    rules = tmp_path / "rules.toml"
    rules.write_text(POLYNOMIAL_RULE)
    args = ("suggest", "--task", "scratch", "--total-steps", "10", "--rules", str(rules),
            "--rules-only")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lradvisor", *args],
                          capture_output=True, text=True, check=True)
    imported = set(re.findall(r"\|\s+([\w.]+)\s*$", proc.stderr, flags=re.M))
    assert "torch" not in imported
    data = json.loads(cli(*args, "--format", "json").stdout)
    assert data["family"] == "polynomial"
    spec = ScheduleSpec.from_dict({k: data[k] for k in ("family", "params", "peak_lr")})
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    built = type(build_scheduler(optimizer, spec, 10)).__name__
    assert built == "LambdaLR"
    assert f"  torch: {built}\n" in proc.stdout


def test_schedules_show_says_milestones_count_after_warmup():
    """A milestone at 0.5 with 10% warmup drops the LR at 0.55 of the run, as shown."""
    for family in ("multistep", "step"):
        assert "of the run after warmup" in invoke("schedules", "show", family).output
    for spec in (ScheduleSpec.create("multistep", milestones=(0.5,), warmup_fraction=0.1),
                 ScheduleSpec.create("step", step_fraction=0.5, warmup_fraction=0.1)):
        curve = spec.curve(100)
        assert [i for i in range(1, 100) if curve[i] < curve[i - 1] * 0.5] == [55]


def test_suggest_a_run_of_one_or_two_steps_reads_right():
    """It said "(1 steps)" and "(1 epochs, ...)", and labelled the x axis "00" for a
    one-step run and "01" for a two-step one (0 and the last step run together)."""
    one = invoke("suggest", "--task", "scratch", "--arch", "cnn", "--total-steps", "1")
    assert one.output.startswith("Recommended schedule (1 step):\n")
    lines = one.output.splitlines()
    axis = lines.index(next(line for line in lines if line.strip().startswith("+-")))
    assert lines[axis + 1].split() == ["0"]
    two = invoke("suggest", "--task", "scratch", "--arch", "cnn", "--total-steps", "2")
    lines = two.output.splitlines()
    axis = lines.index(next(line for line in lines if line.strip().startswith("+-")))
    assert lines[axis + 1].split() == ["0", "1"]
    epoch = invoke("suggest", "--task", "scratch", "--epochs", "1")
    assert epoch.output.startswith(
        "Recommended schedule (1 epoch, one scheduler step per epoch):\n")


@pytest.mark.parametrize("args", [
    ("--task", "finetune", "--arch", "transformer", "--epochs", "3"),
    ("--task", "scratch", "--arch", "cnn", "--optimizer", "sgd", "--epochs", "2",
     "--batch-size", "2048"),
    ("--task", "finetune", "--arch", "transformer", "--epochs", "30"),
])
def test_suggest_a_warmup_stepped_per_epoch_trains_in_its_first_epoch(args):
    """Stepped once per epoch, a warmup from 0 spent the whole first epoch at LR 0 (a
    third of a 3-epoch fine-tune, half of a 2-epoch large-batch run): the code, run with
    torch and stepped per epoch, now trains every epoch, ramping 1/(w+1) ... w/(w+1) to
    the peak, and the text counts the warmup in epochs."""
    import torch

    base = ("suggest", *args, "--rules-only")
    data = json.loads(invoke(*base, "--format", "json").output)
    assert data["interval"] == "epoch"
    code = invoke(*base, "--format", "python").output
    optimizer = torch.optim.AdamW([torch.zeros(2, requires_grad=True)], lr=1.0)
    namespace = {"optimizer": optimizer}
    exec(compile(code, "<suggest --format python>", "exec"), namespace)
    lrs = []
    for _epoch in range(data["total_steps"]):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        namespace["scheduler"].step()
    spec = ScheduleSpec.from_dict({k: data[k] for k in ("family", "params", "peak_lr")})
    warmup = spec.warmup_steps(data["total_steps"])
    assert warmup >= 1
    peak = data["peak_lr"]
    assert lrs[:warmup + 1] == pytest.approx(
        [peak * (i + 1) / (warmup + 1) for i in range(warmup)] + [peak], rel=1e-9)
    assert min(lrs) > 0
    text = invoke(*base).output
    assert "so its first epoch trains" in text
    assert "rounds to no step" not in text


def test_schedules_plot_of_a_billion_steps_is_drawn_in_little_memory(tmp_path):
    """It listed every step's LR first: a billion steps took 32 GB and half an hour
    (under a 1 GiB cap, a MemoryError traceback); suggest draws such a run at once."""
    out = tmp_path / "big.png"
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30));"
            "from lradvisor.cli import main; sys.argv[0] = 'lradvisor'; main()")
    proc = subprocess.run(
        [sys.executable, "-c", code, "schedules", "plot", "cosine", "--total-steps",
         "1000000000", "--param", "warmup_fraction=0.1"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.rstrip().endswith("999999999")  # the x axis: the last step
    result = invoke("schedules", "plot", "cosine", "--total-steps", "1000000000", "-o",
                    str(out))
    assert result.exit_code == 0 and out.read_bytes().startswith(PNG_MAGIC)


def test_schedules_show_names_the_class_build_scheduler_returns():
    """It said 'OneCycleLR without warmup, LambdaLR otherwise' for onecycle and cyclic,
    which take no warmup, 'ReduceLROnPlateau' where build_scheduler gives PlateauLR, and
    never that param groups of different LRs get LambdaLR."""
    import torch

    from lradvisor import build_scheduler

    for family in FAMILY_NAMES:
        output = invoke("schedules", "show", family).output
        line = output.splitlines()[2]
        assert line.startswith("torch: ")
        param = torch.zeros(1, requires_grad=True)
        plain = build_scheduler(torch.optim.SGD([param], lr=1.0), family, 1000)
        assert line.startswith(f"torch: {type(plain).__name__}"), line
        groups = torch.optim.SGD([{"params": [param], "lr": 0.1},
                                  {"params": [torch.zeros(1, requires_grad=True)]}], lr=1.0)
        if type(build_scheduler(groups, family, 1000)).__name__ == "LambdaLR" \
                and type(plain).__name__ != "LambdaLR":
            assert "LambdaLR" in line and "param groups of different LRs" in line, line
        native = type(plain).__name__ not in ("LambdaLR", "PlateauLR")
        assert ("with warmup" in line) == (native and "warmup_fraction" in output), line
