"""Quick trainables for the distributed tests, loaded by workers as ``file.py:function``.

``train`` sleeps ``$LRADVISOR_TEST_SLEEP`` seconds (default 0.15) in three reports; its
value is a smooth function of the peak LR, so rungs and promotions behave as in a real
search. No torch: a worker that only runs these never imports it (``--device cpu``).
"""

from __future__ import annotations

import math
import os
import time


def train(ctx):
    """Report three decreasing values over ~``$LRADVISOR_TEST_SLEEP`` s; return the last."""
    pause = float(os.environ.get("LRADVISOR_TEST_SLEEP", "0.15")) / 3
    base = (math.log10(ctx.peak_lr) + 2.5) ** 2 + 0.1
    value = base
    for i in range(1, 4):
        time.sleep(pause)
        value = base * (1 + 1 / i) * (1 + 0.1 / (ctx.seed + 1))
        ctx.report(max(1, ctx.total_steps * i // 3), value)
    return value


def instant(ctx):
    """No work at all: what a trial costs in storage and orchestration alone."""
    value = (math.log10(ctx.peak_lr) + 2.5) ** 2
    ctx.report(ctx.total_steps, value)
    return value
