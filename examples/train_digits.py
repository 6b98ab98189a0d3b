"""A complete trainable for ``lradvisor search`` (the README's example).

    lradvisor search --task scratch --arch mlp --optimizer sgd --total-steps 600 \
        --trainable examples/train_digits.py:train --trials 16 --budget 3
"""

import torch
from sklearn.datasets import load_digits


def train(ctx):
    """Train an MLP on scikit-learn's digits for exactly ctx.total_steps steps."""
    torch.manual_seed(ctx.seed)
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32, device=ctx.device)
    y = torch.tensor(y, device=ctx.device)
    x_train, y_train, x_val, y_val = x[:1400], y[:1400], x[1400:], y[1400:]
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10)).to(ctx.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = ctx.scheduler(optimizer)  # sets the trial's peak LR and schedule
    batches = torch.Generator().manual_seed(ctx.seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    every = max(1, ctx.total_steps // 20)
    for step in range(1, ctx.total_steps + 1):
        idx = torch.randint(0, len(x_train), (64,), generator=batches).to(ctx.device)
        loss = loss_fn(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()  # once per optimizer step, for every family (plateau too)
        if step % every == 0 or step == ctx.total_steps:
            with torch.no_grad():
                val_loss = loss_fn(model(x_val), y_val).item()
            ctx.report(step, val_loss)  # may raise optuna.TrialPruned
    return val_loss
