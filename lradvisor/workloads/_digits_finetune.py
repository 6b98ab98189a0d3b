"""``digits-finetune``: a CNN pretrained on digits 0-4, fine-tuned on a few digits 5-9.

The guide's *finetune* scenario. Pretraining follows one fixed recipe (:data:`RECIPE`:
the ``digits-cnn`` network and augmentation on the training split's digits 0-4, SGD
with momentum under a cosine schedule, seed 0, on the CPU so the weights are the same
on every machine). Its weights are computed once, then kept on disk under
:func:`~lradvisor.workloads._cache.cache_dir` (keyed by a hash of the recipe) and in
memory. Fine-tuning replaces the head with a new 5-way one (initialised from the
trial's seed) and trains the whole network on only 240 training images of digits 5-9,
SGD with momentum, batch 16, so a too-high LR wipes out what pretraining learnt.
Reports and returns the validation cross-entropy on the validation split's digits 5-9.
"""

from __future__ import annotations

from functools import cache, partial
from typing import TYPE_CHECKING, Any

from lradvisor.workloads._workload import Workload

if TYPE_CHECKING:

    from lradvisor.search._context import TrialContext

__all__ = ["RECIPE", "WORKLOAD", "pretrained_state", "train"]

RECIPE: dict[str, Any] = {
    "version": 1,
    "classes": [0, 1, 2, 3, 4],
    "schedule": {"family": "cosine", "params": {}, "peak_lr": 0.05},
    "steps": 300,
    "batch_size": 32,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "seed": 0,
}
"""How the pretrained weights are made; its hash names the cache file."""
FINETUNE_SIZE = 240
BATCH_SIZE = 16
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4

WORKLOAD = Workload(
    name="digits-finetune",
    scenario="finetune",
    arch="cnn",
    optimizer="sgd",
    epochs=20,
    steps_per_epoch=FINETUNE_SIZE // BATCH_SIZE,
    batch_size=BATCH_SIZE,
    dataset_size=FINETUNE_SIZE,
    model_params=37_957,
    default_lr=0.03,
    metric="validation cross-entropy",
    trainable="lradvisor.workloads._digits_finetune:train",
    description="digits-cnn pretrained on digits 0-4 (cached), fine-tuned on 240 of 5-9, SGD.",
)


def _classes(x: Any, y: Any, classes: list[int]) -> tuple[Any, Any]:
    """The rows of ``(x, y)`` whose label is in ``classes``, relabelled ``0 .. len - 1``."""
    import torch

    wanted = torch.tensor(classes)
    keep = torch.isin(y, wanted)
    return x[keep], torch.searchsorted(wanted, y[keep])


def _pretrain() -> dict[str, Any]:
    """Run :data:`RECIPE` on the CPU: the feature extractor's ``state_dict``."""
    import torch
    import torch.nn.functional as F

    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search._context import TrialContext
    from lradvisor.workloads._digits_cnn import ShiftSampler, digits_split, val_cross_entropy
    from lradvisor.workloads._loop import fit, torch_threads
    from lradvisor.workloads._nets import DigitsCNN

    x_train, y_train, x_val, y_val = digits_split()
    x, y = _classes(x_train, y_train, RECIPE["classes"])
    x_check, y_check = _classes(x_val, y_val, RECIPE["classes"])
    ctx = TrialContext(
        ScheduleSpec.from_dict(RECIPE["schedule"]), RECIPE["steps"], seed=RECIPE["seed"]
    )
    with torch_threads("cpu"):
        torch.manual_seed(RECIPE["seed"])
        model = DigitsCNN(classes=len(RECIPE["classes"]))
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=ctx.peak_lr,
            momentum=RECIPE["momentum"],
            weight_decay=RECIPE["weight_decay"],
        )
        sample = ShiftSampler(x, y, RECIPE["batch_size"], RECIPE["seed"])
        evaluate = partial(val_cross_entropy, x=x_check, y=y_check)
        fit(ctx, model, optimizer, sample, F.cross_entropy, evaluate)
    return {k: v.detach().clone() for k, v in model.features.state_dict().items()}


@cache
def pretrained_state(directory: str | None = None) -> dict[str, Any]:
    """The pretrained feature extractor's weights: from memory, else disk, else computed.

    Args:
        directory: the cache directory; ``None`` is :func:`cache_dir` (read when called).
    """
    import warnings
    from pathlib import Path

    import torch

    from lradvisor.workloads._cache import CACHE_ENV, cache_dir, load_state, recipe_key, save_state
    from lradvisor.workloads._nets import DigitsCNN

    path = Path(directory or cache_dir()) / f"digits-finetune-{recipe_key(RECIPE)}.pt"
    with torch.device("meta"):  # shapes only: no memory, no draw from the global RNG
        like = DigitsCNN(classes=len(RECIPE["classes"])).features.state_dict()
    state = load_state(path, like=like)
    if state is None:
        state = _pretrain()
        try:
            save_state(path, state)
        except OSError as err:
            warnings.warn(
                f"digits-finetune: cannot cache the pretrained weights at {str(path)!r} "
                f"({err.strerror or err}); each new process pretrains again. "
                f"Set {CACHE_ENV} to a writable directory.",
                stacklevel=2,
            )
    return state


@cache
def _finetune_split() -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_val, y_val)`` of digits 5-9 relabelled 0-4, CPU tensors."""
    from lradvisor.workloads._digits_cnn import digits_split

    x_train, y_train, x_val, y_val = digits_split()
    x, y = _classes(x_train, y_train, [5, 6, 7, 8, 9])
    return (x[:FINETUNE_SIZE], y[:FINETUNE_SIZE], *_classes(x_val, y_val, [5, 6, 7, 8, 9]))


def train(ctx: TrialContext) -> float:
    """Fine-tune for ``ctx.total_steps`` steps; returns the final validation cross-entropy.

    The first call in a process on a machine without the cached weights pretrains
    (a few seconds) before the trial starts.

    Example:
        >>> from lradvisor.workloads import run
        >>> final, curve = run("digits-finetune", "linear", total_steps=30)
        >>> final < 1.0
        True
    """
    import torch
    import torch.nn.functional as F

    from lradvisor.workloads._cache import cache_dir
    from lradvisor.workloads._digits_cnn import ShiftSampler, val_cross_entropy
    from lradvisor.workloads._loop import fit, torch_threads
    from lradvisor.workloads._nets import DigitsCNN

    features = pretrained_state(str(cache_dir()))
    with torch_threads(ctx.device):
        x_train, y_train, x_val, y_val = (t.to(ctx.device) for t in _finetune_split())
        torch.manual_seed(ctx.seed)
        model = DigitsCNN(classes=5)
        model.features.load_state_dict(features)
        model.to(ctx.device)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=ctx.peak_lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
        )
        sample = ShiftSampler(x_train, y_train, BATCH_SIZE, ctx.seed)
        evaluate = partial(val_cross_entropy, x=x_val, y=y_val)
        return fit(ctx, model, optimizer, sample, F.cross_entropy, evaluate)
