"""The policy in real training loops: plain PyTorch, PyTorch Lightning, HF ``Trainer``.

Lightning and HF are optional extras (``pip install -e .[test]`` installs them); a
missing one skips its tests with the reason.
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch

from lradvisor import ScheduleSpec
from lradvisor.plateau import PlateauDetector
from lradvisor.policy import SchedulePolicy


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5], [0.0]])
    return x, x @ w + 0.1 * torch.randn(n, 1, generator=g)


def test_plain_pytorch_loop_follows_the_recommended_curve() -> None:
    """The README's example: per-batch stepping, validation feeding observe()."""
    torch.manual_seed(0)
    x, y = _data()
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    policy = SchedulePolicy.from_rules({"task": "finetune", "epochs": 5, "steps_per_epoch": 8})
    scheduler = policy.attach(optimizer, epochs=5, steps_per_epoch=8)
    lrs = []
    for epoch in range(5):
        for i in range(8):
            xb, yb = x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]
            lrs.append(optimizer.param_groups[0]["lr"])
            loss = torch.nn.functional.mse_loss(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        with torch.no_grad():
            policy.observe((epoch + 1) * 8, torch.nn.functional.mse_loss(model(x), y).item())
    assert lrs == pytest.approx(policy.spec.curve(40), rel=1e-9, abs=1e-15)
    assert len(policy.history) == 5


def _wrap(scheduler, wrap: str):
    from torch.optim import lr_scheduler as tl

    opt = scheduler.optimizer
    if wrap == "sequential":
        return tl.SequentialLR(opt, [scheduler, tl.ExponentialLR(opt, 0.5)], milestones=[10])
    if wrap == "warmed":  # torch's warmup first, then ours
        return tl.SequentialLR(opt, [tl.LinearLR(opt, 0.5, total_iters=3), scheduler],
                               milestones=[3])
    return tl.ChainedScheduler([scheduler, tl.ExponentialLR(opt, 0.9)])


def _wrapped_lrs(outer, start: int, stop: int) -> list[float]:
    opt = outer.optimizer
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's step-order check on SGD
        for _ in range(start, stop):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            outer.step()
    return lrs


_WRAPPED = [("cosine", "sequential"), ("cosine", "chained"), ("wsd", "sequential"),
            ("wsd", "chained"), ("plateau", "sequential"), ("cosine", "warmed"),
            ("plateau", "warmed")]


def _ours_and_lambda_lr(family: str, wrap: str):
    spec = ScheduleSpec.create(family, warmup_steps=4, peak_lr=0.1)
    params = [torch.zeros(1, requires_grad=True)]
    ours = SchedulePolicy.from_spec(spec).attach(torch.optim.SGD(params, lr=1.0), 16)
    lambda_lr = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD(params, lr=0.1),
                                                  spec.multiplier_fn(16))
    return _wrap(ours, wrap), _wrap(lambda_lr, wrap)


@pytest.mark.parametrize(("family", "wrap"), _WRAPPED)
def test_torch_wrappers_step_the_policy_as_they_step_lambda_lr(family: str, wrap: str) -> None:
    """SequentialLR resets the LR to ``initial_lr`` before its first step, and a
    ChainedScheduler's neighbour scales it: a fixed schedule writes its own LR then, as
    LambdaLR over the same multiplier does (the first warmup step was the peak LR).
    (After warmup, plateau leaves another's LR alone between cuts, as ReduceLROnPlateau.)"""
    ours, reference = _ours_and_lambda_lr(family, wrap)
    assert _wrapped_lrs(ours, 0, 16) == pytest.approx(_wrapped_lrs(reference, 0, 16),
                                                      rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("stop", [2, 7, 12])  # before, at and after the wrapper's switch
@pytest.mark.parametrize(("family", "wrap"), _WRAPPED)
def test_torch_wrappers_around_the_policy_resume_exactly(family: str, wrap: str,
                                                         stop: int) -> None:
    """Loading a scheduler's state leaves the optimizer's LR alone, as torch's do: the
    wrapper's other scheduler may own it (writing ours gave 0.1 for 0.025 after the
    switch, and a negative LR before it)."""
    ours, reference = _ours_and_lambda_lr(family, wrap)
    expected = _wrapped_lrs(reference, 0, 16)
    head = _wrapped_lrs(ours, 0, stop)
    buffer = io.BytesIO()
    torch.save({"optimizer": ours.optimizer.state_dict(), "scheduler": ours.state_dict()},
               buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)
    resumed, _ = _ours_and_lambda_lr(family, wrap)
    resumed.optimizer.load_state_dict(ckpt["optimizer"])
    resumed.load_state_dict(ckpt["scheduler"])
    assert head + _wrapped_lrs(resumed, stop, 16) == pytest.approx(expected, rel=1e-12,
                                                                   abs=1e-15)


# -- PyTorch Lightning --------------------------------------------------------------------
def _lightning_module(policy: SchedulePolicy, monitor: str | None, length: dict):
    L = pytest.importorskip("lightning.pytorch", reason="lightning not installed "
                            "(optional extra: pip install lightning)")

    class Regression(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)
            self.lrs: list[float] = []

        def training_step(self, batch, batch_idx):
            self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])
            xb, yb = batch
            return torch.nn.functional.mse_loss(self.net(xb), yb)

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", 1.0)  # flat: a plateau as soon as one can be judged

        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
            return policy.lightning_config(optimizer, monitor=monitor, **length)

        def configure_callbacks(self):
            return [policy.lightning_callback(monitor)] if monitor else []

    return L, Regression()


def _fit(L, module, epochs: int, tmp_path) -> None:
    x, y = _data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0,
                        default_root_dir=tmp_path)
    trainer.fit(module, loader, loader)


def test_lightning_steps_a_per_step_policy_every_batch(tmp_path) -> None:
    spec = ScheduleSpec.create("cosine", warmup_fraction=0.25, peak_lr=0.05)
    policy = SchedulePolicy.from_spec(spec)
    L, module = _lightning_module(policy, None, {"epochs": 3, "steps_per_epoch": 4})
    _fit(L, module, 3, tmp_path)
    config = policy.lightning_config(torch.optim.SGD(module.parameters(), lr=0.1))
    assert config["lr_scheduler"]["interval"] == "step"
    assert module.lrs == pytest.approx(spec.curve(12), rel=1e-9, abs=1e-15)


def test_one_policy_serves_a_second_lightning_fit(tmp_path) -> None:
    """A notebook's second ``fit`` with the same policy: the policy attaches to the new
    optimizer (it handed back the first run's scheduler, which Lightning refused)."""
    spec = ScheduleSpec.create("cosine", warmup_fraction=0.25, peak_lr=0.05)
    policy = SchedulePolicy.from_spec(spec, total_steps=12)
    for _ in range(2):
        L, module = _lightning_module(policy, None, {})
        _fit(L, module, 3, tmp_path)
        assert module.lrs == pytest.approx(spec.curve(12), rel=1e-9, abs=1e-15)


def test_lightning_feeds_val_loss_to_a_per_step_plateau_policy(tmp_path) -> None:
    spec = ScheduleSpec.create("plateau", patience=3, factor=0.5, peak_lr=0.1)
    policy = SchedulePolicy.from_spec(spec)
    L, module = _lightning_module(policy, "val_loss", {"total_steps": 100})
    _fit(L, module, 6, tmp_path)
    assert [s for s, _ in policy.history] == [4, 8, 12, 16, 20, 24]  # once per validation
    assert policy.scheduler.last_epoch == 24  # stepped every batch, no metric
    assert policy.scheduler.cuts == [16]  # window 2: the 4th validation is the first plateau


def test_lightning_per_epoch_plateau_uses_its_own_monitor_path(tmp_path) -> None:
    spec = ScheduleSpec.create("plateau", patience=3, factor=0.5, peak_lr=0.1)
    policy = SchedulePolicy.from_spec(spec)
    L, module = _lightning_module(policy, "val_loss", {"epochs": 6})
    _fit(L, module, 6, tmp_path)
    sched = policy.scheduler
    assert sched.last_epoch == 6 and sched.cuts == [4]  # step(val_loss) once per epoch
    assert policy.history == []  # Lightning fed it, not the callback


# -- HuggingFace Trainer ------------------------------------------------------------------
class _TinyRegressor(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def forward(self, x, labels=None):
        out = self.net(x)
        loss = None if labels is None else torch.nn.functional.mse_loss(out, labels)
        return {"loss": loss, "logits": out}


def _hf_trainer(policy: SchedulePolicy, tmp_path, callbacks: list, max_steps: int):
    transformers = pytest.importorskip("transformers", reason="transformers not installed")
    pytest.importorskip("accelerate", reason="HF Trainer needs accelerate (optional extra)")
    x, y = _data()
    rows = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    model = _TinyRegressor()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=max_steps, per_device_train_batch_size=16,
        eval_strategy="steps", eval_steps=2, report_to=[], save_strategy="no",
        logging_strategy="no", use_cpu=True, disable_tqdm=True, seed=0,
    )
    return transformers.Trainer(
        model=model, args=args, train_dataset=rows, eval_dataset=rows[:16],
        optimizers=policy.hf_optimizers(optimizer, max_steps), callbacks=callbacks,
    )


def test_hf_trainer_steps_the_policy_once_per_optimizer_step(tmp_path) -> None:
    spec = ScheduleSpec.create("linear", warmup_fraction=0.2, peak_lr=1e-2)
    policy = SchedulePolicy.from_spec(spec)
    trainer = _hf_trainer(policy, tmp_path, [], max_steps=10)
    trainer.train()
    sched = trainer.lr_scheduler
    assert sched is policy.scheduler and sched.last_epoch == 10
    assert sched.get_last_lr()[0] == pytest.approx(spec.lr(10, 10))


def test_hf_callback_feeds_eval_loss_to_a_plateau_policy(tmp_path) -> None:
    spec = ScheduleSpec.create("plateau", patience=3, factor=0.5, peak_lr=1e-12)
    policy = SchedulePolicy.from_spec(spec, detector=PlateauDetector(2))
    trainer = _hf_trainer(policy, tmp_path, [policy.hf_callback("eval_loss")], max_steps=12)
    trainer.train()
    assert [s for s, _ in policy.history] == [2, 4, 6, 8, 10, 12]
    assert policy.scheduler.cuts == [8]  # an LR of 1e-12 leaves eval_loss flat
