"""codegen: the ``torch:`` line names what ``build_scheduler`` returns; the code steps as
the run counts (per optimizer step, or per epoch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from lradvisor import ScheduleSpec, build_scheduler
from lradvisor.codegen import pytorch_code, torch_class_name
from lradvisor.errors import LRAdvisorError
from lradvisor.schedules import FAMILY_NAMES

# (family, params, total_steps): every non-adaptive family at its defaults, the two that
# once named the wrong class (parameters torch's class cannot express: a polynomial
# floor, a OneCycle phase of zero steps), and a few more.
DEFAULTS = [(name, {}, 100) for name in FAMILY_NAMES if name != "plateau"]
DECLINED = [("polynomial", {"end_ratio": 0.1}, 10), ("onecycle", {"pct_start": 0.1}, 10)]
CASES = DEFAULTS + DECLINED + [
    ("polynomial", {"end_ratio": 0.0}, 10),
    ("onecycle", {"pct_start": 0.3}, 100),
    ("onecycle", {"pct_start": 0.1, "three_phase": True}, 10),
    ("cosine", {"warmup_fraction": 0.1}, 100),
    ("cyclic", {"step_up_fraction": 0.2}, 50),
]

# Names every case without torch: the path ``lradvisor suggest`` takes.
_NAME_WITHOUT_TORCH = """
import json, sys
from lradvisor import ScheduleSpec
from lradvisor.codegen import torch_class_name
cases = json.loads(sys.argv[1])
names = [torch_class_name(ScheduleSpec.create(f, **p), n) for f, p, n in cases]
assert "torch" not in sys.modules, "torch was imported"
print(json.dumps(names))
"""


def _built(family: str, params: dict, total: int) -> str:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return type(build_scheduler(optimizer, ScheduleSpec.create(family, **params), total)).__name__


def test_torch_class_name_without_torch_is_what_build_scheduler_returns():
    proc = subprocess.run([sys.executable, "-c", _NAME_WITHOUT_TORCH, json.dumps(CASES)],
                          capture_output=True, text=True, check=True)
    named = json.loads(proc.stdout)
    assert named == [_built(*case) for case in CASES]
    assert named[len(DEFAULTS):len(DEFAULTS) + len(DECLINED)] == ["LambdaLR", "LambdaLR"]


@pytest.mark.parametrize(("family", "params", "total"), CASES)
def test_torch_class_name_with_torch_loaded_is_what_build_scheduler_returns(
        family: str, params: dict, total: int):
    spec = ScheduleSpec.create(family, **params)
    assert torch_class_name(spec, total) == _built(family, params, total)


def test_per_epoch_code_says_to_step_once_per_epoch():
    cosine = ScheduleSpec.create("cosine", peak_lr=0.1)
    per_epoch = pytorch_code(cosine, 10, "epoch")
    assert "# Call scheduler.step() once after every epoch." in per_epoch
    assert "total_steps=10)  # 10 epochs: one scheduler step per epoch" in per_epoch
    assert "optimizer.step()" in pytorch_code(cosine, 10)
    plateau = pytorch_code(ScheduleSpec.create("plateau"), 10, "epoch")
    assert "Once per epoch, after evaluating: scheduler.step(val_loss)." in plateau
    with pytest.raises(LRAdvisorError, match="'batch'"):
        pytorch_code(cosine, 10, "batch")


def test_a_spec_that_needs_a_length_asks_for_it_when_the_run_has_none():
    """Not ``total_steps=None  # open-ended`` (building it raised): a line to fill in."""
    code = pytorch_code(ScheduleSpec.create("wsd"), None)
    assert "total_steps = None  # set it: wsd needs the run's length (optimizer steps)" in code
    assert "open-ended" not in code
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    filled = code.replace("total_steps = None", "total_steps = 50")
    scope = {"optimizer": optimizer}
    exec(filled, scope)
    assert type(scope["scheduler"]).__name__ == torch_class_name(ScheduleSpec("wsd"), 50)
    open_ended = pytorch_code(ScheduleSpec.create("plateau"), None)
    assert "total_steps=None)  # unknown length: open-ended" in open_ended


def test_plateau_with_warmup_offers_no_per_epoch_stepping():
    """Its warmup counts scheduler steps: stepped per epoch, 500 steps of warmup would be
    500 epochs, so the code offers only per-step stepping."""
    warm = pytorch_code(ScheduleSpec.create("plateau", warmup_steps=500), None)
    assert "once per epoch" not in warm and "scheduler.observe(val_loss)" in warm
    cold = pytorch_code(ScheduleSpec.create("plateau"), None)
    assert "(or, stepping once per epoch: scheduler.step(val_loss))" in cold
