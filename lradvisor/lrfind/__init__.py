"""The LR range test (Smith 2017, fastai's ``lr_find``): a peak LR from one short sweep.

The trainable runs once with its LR growing exponentially from ``lr_min`` to ``lr_max``
over ``steps`` optimizer steps. Every loss it reports is smoothed (a debiased moving
average, as fastai's); the sweep stops as soon as the smoothed loss passes
``diverge`` times its best so far, or a loss is NaN or infinite. Three of fastai's
suggestion methods are read off the smoothed curve:

* ``valley``: about two thirds down the longest descending stretch (fastai's default);
* ``steep``: where the loss falls fastest per decade of LR;
* ``minimum``: a tenth of the LR at the lowest loss.

The three often disagree by 10x or more (``valley`` low, ``minimum`` high); their
geometric mean is the suggested peak LR, which measured more stable across seeds than
any one of them or their median. Its range runs from the lowest method's LR to the
highest (at least half to twice the peak), not up to the LR at the lowest loss, the
edge of divergence; ``disagreement`` says how far apart the methods are (highest /
lowest).

The trainable is the search's ``train(ctx)``: it must report the training loss often,
every step at best, through ``ctx.report(step, loss)``. The context's ``reports``
attribute is set to ``steps`` as a hint that it may. The built-in workloads report
their validation value 20 times per run, which is enough for a coarse curve.

The pure maths (the ramp, smoothing, the three methods, the suggestion) is in
``_curve`` and needs no torch; the sweep (``_sweep``) imports it; ``_result`` holds a
test's outcome and how several seeds' tests are read together.

Example:
    >>> lrs = [10 ** (-4 + i / 10) for i in range(40)]
    >>> losses = [2.0 - 0.02 * i if i < 30 else 1.4 + 0.5 * (i - 30) for i in range(40)]
    >>> sug = suggest_lr(list(range(1, 41)), lrs, losses, beta=0.0)
    >>> 1e-3 < sug.peak_lr < sug.high <= lrs[30]
    True
"""

from lradvisor.lrfind._curve import (
    MIN_POINTS,
    LRFindError,
    LRSuggestion,
    minimum,
    ramp_lr,
    ramp_multiplier,
    smooth,
    steep,
    suggest_lr,
    valley,
)
from lradvisor.lrfind._result import SEED_AGREEMENT, LRFindResult, combined, seed_agreement
from lradvisor.lrfind._sweep import SweepContext, check_seed, lr_find, trainable_failure

__all__ = [
    "MIN_POINTS",
    "SEED_AGREEMENT",
    "LRFindError",
    "LRFindResult",
    "LRSuggestion",
    "SweepContext",
    "check_seed",
    "combined",
    "lr_find",
    "minimum",
    "ramp_lr",
    "ramp_multiplier",
    "seed_agreement",
    "smooth",
    "steep",
    "suggest_lr",
    "trainable_failure",
    "valley",
]
