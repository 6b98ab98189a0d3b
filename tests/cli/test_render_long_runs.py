"""suggest's text and plot read only the steps they draw: a run of any length is shown
at once, in little memory (it built a list of every step: a billion-step run hung)."""

from __future__ import annotations

import tracemalloc

from click.testing import CliRunner

from lradvisor.cli import cli
from lradvisor.cli._render import LazyCurve, sampled
from lradvisor.schedules import ScheduleSpec


def test_lazy_curve_is_the_spec_curve():
    spec = ScheduleSpec.create("wsd", warmup_fraction=0.1, peak_lr=0.3)
    lazy = LazyCurve(spec, 257)
    assert len(lazy) == 257
    assert list(lazy) == spec.curve(257)
    assert lazy[-1] == spec.curve(257)[-1] and lazy[10:13] == spec.curve(257)[10:13]


def test_sampled_keeps_the_first_and_last_steps():
    steps, values = sampled(LazyCurve(ScheduleSpec.create("linear", peak_lr=1.0), 10**9))
    assert steps[0] == 0 and steps[-1] == 10**9 - 1 and len(steps) <= 2002
    assert values[0] == 1.0 and values[-1] < 1e-8


def test_text_of_a_ten_million_step_run_takes_little_memory():
    tracemalloc.start()
    try:
        result = CliRunner().invoke(cli, ["suggest", "--task", "scratch",
                                          "--total-steps", str(10**7)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    assert "9999999" in result.output  # the chart's last step
    assert peak < 20 * 2**20  # a list of every step alone is 80 MB


def test_plot_of_a_billion_step_run_is_written(tmp_path):
    out = tmp_path / "lr.png"
    result = CliRunner().invoke(cli, ["suggest", "--task", "scratch", "--total-steps",
                                      str(10**9), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
