"""``digits-cnn``: a small CNN trained from scratch on scikit-learn's bundled digits.

The guide's *scratch* scenario: SGD with momentum (0.9, weight decay 5e-4), batch 32,
the 8x8 digits split once into 1300 training and 497 validation images (the split is
fixed; the trial's seed sets the initialisation and the batch order). Reports and
returns the validation cross-entropy, which is smoother than the error rate and still
moves once the error rate has settled.
"""

from __future__ import annotations

from functools import cache, partial
from typing import TYPE_CHECKING, Any

from lradvisor.workloads._workload import Workload

if TYPE_CHECKING:
    import torch

    from lradvisor.search._context import TrialContext

__all__ = ["WORKLOAD", "digits_split", "train", "val_cross_entropy"]

VAL_SIZE = 497
BATCH_SIZE = 32
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4

WORKLOAD = Workload(
    name="digits-cnn",
    scenario="scratch",
    arch="cnn",
    optimizer="sgd",
    epochs=20,
    steps_per_epoch=(1797 - VAL_SIZE) // BATCH_SIZE,
    batch_size=BATCH_SIZE,
    dataset_size=1797 - VAL_SIZE,
    model_params=38_282,
    default_lr=0.05,
    metric="validation cross-entropy",
    trainable="lradvisor.workloads._digits_cnn:train",
    description="2-conv CNN from scratch on sklearn's 8x8 digits, SGD momentum 0.9.",
)


@cache
def digits_split() -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_val, y_val)`` CPU tensors, standardised, loaded once per process.

    Images are ``(n, 1, 8, 8)`` float32 scaled by the training set's mean and std.
    """
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.RandomState(0).permutation(len(data.target))
    images = data.images[order].astype(np.float32)[:, None]
    labels = data.target[order].astype(np.int64)
    x_val, x_train = images[:VAL_SIZE], images[VAL_SIZE:]
    mean, std = x_train.mean(), x_train.std()
    return (
        torch.from_numpy((x_train - mean) / std),
        torch.from_numpy(labels[VAL_SIZE:]),
        torch.from_numpy((x_val - mean) / std),
        torch.from_numpy(labels[:VAL_SIZE]),
    )


def val_cross_entropy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of ``model`` on ``(x, y)``: the value the digits workloads report."""
    import torch.nn.functional as F

    return float(F.cross_entropy(model(x), y).item())


class ShiftSampler:
    """An :class:`EpochSampler`'s batches, each image shifted by -1, 0 or 1 pixel each way.

    The augmentation keeps the training loss off zero, as in real from-scratch training,
    so the end of the schedule (annealing out the gradient noise) matters.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        import torch
        import torch.nn.functional as F

        from lradvisor.workloads._loop import EpochSampler

        padded = F.pad(x, (1, 1, 1, 1))
        self._batches = EpochSampler(padded, y, batch_size, seed)
        self._generator = torch.Generator().manual_seed(seed + 1)
        self._grid = torch.arange(x.shape[-1], device=x.device)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        padded, labels = self._batches()
        count = len(labels)
        shifts = torch.randint(0, 3, (2, count, 1), generator=self._generator).to(padded.device)
        rows = (shifts[0] + self._grid)[:, :, None]
        cols = (shifts[1] + self._grid)[:, None, :]
        batch = torch.arange(count, device=padded.device)[:, None, None]
        return padded[batch, 0, rows, cols][:, None], labels


def train(ctx: TrialContext) -> float:
    """Train the CNN for ``ctx.total_steps`` steps; returns the final validation cross-entropy.

    Example:
        >>> from lradvisor.workloads import run
        >>> final, curve = run("digits-cnn", "cosine", total_steps=120, device="cpu")
        >>> len(curve), final < 1.0
        (20, True)
    """
    import torch
    import torch.nn.functional as F

    from lradvisor.workloads._loop import fit, torch_threads
    from lradvisor.workloads._nets import DigitsCNN

    with torch_threads(ctx.device):
        x_train, y_train, x_val, y_val = (t.to(ctx.device) for t in digits_split())
        torch.manual_seed(ctx.seed)
        model = DigitsCNN().to(ctx.device)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=ctx.peak_lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
        )
        sample = ShiftSampler(x_train, y_train, BATCH_SIZE, ctx.seed)
        evaluate = partial(val_cross_entropy, x=x_val, y=y_val)
        return fit(ctx, model, optimizer, sample, F.cross_entropy, evaluate)
