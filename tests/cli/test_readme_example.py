"""The README's trainable (examples/train_digits.py) runs under a real `lradvisor search`."""

from __future__ import annotations

import json

from lradvisor.schedules import ScheduleSpec


def test_the_readme_trainable_searches_and_prints_a_full_run_pick(cli, tmp_path):
    proc = cli(
        "search", "--task", "scratch", "--arch", "mlp", "--optimizer", "sgd",
        "--total-steps", "200", "--trainable", "examples/train_digits.py:train",
        "--trials", "4", "--budget", "3", "--storage", f"sqlite:///{tmp_path}/ex.db",
        "--format", "json", timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    pick = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert pick["total_steps"] == 200
    spec = ScheduleSpec.from_dict({k: pick[k] for k in ("family", "params", "peak_lr")})
    assert spec.peak_lr > 0
