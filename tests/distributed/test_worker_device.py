"""``lradvisor worker --device``: a device torch cannot train on here is refused before
the worker joins its study (one line, exit 2), not found out by its first trial."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.distributed.conftest import HERE, trials_of

ARGS = ["--trainable", f"{HERE / 'quick_trainable.py'}:train", "--task", "scratch",
        "--total-steps", "90", "--rungs", "0.2,1", "--study", "dev", "--trials", "2"]


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/s.db"
    made = run_cli("search", *ARGS, "--create-only", "--storage", url)
    assert made.returncode == 0, made.stderr
    return url


@pytest.mark.parametrize(("device", "says"), [
    ("bogus", "'bogus' is not a torch device (Expected one of cpu, cuda"),
    ("cuda:x", "'cuda:x' is not a torch device (Invalid device string: 'cuda:x')"),
    ("", "'' is not a torch device (Device string must not be empty)"),
])
def test_a_device_torch_cannot_parse_is_one_line_exit_2_and_no_trial(url, device, says):
    done = run_cli("worker", "--study", "dev", "--storage", url, "--device", device,
                   env={"LRADVISOR_TEST_SLEEP": "0.05"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"Error: Invalid value for '--device': {says}"), done.stderr
    assert trials_of(url, "dev") == []  # it never joined


@pytest.mark.skipif(_cuda_available(), reason="this machine has a CUDA GPU")
def test_cuda_on_a_machine_without_a_gpu_is_refused(url):
    done = run_cli("worker", "--study", "dev", "--storage", url, "--device", "cuda")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "Error: Invalid value for '--device': 'cuda': torch sees no CUDA GPU on this machine "
        "(use cpu, or leave --device out). (see `lradvisor worker --help`)")
    assert trials_of(url, "dev") == []


@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU")
def test_a_gpu_index_past_the_last_is_refused_and_cuda_0_runs(url):
    import torch

    count = torch.cuda.device_count()
    done = run_cli("worker", "--study", "dev", "--storage", url, "--device", f"cuda:{count}")
    assert done.returncode == 2, done.stderr
    assert f"torch sees {count} CUDA GPU(s) on this machine" in done.stderr
    ran = run_cli("worker", "--study", "dev", "--storage", url, "--device", "cuda:0",
                  env={"LRADVISOR_TEST_SLEEP": "0.05"})
    assert ran.returncode == 0, ran.stderr


def test_a_device_refused_before_a_spec_file_makes_the_study(tmp_path):
    spec = tmp_path / "dev.toml"
    spec.write_text(f'trainable = "{HERE / "quick_trainable.py"}:train"\ntask = "scratch"\n'
                    f'total_steps = 90\nstudy = "dev"\nstorage = "sqlite:///{tmp_path}/s.db"\n'
                    'trials = 2\nrungs = [0.2, 1.0]\n')
    done = run_cli("worker", "--spec", str(spec), "--device", "bogus")
    assert done.returncode == 2, done.stderr
    assert "'bogus' is not a torch device" in done.stderr
    assert not (tmp_path / "s.db").exists()
    ran = run_cli("worker", "--spec", str(spec), "--device", "cpu",  # the file is good
                  env={"LRADVISOR_TEST_SLEEP": "0.05"})
    assert ran.returncode == 0, ran.stderr
    assert trials_of(f"sqlite:///{tmp_path}/s.db", "dev") != []


def test_cpu_still_runs_the_study(url):
    done = run_cli("worker", "--study", "dev", "--storage", url, "--device", "cpu",
                   env={"LRADVISOR_TEST_SLEEP": "0.05"})
    assert done.returncode == 0, done.stderr
    assert {t.state.name for t in trials_of(url, "dev")} <= {"COMPLETE", "PRUNED"}


@pytest.mark.parametrize(("option", "value"), [
    ("--timeout", "-5"), ("--timeout", "0"), ("--timeout", "nan"), ("--patience", "-1"),
])
def test_a_time_limit_that_is_no_positive_number_is_one_line_exit_2(url, option, value):
    """Before, ``--timeout -5`` joined, ran nothing and exited 0; ``--patience -1`` was
    taken."""
    done = run_cli("worker", "--study", "dev", "--storage", url, option, value)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"Error: Invalid value for '{option}': "), done.stderr
    assert "is not a number of seconds > 0." in done.stderr
    assert trials_of(url, "dev") == []
