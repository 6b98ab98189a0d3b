"""The 'scheduler.step() before optimizer.step()' warning points at the caller's line."""

from __future__ import annotations

import warnings

import pytest
import torch

from lradvisor import ScheduleSpec
from lradvisor.policy import SchedulePolicy


@pytest.mark.parametrize("family", ["plateau", "wsd", "linear"])
@pytest.mark.parametrize("metric", [None, 1.0])
def test_the_step_order_warning_names_the_users_file(family, metric) -> None:
    """As torch's does, so `python -W error::UserWarning:train` and the printed location
    find the loop; AdaptiveDecayLR's pointed into lradvisor/policy/_adaptive.py."""
    opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr}
                           for lr in (0.1, 0.01)])
    sched = SchedulePolicy.from_spec(ScheduleSpec.create(family)).attach(opt, total_steps=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sched.step(metric)
    order = [w for w in caught if "before `optimizer.step()`" in str(w.message)]
    assert [w.filename for w in order] == [__file__]
