"""``tabular-mlp``: a small MLP on scikit-learn's bundled diabetes regression.

The guide's *quick* (or unknown-length) scenario: a short run where a user rarely
knows the step count in advance. 442 patients, 10 standardised features, the disease
progression target standardised too; split once into 342 training and 100 validation
rows (the trial's seed sets the initialisation and the batch order). An MLP 10-64-64-1
trained with Adam (L2 weight decay 0.1 in the gradient, not AdamW's, so its strength
does not follow the LR), batch 16. Reports and returns the validation mean squared error
of the standardised target (1.0 is predicting the mean; a linear fit gets about 0.5).
"""

from __future__ import annotations

from functools import cache, partial
from typing import TYPE_CHECKING, Any

from lradvisor.workloads._workload import Workload

if TYPE_CHECKING:
    import torch

    from lradvisor.search._context import TrialContext

__all__ = ["WORKLOAD", "diabetes_split", "train"]

ROWS = 442
VAL_SIZE = 100
BATCH_SIZE = 16
HIDDEN = 64
WEIGHT_DECAY = 0.1  # L2 in the gradient (not AdamW): fixed strength whatever the LR

WORKLOAD = Workload(
    name="tabular-mlp",
    scenario="quick",
    arch="mlp",
    optimizer="adam",
    epochs=40,
    steps_per_epoch=(ROWS - VAL_SIZE) // BATCH_SIZE,
    batch_size=BATCH_SIZE,
    dataset_size=ROWS - VAL_SIZE,
    model_params=4_929,
    default_lr=1e-3,
    metric="validation mean squared error (standardised target)",
    trainable="lradvisor.workloads._tabular_mlp:train",
    description="MLP 10-64-64-1 on sklearn's diabetes regression, Adam.",
)


@cache
def diabetes_split() -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_val, y_val)`` CPU float32 tensors, standardised on training rows."""
    import numpy as np
    import torch
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order].astype(np.float32)[:, None]
    x_val, x_train, y_val, y_train = x[:VAL_SIZE], x[VAL_SIZE:], y[:VAL_SIZE], y[VAL_SIZE:]
    x_mean, x_std = x_train.mean(axis=0), x_train.std(axis=0)
    y_mean, y_std = y_train.mean(), y_train.std()
    return tuple(  # type: ignore[return-value]
        torch.from_numpy(a)
        for a in (
            (x_train - x_mean) / x_std,
            (y_train - y_mean) / y_std,
            (x_val - x_mean) / x_std,
            (y_val - y_mean) / y_std,
        )
    )


def val_mse(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of ``model`` on ``(x, y)``."""
    import torch.nn.functional as F

    return float(F.mse_loss(model(x), y).item())


def train(ctx: TrialContext) -> float:
    """Train the MLP for ``ctx.total_steps`` steps; returns the final validation MSE.

    Example:
        >>> from lradvisor.workloads import run
        >>> final, curve = run("tabular-mlp", "cosine", total_steps=100)
        >>> final < 1.0  # better than predicting the mean
        True
    """
    import torch
    import torch.nn.functional as F

    from lradvisor.workloads._loop import EpochSampler, fit, torch_threads
    from lradvisor.workloads._nets import MLP

    with torch_threads(ctx.device):
        x_train, y_train, x_val, y_val = (t.to(ctx.device) for t in diabetes_split())
        torch.manual_seed(ctx.seed)
        model = MLP((x_train.shape[1], HIDDEN, HIDDEN, 1)).to(ctx.device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=ctx.peak_lr, weight_decay=WEIGHT_DECAY
        )
        sample = EpochSampler(x_train, y_train, BATCH_SIZE, ctx.seed)
        evaluate = partial(val_mse, x=x_val, y=y_val)
        return fit(ctx, model, optimizer, sample, F.mse_loss, evaluate)
