"""Golden LR tables against HF transformers' own schedules (``transformers.get_scheduler``).

Each case maps HF's arguments onto a spec (``num_warmup_steps`` -> ``warmup_steps``,
``lr_end`` -> ``end_ratio * peak``, ...); both our pure curve and our built scheduler
must give HF's LR at every step to 1e-9 relative.
"""

from __future__ import annotations

import pytest
from schedule_helpers import assert_close, built_lrs, reference_lrs

from lradvisor.schedules import ScheduleSpec

transformers = pytest.importorskip("transformers")

PEAK = 0.05
TOTAL = 100
WARMUP = 12


def _hf(name: str, warmup: int = WARMUP, total: int = TOTAL, **kwargs) -> list[float]:
    def factory(opt):
        return transformers.get_scheduler(
            name, opt, num_warmup_steps=warmup, num_training_steps=total,
            scheduler_specific_kwargs=kwargs or None,
        )

    return reference_lrs(factory, total, PEAK)


CASES = [
    ("linear", lambda: _hf("linear"), ScheduleSpec.create("linear", warmup_steps=WARMUP)),
    ("linear-no-warmup", lambda: _hf("linear", warmup=0), ScheduleSpec("linear")),
    ("cosine", lambda: _hf("cosine"), ScheduleSpec.create("cosine", warmup_steps=WARMUP)),
    ("constant_with_warmup", lambda: _hf("constant_with_warmup"),
     ScheduleSpec.create("constant", warmup_steps=WARMUP)),
    ("cosine_with_min_lr", lambda: _hf("cosine_with_min_lr", min_lr_rate=0.1),
     ScheduleSpec.create("cosine", warmup_steps=WARMUP, min_lr_ratio=0.1)),
    # Hard restarts: num_cycles equal cycles over the part after warmup is our SGDR with
    # t_mult=1 and t0 = (total - warmup) / num_cycles, exactly when that divides (else no
    # integer t0 maps). A power of two keeps HF's float `num_cycles * progress % 1.0` exact
    # at the restarts; for some counts (22 cycles: restart 15) it lands a hair below 1.0,
    # so HF shows ~0 for one step where a restart gives the peak.
    ("cosine_with_restarts", lambda: _hf("cosine_with_restarts", num_cycles=4),
     ScheduleSpec.create("cosine_restarts", warmup_steps=WARMUP, t_mult=1,
                         t0_steps=(TOTAL - WARMUP) // 4)),
    ("polynomial", lambda: _hf("polynomial", lr_end=1e-4, power=2.0),
     ScheduleSpec.create("polynomial", warmup_steps=WARMUP, power=2.0,
                         end_ratio=1e-4 / PEAK)),
    ("polynomial-linear", lambda: _hf("polynomial", lr_end=1e-7),
     ScheduleSpec.create("polynomial", warmup_steps=WARMUP, end_ratio=1e-7 / PEAK)),
    ("inverse_sqrt", lambda: _hf("inverse_sqrt", timescale=30),
     ScheduleSpec.create("inverse_sqrt", warmup_steps=WARMUP, timescale_steps=30)),
    ("inverse_sqrt-default-timescale", lambda: _hf("inverse_sqrt"),  # HF: timescale = warmup
     ScheduleSpec.create("inverse_sqrt", warmup_steps=WARMUP, timescale_steps=WARMUP)),
]
# warmup_stable_decay: HF warms up from min_lr_ratio (ours from warmup_start_factor) and
# takes the decay length in steps; every decay type.
CASES += [
    (f"wsd-{shape}",
     lambda shape=shape: _hf("warmup_stable_decay", num_decay_steps=25, decay_type=shape,
                             min_lr_ratio=0.05),
     ScheduleSpec.create("wsd", warmup_steps=WARMUP, warmup_start_factor=0.05,
                         decay_steps=25, decay_shape=shape, min_lr_ratio=0.05))
    for shape in ("linear", "cosine", "1-sqrt")
]
CASES += [
    ("wsd-default-fraction", lambda: _hf("warmup_stable_decay", num_decay_steps=18,
                                         decay_type="1-sqrt"),
     ScheduleSpec.create("wsd", warmup_steps=WARMUP)),  # 0.2 * (100 - 12) -> 18 steps
    ("wsd-decay-after-all-warmup", lambda: _hf("warmup_stable_decay", decay_type="cosine",
                                               num_decay_steps=TOTAL - WARMUP),
     ScheduleSpec.create("wsd", warmup_steps=WARMUP, decay_steps=TOTAL - WARMUP,
                         decay_shape="cosine")),  # the longest decay allowed: no stable part
]


@pytest.mark.parametrize(("name", "hf", "spec"), CASES, ids=[c[0] for c in CASES])
def test_curve_matches_transformers(name, hf, spec):
    """Our pure curve equals HF's LambdaLR at every step."""
    assert_close(spec.curve(TOTAL, peak_lr=PEAK), hf())


@pytest.mark.parametrize(("name", "hf", "spec"), CASES, ids=[c[0] for c in CASES])
def test_built_scheduler_matches_transformers(name, hf, spec):
    """Our built scheduler drives the same LRs as HF's."""
    _, ours = built_lrs(spec, TOTAL, PEAK)
    assert_close(ours, hf())
