"""``lradvisor check``: each mistake found at its line, the seed's correct programs clean."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from lradvisor.checker import CODES, check_file, check_source, python_files
from lradvisor.cli._policy import check
from lradvisor.errors import LRAdvisorError

# The seed guide's programs (its indentation restored), completed into whole loops where
# the guide shows only the constructor: all correct, so no findings.
SEED_PROGRAMS = {
    "step_decay": """
        import torch.optim as optim
        from torch.optim.lr_scheduler import StepLR
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
        # LR: 0.1 → 0.01 (epoch 30) → 0.001 (epoch 60) → 0.0001 (epoch 90)
        for epoch in range(90):
            train(model, train_loader, optimizer)
            validate(model, val_loader)
            scheduler.step() # Call AFTER optimizer.step()
    """,
    "cosine": """
        from torch.optim.lr_scheduler import CosineAnnealingLR
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = CosineAnnealingLR(
            optimizer,
            T_max=100, # Cycle length (total epochs or half-cycle)
            eta_min=1e-6 # Minimum LR
        )
        for epoch in range(100):
            train(model, train_loader, optimizer)
            scheduler.step()
    """,
    "warm_restarts": """
        from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = CosineAnnealingWarmRestarts(
            optimizer,
            T_0=10, # First cycle length
            T_mult=2, # Each cycle is 2× as long as the previous
            eta_min=1e-6
        )
        for epoch in range(70):
            train(model, train_loader, optimizer)
            scheduler.step()
    """,
    "plateau": """
        from torch.optim.lr_scheduler import ReduceLROnPlateau
        scheduler = ReduceLROnPlateau(
            optimizer,
            mode='min', # Minimize validation loss
            factor=0.5, # Multiply LR by 0.5 when triggered
            patience=10, # Wait 10 epochs with no improvement
            min_lr=1e-6,
        )
        for epoch in range(num_epochs):
            train_loss = train(...)
            val_loss = validate(...)
            scheduler.step(val_loss) # Pass the metric to monitor
    """,
    "linear_warmup": """
        from torch.optim.lr_scheduler import LinearLR, SequentialLR, CosineAnnealingLR
        # Warmup for first 10% of training, then cosine annealing
        warmup_epochs = max(1, int(0.1 * total_epochs))
        warmup_scheduler = LinearLR(optimizer, start_factor=0.1, end_factor=1.0,
                                    total_iters=warmup_epochs)
        main_scheduler = CosineAnnealingLR(optimizer, T_max=total_epochs - warmup_epochs)
        scheduler = SequentialLR(optimizer,
                                 schedulers=[warmup_scheduler, main_scheduler],
                                 milestones=[warmup_epochs])
        for epoch in range(total_epochs):
            train(model, train_loader, optimizer)
            scheduler.step()
    """,
    "hf_warmup": """
        from transformers import get_linear_schedule_with_warmup
        # Linear warmup + linear decay (BERT-style)
        scheduler = get_linear_schedule_with_warmup(
            optimizer,
            num_warmup_steps=1000,
            num_training_steps=total_steps
        )
        for batch in train_loader:
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    """,
    "onecycle": """
        from torch.optim.lr_scheduler import OneCycleLR
        # Set up optimizer with low initial LR
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = OneCycleLR(
            optimizer,
            max_lr=0.1, # Peak LR
            steps_per_epoch=len(train_loader),
            epochs=25,
            pct_start=0.3, # 30% of training is warmup
            anneal_strategy='cos' # Cosine annealing
        )
        # Call every BATCH (not every epoch!)
        for epoch in range(25):
            for X_batch, y_batch in train_loader:
                loss = criterion(model(X_batch), y_batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step() # Per-step for OneCycleLR
    """,
    "checkpoint_with_scheduler": """
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
        scheduler = get_cosine_schedule_with_warmup(optimizer, 100, 1000)
        for step, batch in enumerate(loader):
            model(batch).loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict()}, "ckpt.pt")
    """,
    "lightning_returns_it": """
        class Module(L.LightningModule):
            def configure_optimizers(self):
                optimizer = torch.optim.AdamW(self.parameters(), lr=1e-3)
                scheduler = OneCycleLR(optimizer, max_lr=1e-3, total_steps=1000)
                return {"optimizer": optimizer,
                        "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
    """,
}

# (program, expected (line, code) findings); line 1 is the first line of the program.
MISTAKES = {
    "step_before_optimizer": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)
        for epoch in range(30):
            for x, y in loader:
                scheduler.step()
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
    """, [(5, "LRA001")]),
    "step_at_top_of_epoch": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = CosineAnnealingLR(optimizer, T_max=30)
        for epoch in range(30):
            scheduler.step()
            for x, y in loader:
                loss_fn(model(x), y).backward()
                optimizer.step()
    """, [(4, "LRA001")]),
    "onecycle_per_epoch": ("""
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, steps_per_epoch=len(train_loader),
                               epochs=25)
        for epoch in range(25):
            for X_batch, y_batch in train_loader:
                loss = criterion(model(X_batch), y_batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            scheduler.step()
    """, [(10, "LRA002")]),
    "hf_schedule_per_epoch_in_train_fn": ("""
        scheduler = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=500,
                                                    num_training_steps=total_steps)
        for epoch in range(num_epochs):
            train_one_epoch(model, loader, optimizer)
            scheduler.step()
    """, [(5, "LRA002")]),
    "batch_length_cosine_per_epoch": ("""
        optimizer = torch.optim.AdamW(model.parameters())
        scheduler = CosineAnnealingLR(optimizer, T_max=len(loader) * epochs)
        for epoch in range(epochs):
            for batch in loader:
                model(batch).backward()
                optimizer.step()
            scheduler.step()
    """, [(7, "LRA002")]),
    "plateau_without_metric": ("""
        scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=5)
        for epoch in range(50):
            train(model, optimizer)
            val_loss = validate(model)
            scheduler.step()
    """, [(5, "LRA003")]),
    "seed_plateau_verbatim_verbose": ("""
        from torch.optim.lr_scheduler import ReduceLROnPlateau
        scheduler = ReduceLROnPlateau(
            optimizer,
            mode='min', # Minimize validation loss
            factor=0.5, # Multiply LR by 0.5 when triggered
            patience=10, # Wait 10 epochs with no improvement
            min_lr=1e-6,
            verbose=True
        )
        for epoch in range(num_epochs):
            train_loss = train(...)
            val_loss = validate(...)
            scheduler.step(val_loss) # Pass the metric to monitor
    """, [(8, "LRA004")]),
    "step_with_epoch_and_get_lr": ("""
        scheduler = StepLR(optimizer, step_size=10)
        for epoch in range(30):
            train(model, optimizer)
            scheduler.step(epoch)
            print(scheduler.get_lr())
    """, [(4, "LRA004"), (5, "LRA004")]),
    "never_stepped": ("""
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        scheduler = CosineAnnealingLR(optimizer, T_max=100)
        for epoch in range(100):
            for x, y in loader:
                loss_fn(model(x), y).backward()
                optimizer.step()
            print(scheduler.get_last_lr())
    """, [(2, "LRA005")]),
    "checkpoint_without_scheduler": ("""
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
        scheduler = get_linear_schedule_with_warmup(optimizer, 100, 1000)
        for step, batch in enumerate(loader):
            model(batch).loss.backward()
            optimizer.step()
            scheduler.step()
            if step % 100 == 0:
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
                torch.save(state, f"ckpt-{step}.pt")
    """, [(9, "LRA006")]),
    "self_attributes_in_a_trainer_class": ("""
        class Trainer:
            def __init__(self, model):
                self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                self.scheduler = OneCycleLR(self.optimizer, max_lr=0.1, total_steps=1000)

            def train_step(self, batch):
                self.scheduler.step()
                self.model(batch).backward()
                self.optimizer.step()
    """, [(7, "LRA001")]),
    # Imported under another name (it was not recognised, so nothing was found).
    "aliased_plateau_without_metric": ("""
        from torch.optim.lr_scheduler import ReduceLROnPlateau as Plateau
        optimizer = torch.optim.Adam(model.parameters())
        scheduler = Plateau(optimizer)
        for epoch in range(10):
            train(model, optimizer)
            scheduler.step()
    """, [(6, "LRA003")]),
    "aliased_onecycle_per_epoch": ("""
        from torch.optim.lr_scheduler import OneCycleLR as OneCycle
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = OneCycle(optimizer, max_lr=0.1, total_steps=500)
        for epoch in range(5):
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
            sched.step()
    """, [(8, "LRA002")]),
    # A key or a variable whose name contains "scheduler" is not the scheduler's state.
    "checkpoint_with_scheduler_name_only": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler_name = "cosine"
        scheduler = CosineAnnealingLR(optimizer, T_max=10)
        for epoch in range(10):
            train(model, optimizer)
            scheduler.step()
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler_name},
                       "ckpt.pt")
    """, [(7, "LRA006")]),
    # AMP: scaler.step(optimizer) is the optimizer's step.
    "step_before_scaler_step": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=5 * len(loader))
        for epoch in range(5):
            for x in loader:
                scaler.scale(model(x).sum()).backward()
                scheduler.step()
                scaler.step(optimizer)
                scaler.update()
    """, [(6, "LRA001")]),
    "hf_schedule_per_epoch_loop_named_e": ("""
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
        scheduler = get_linear_schedule_with_warmup(optimizer, 10, 3 * len(loader))
        for e in range(3):
            for x in loader:
                scaler.scale(model(x).sum()).backward()
                scaler.step(optimizer)
                scaler.update()
            scheduler.step()
    """, [(8, "LRA002")]),
    "checkpoint_by_torch_alias_and_dict_call": ("""
        import torch as T
        optimizer = T.optim.SGD(model.parameters(), lr=0.1)
        scheduler = StepLR(optimizer, step_size=30)
        for epoch in range(100):
            train(model, optimizer)
            scheduler.step()
            T.save({"optimizer": optimizer.state_dict()}, "a.pt")
            ckpt = dict(model=model.state_dict(), optimizer=optimizer.state_dict())
            torch.save(ckpt, "b.pt")
    """, [(7, "LRA006"), (9, "LRA006")]),
    # LRA007: a length in epochs (or one epoch's batches) stepped once per batch.
    "onecycle_total_steps_in_epochs_stepped_per_batch": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=args.epochs)
        for epoch in range(args.epochs):
            for x, y in train_loader:
                loss_fn(model(x), y).backward()
                optimizer.step()
                optimizer.zero_grad()
                scheduler.step()
    """, [(2, "LRA007")]),
    "onecycle_one_epoch_of_batches_in_an_epoch_loop": ("""
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scheduler = OneCycleLR(optimizer, 1e-3, len(train_loader))
        for epoch in range(1, num_epochs + 1):
            for i, (x, y) in enumerate(tqdm(train_loader, desc=f"epoch {epoch}")):
                loss_fn(model(x), y).backward()
                optimizer.step()
                scheduler.step()
    """, [(2, "LRA007")]),
    "onecycle_epochs_without_steps_per_epoch": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1,
                               epochs=EPOCHS)
        for epoch in range(EPOCHS):
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
                scheduler.step()
    """, [(3, "LRA007")]),
    "cosine_t_max_in_epochs_stepped_per_batch": ("""
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
        scheduler = CosineAnnealingLR(optimizer, T_max=cfg["epochs"] - warmup_epochs)
        for epoch in range(cfg["epochs"]):
            for step_in_epoch, batch in enumerate(train_loader):
                model(batch).loss.backward()
                if (step_in_epoch + 1) % accumulate == 0:
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
    """, [(2, "LRA007")]),
    "hf_training_steps_in_epochs_through_a_name": ("""
        num_training_steps = args.num_train_epochs
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
        lr_scheduler = get_linear_schedule_with_warmup(optimizer, 100, num_training_steps)
        for epoch in range(args.num_train_epochs):
            for batch in train_dataloader:
                model(**batch).loss.backward()
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
    """, [(3, "LRA007")]),
    "hf_get_scheduler_one_epoch_stepped_over_many": ("""
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
        lr_scheduler = get_scheduler("linear", optimizer=optimizer, num_warmup_steps=0,
                                     num_training_steps=len(train_dataloader))
        for epoch in range(num_epochs):
            for batch in train_dataloader:
                model(**batch).loss.backward()
                optimizer.step()
                lr_scheduler.step()
    """, [(3, "LRA007")]),
    "linear_warmup_in_epochs_stepped_per_batch": ("""
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        warmup = LinearLR(optimizer, start_factor=0.01, total_iters=max(1, int(0.1 * epochs)))
        for epoch in range(epochs):
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
                warmup.step()
    """, [(2, "LRA007")]),
}

# Correct programs the check once flagged; each names what it was flagged with.
CORRECT_PROGRAMS = {
    "plateau_lr_stepped_per_batch_and_observed__LRA003": """
        scheduler = PlateauLR(optimizer, warmup_steps=100)
        for epoch in range(epochs):
            for xb, yb in loader:
                loss_fn(model(xb), yb).backward()
                optimizer.step()
                scheduler.step()
            scheduler.observe(validate(model))
    """,
    "adaptive_decay_stepped_with_its_metric__LRA004": """
        sched = AdaptiveDecayLR(optimizer, warmup_steps=2)
        for epoch in range(epochs):
            train(model, optimizer)
            optimizer.step()
            sched.step(validate(model))
    """,
    "readme_policy_saves_policy_state__LRA006": """
        policy = SchedulePolicy.from_rules(profile)
        optimizer = torch.optim.AdamW(model.parameters())
        scheduler = policy.attach(optimizer, epochs=epochs, steps_per_epoch=steps)
        for epoch in range(epochs):
            for xb, yb in train_loader:
                loss_fn(model(xb), yb).backward()
                optimizer.step()
                scheduler.step()
            torch.save({"optimizer": optimizer.state_dict(),
                        "policy": policy.state_dict()}, "ckpt.pt")
    """,
    "tqdm_desc_names_the_epoch__LRA002": """
        scheduler = OneCycleLR(optimizer, max_lr=1e-3, total_steps=epochs * len(loader))
        for epoch in range(epochs):
            for x in tqdm(loader, desc=f"Epoch {epoch}"):
                model(x).sum().backward()
                optimizer.step()
                scheduler.step()
    """,
    "hf_classic_epoch_iterator__LRA002": """
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
        scheduler = get_linear_schedule_with_warmup(optimizer, 0, t_total)
        for _ in train_iterator:
            epoch_iterator = tqdm(train_dataloader, desc="Iteration")
            for step, batch in enumerate(epoch_iterator):
                model(batch).sum().backward()
                optimizer.step()
                scheduler.step()
    """,
    "step_kept_in_a_hook_list__LRA001_LRA004": """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=100)
        after_step = []
        after_step.append(scheduler.step)
        for x in loader:
            model(x).sum().backward()
            optimizer.step()
            for hook in after_step:
                hook()
    """,
    "step_in_an_optimizer_hook_lambda__LRA001": """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=100)
        optimizer.register_step_post_hook(lambda opt, args, kwargs: scheduler.step())
        for x in loader:
            model(x).sum().backward()
            optimizer.step()
    """,
    "plateau_stepped_after_validation_at_epoch_top__LRA001": """
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        scheduler = ReduceLROnPlateau(optimizer)
        for epoch in range(10):
            val_loss = validate()
            scheduler.step(val_loss)
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
    """,
    "step_at_epoch_top_from_the_second_epoch__LRA001": """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = StepLR(optimizer, step_size=30)
        for epoch in range(100):
            if epoch > 0:
                scheduler.step()
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
    """,
    "warm_restarts_fractional_epoch__LRA004": """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = CosineAnnealingWarmRestarts(optimizer, T_0=10, T_mult=2)
        for epoch in range(30):
            for i, x in enumerate(loader):
                model(x).sum().backward()
                optimizer.step()
                scheduler.step(epoch + i / iters)
    """,
    "same_name_in_two_functions__LRA002": """
        def pretrain(model, loader, epochs):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = StepLR(optimizer, step_size=10)
            for epoch in range(epochs):
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                scheduler.step()

        def finetune(model, loader, epochs):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            scheduler = OneCycleLR(optimizer, max_lr=0.01, total_steps=epochs * len(loader))
            for epoch in range(epochs):
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                    scheduler.step()
    """,
    "schedule_chosen_by_a_flag__LRA002": """
        if args.schedule == "cosine":
            scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
        else:
            scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=epochs * len(loader))
        for epoch in range(epochs):
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
                if args.schedule == "onecycle":
                    scheduler.step()
            if args.schedule == "cosine":
                scheduler.step()
    """,
    "plateau_or_step_chosen_by_a_flag__LRA004": """
        if use_plateau:
            scheduler = ReduceLROnPlateau(optimizer, patience=3)
        else:
            scheduler = StepLR(optimizer, step_size=30)
        for epoch in range(100):
            train(model, optimizer)
            if use_plateau:
                scheduler.step(val_loss)
            else:
                scheduler.step()
    """,
    "the_scripts_own_get_scheduler__LRA002": """
        def get_scheduler(optimizer, cfg):
            return StepLR(optimizer, step_size=cfg["step_size"])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = get_scheduler(optimizer, {"step_size": 30})
        for epoch in range(100):
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
            scheduler.step()
    """,
    # A length in epochs stepped once per epoch runs its course: no "counts its length in
    # batches ... the LR barely moves" (it was LRA002 for any OneCycleLR or HF schedule).
    "onecycle_total_steps_in_epochs_stepped_per_epoch__LRA002": """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=num_epochs)
        for epoch in range(num_epochs):
            for x in loader:
                model(x).sum().backward()
                optimizer.step()
            scheduler.step()
    """,
    "hf_training_steps_in_epochs_stepped_per_epoch__LRA002": """
        scheduler = get_cosine_schedule_with_warmup(optimizer, warmup_epochs, args.epochs)
        for epoch in range(args.epochs):
            train_one_epoch(model, loader, optimizer)
            scheduler.step()
    """,
}

# Lengths that fit how their schedule is stepped, or that the checker cannot read: no LRA007.
LENGTHS_THAT_FIT = {
    "onecycle_epochs_and_steps_per_epoch_per_batch": """
        scheduler = OneCycleLR(optimizer, max_lr=0.01, epochs=args.epochs,
                               steps_per_epoch=len(train_loader))
        for epoch in range(args.epochs):
            for x, y in train_loader:
                loss_fn(model(x), y).backward()
                optimizer.step()
                scheduler.step()
    """,
    "cosine_t_max_in_epochs_per_epoch_inner_range_of_steps": """
        scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
        for epoch in range(epochs):
            steps_per_epoch = max(1, n // batch_size)
            for step in range(steps_per_epoch):
                model(load_batch(step)).sum().backward()
                optimizer.step()
            scheduler.step()
    """,
    "hf_get_scheduler_epochs_times_batches": """
        num_training_steps = num_epochs * len(train_dataloader)
        lr_scheduler = get_scheduler("linear", optimizer=optimizer, num_warmup_steps=0,
                                     num_training_steps=num_training_steps)
        for epoch in range(num_epochs):
            for batch in train_dataloader:
                model(**batch).loss.backward()
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
    """,
    "hf_no_trainer_max_train_steps": """
        num_update_steps_per_epoch = math.ceil(len(train_dataloader) / args.accumulation)
        args.max_train_steps = args.num_train_epochs * num_update_steps_per_epoch
        lr_scheduler = get_scheduler(name=args.lr_scheduler_type, optimizer=optimizer,
                                     num_warmup_steps=args.num_warmup_steps,
                                     num_training_steps=args.max_train_steps)
        for epoch in range(args.num_train_epochs):
            for step, batch in enumerate(train_dataloader):
                accelerator.backward(model(**batch).loss)
                if step % args.accumulation == 0:
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad()
    """,
    # Names that say neither epochs nor batches, numbers, and epochs times a number (maybe
    # the batches an epoch): the checker cannot tell, so it says nothing.
    "lengths_the_checker_cannot_read": """
        def train(model, loader, optimizer, n, T):
            first = OneCycleLR(optimizer, max_lr=0.1, total_steps=n)
            second = CosineAnnealingLR(optimizer, T_max=T)
            third = CosineAnnealingLR(optimizer, T_max=cfg.schedule.length)
            fourth = OneCycleLR(optimizer, max_lr=0.1, total_steps=epochs * 390)
            fifth = get_linear_schedule_with_warmup(optimizer, 10, 1000)
            for epoch in range(epochs):
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                    first.step()
                    second.step()
                    third.step()
                    fourth.step()
                    fifth.step()
    """,
    "step_kept_for_the_epochs_last_batch": """
        scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs)
        for epoch in range(args.epochs):
            for i, (x, y) in enumerate(train_loader):
                loss_fn(model(x), y).backward()
                optimizer.step()
                if i == len(train_loader) - 1:
                    scheduler.step()
    """,
    "full_batch_training_one_step_an_epoch": """
        scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
        for epoch in range(epochs):
            optimizer.zero_grad()
            loss_fn(model(graph), labels).backward()
            optimizer.step()
            scheduler.step()
    """,
    "full_batch_training_counted_by_i": """
        scheduler = CosineAnnealingLR(optimizer, T_max=n_epochs)
        for i in range(n_epochs):
            loss_fn(model(X), y).backward()
            optimizer.step()
            scheduler.step()
    """,
    "warm_restarts_in_epochs_told_the_fractional_epoch": """
        scheduler = CosineAnnealingWarmRestarts(optimizer, T_0=epochs // 3)
        for epoch in range(epochs):
            for i, x in enumerate(loader):
                model(x).sum().backward()
                optimizer.step()
                scheduler.step(epoch + i / len(loader))
    """,
    "linear_warmup_over_the_first_epoch": """
        warmup = LinearLR(optimizer, start_factor=0.01, total_iters=len(train_loader))
        for epoch in range(epochs):
            for x in train_loader:
                model(x).sum().backward()
                optimizer.step()
                warmup.step()
    """,
    "onecycle_built_anew_each_epoch": """
        for epoch in range(epochs):
            scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=len(train_loader))
            for x in train_loader:
                model(x).sum().backward()
                optimizer.step()
                scheduler.step()
    """,
    "onecycle_one_pass_over_the_data": """
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=len(train_loader))
        for x in train_loader:
            model(x).sum().backward()
            optimizer.step()
            scheduler.step()
    """,
    "lightning_epoch_interval": """
        class Module(L.LightningModule):
            def configure_optimizers(self):
                optimizer = torch.optim.AdamW(self.parameters(), lr=1e-3)
                scheduler = CosineAnnealingLR(optimizer, T_max=self.trainer.max_epochs)
                return {"optimizer": optimizer,
                        "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
    """,
}

def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.mark.parametrize("name", sorted(SEED_PROGRAMS))
def test_seed_style_correct_programs_have_no_findings(name: str) -> None:
    source = _src(SEED_PROGRAMS[name])
    ast.parse(source)  # a valid program
    assert check_source(source, f"{name}.py") == []


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_mistake_is_found_at_its_line(name: str) -> None:
    source, expected = MISTAKES[name]
    findings = check_source(_src(source), f"{name}.py")
    assert [(f.line, f.code) for f in findings] == expected
    for f in findings:
        assert f.reason and "\n" not in f.reason and f.fix and "\n" not in f.fix


@pytest.mark.parametrize("name", sorted(CORRECT_PROGRAMS))
def test_correct_programs_once_flagged_have_no_findings(name: str) -> None:
    source = _src(CORRECT_PROGRAMS[name])
    ast.parse(source)
    assert check_source(source, f"{name}.py") == []


def test_every_code_has_a_program_showing_it() -> None:
    shown = {code for _, expected in MISTAKES.values() for _, code in expected}
    assert shown == set(CODES)


def test_invalid_python_is_an_error_naming_the_line() -> None:
    with pytest.raises(LRAdvisorError, match="bad.py:2: cannot parse"):
        check_source("x = 1\nfor\n", "bad.py")


def test_a_syntax_error_without_a_line_names_no_line() -> None:
    with pytest.raises(LRAdvisorError, match=r"^nul.py: cannot parse: .*null bytes"):
        check_source("x = 1\0\n", "nul.py")


# Too deep for the checks' own recursion on every Python (3.10's ast.parse builds a 3000-term
# chain that 3.11's refuses, so that chain alone is no error on 3.10).
TOO_DEEP_TO_CHECK = "s = CosineAnnealingLR(opt, T_max=" + "+".join(["x"] * 900) + ")\n"


@pytest.mark.parametrize("source", [
    pytest.param("x = " + "+".join(["1"] * 3000) + "\n",  # parsing: RecursionError
                 marks=pytest.mark.skipif(sys.version_info < (3, 11),
                                          reason="3.10's ast.parse has no recursion limit")),
    "x = " + "-" * 100_000 + "1\n",  # parsing: MemoryError
    TOO_DEEP_TO_CHECK,  # checking
], ids=["parse-recursion", "parse-memory", "check-recursion"])
def test_too_deeply_nested_source_is_one_error_line(source: str) -> None:
    with pytest.raises(LRAdvisorError) as info:
        check_source(source, "deep.py")
    assert str(info.value).startswith("deep.py") and "\n" not in str(info.value)


LONG_CHAIN = "x = " + "+".join(["1"] * 150_000) + "\n"  # 3.10's parser crashes on it


def test_a_chain_that_crashes_310s_parser_is_refused_before_it() -> None:
    from lradvisor.checker import _refuse_long_chains

    with pytest.raises(LRAdvisorError, match=r"^deep.py: too deeply nested to check"):
        _refuse_long_chains(LONG_CHAIN, "deep.py")
    _refuse_long_chains("x = 1 + 1\n" * 30_000, "long.py")  # long, but short lines: kept
    _refuse_long_chains(b'x = "unterminated\n', "bad.py")  # left to the parser's error
    with pytest.raises(LRAdvisorError, match=r"^deep.py: too deeply nested to check"):
        check_source(LONG_CHAIN, "deep.py")  # on every Python: one line, not a crash


@pytest.mark.parametrize("chain", [
    "a" + ".b" * 15_000,  # attribute and call chains crash 3.10's parser too
    "f" + "()" * 15_000,
    "[" + "+".join(["(1, 2)"] * 15_000) + "]",  # a chain inside brackets
], ids=["attributes", "calls", "bracketed"])
def test_every_kind_of_long_chain_is_refused(chain: str) -> None:
    from lradvisor.checker import _refuse_long_chains

    with pytest.raises(LRAdvisorError, match=r"^deep.py: too deeply nested to check"):
        _refuse_long_chains(f"x = {chain}\n", "deep.py")


@pytest.mark.parametrize("data", [
    "[\n" + "".join(f"    {i},\n" for i in range(30_000)) + "]",
    "{" + ", ".join(f"'k{i}': -{i}" for i in range(30_000)) + "}",
    "[" + ", ".join(f"f({i}) + {i}" for i in range(30_000)) + "]",
], ids=["list", "dict", "list-of-sums"])
def test_a_long_literal_is_no_chain(data: str) -> None:
    """3.10 parses a 30,000-item list or dict (a loop, not a recursion): it is checked,
    not refused as too deeply nested (its commas were counted as one long chain)."""
    from lradvisor.checker import _refuse_long_chains

    source = f"VOCAB = {data}\ns = StepLR(opt, 3)\n"
    _refuse_long_chains(source, "data.py")
    assert [f.code for f in check_source(source, "data.py")] == ["LRA005"]


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbfs = StepLR(opt, 3)\n",  # a BOM
    b"# -*- coding: latin-1 -*-\n# caf\xe9\ns = StepLR(opt, 3)\n",
])
def test_files_are_decoded_as_python_decodes_them(tmp_path, raw: bytes) -> None:
    path = tmp_path / "enc.py"
    path.write_bytes(raw)
    assert [f.code for f in check_file(path)] == ["LRA005"]


def test_folder_search_skips_environments_links_and_non_files(tmp_path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    for skipped in (".git", ".venv", "venv", "site-packages", "__pycache__",
                    "node_modules", "build", "dist"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "hidden.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("x = 1\n")
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "up").symlink_to("..")  # a folder link back up: a loop
    (tmp_path / "broken.py").symlink_to(tmp_path / "missing.py")
    (tmp_path / "folder.py").mkdir()
    found = python_files([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.py", "sub/b.py"]


def test_cli_goes_on_past_a_file_it_cannot_parse(tmp_path) -> None:
    bad = _write(tmp_path, {"bad": MISTAKES["onecycle_per_epoch"][0]})[0]
    (tmp_path / "broken.py").write_text("for\n")
    (tmp_path / "deep.py").write_text(TOO_DEEP_TO_CHECK)
    result = CliRunner().invoke(check, [str(tmp_path)])
    assert result.exit_code == 2
    assert f"{bad}:10: LRA002" in result.stdout
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and "broken.py:1: cannot parse" in errors[0]
    assert "deep.py: too deeply nested" in errors[1]
    assert result.stdout.endswith("in 1 of 3 files checked (2 could not be checked).\n")


def _write(tmp_path, programs: dict[str, str]) -> list[str]:
    paths = []
    for name, source in programs.items():
        path = tmp_path / f"{name}.py"
        path.write_text(_src(source))
        paths.append(str(path))
    return paths


def test_cli_exit_status_and_output(tmp_path) -> None:
    bad = _write(tmp_path, {"bad": MISTAKES["onecycle_per_epoch"][0]})[0]
    good = _write(tmp_path, {"good": SEED_PROGRAMS["onecycle"]})[0]
    runner = CliRunner()
    result = runner.invoke(check, [good])
    assert result.exit_code == 0 and "no scheduler mistakes" in result.output
    result = runner.invoke(check, [bad, good])
    assert result.exit_code == 1
    assert f"{bad}:10: LRA002" in result.output and "fix: move scheduler.step()" in result.output
    result = runner.invoke(check, ["--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    assert '"code": "LRA002"' in result.output and '"line": 10' in result.output


def test_cli_counts_the_files_it_checked(tmp_path) -> None:
    """Not the arguments: an empty folder is 0 files, a file named twice is one (it said
    "1 file" for an empty folder and "2 files" for one file given twice)."""
    bad = _write(tmp_path, {"bad": MISTAKES["onecycle_per_epoch"][0]})[0]
    _write(tmp_path, {"good": SEED_PROGRAMS["onecycle"]})
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    result = runner.invoke(check, [str(tmp_path / "empty")])
    assert result.output.strip() == "0 files checked: no scheduler mistakes found."
    result = runner.invoke(check, [bad, bad])
    assert result.output.count("LRA002") == 1
    assert result.output.endswith("1 scheduler mistake(s) in 1 of 1 file checked.\n")
    result = runner.invoke(check, [str(tmp_path), bad])
    assert result.output.endswith("1 scheduler mistake(s) in 1 of 2 files checked.\n")


def test_cli_in_a_real_subprocess_without_torch(tmp_path) -> None:
    bad = _write(tmp_path, {"train": MISTAKES["plateau_without_metric"][0]})[0]
    code = ("import sys; from lradvisor.cli import cli, main\n"
            "from lradvisor.cli._policy import check\n"
            "cli.add_command(check)\n"
            "try:\n    main(['check', sys.argv[1]])\n"
            "finally:\n    assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code, bad], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "train.py:5: LRA003" in proc.stdout


# timm's schedulers are told their count, by design: ``step(epoch)`` once per epoch and
# ``step_update(num_updates)`` per batch (timm's train.py); ``step()`` alone raises.
TIMM_PROGRAMS = {
    "timm_epoch_and_update": """
        import torch
        from timm.scheduler import CosineLRScheduler
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        lr_scheduler = CosineLRScheduler(optimizer, t_initial=epochs, warmup_t=5)
        num_updates = 0
        for epoch in range(epochs):
            lr_scheduler.step(epoch)
            for x, y in loader:
                loss_fn(model(x), y).backward()
                optimizer.step()
                num_updates += 1
                lr_scheduler.step_update(num_updates=num_updates)
    """,
    "timm_updates_only": """
        import torch
        import timm.scheduler
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scheduler = timm.scheduler.CosineLRScheduler(optimizer, t_initial=n, t_in_epochs=False)
        for epoch in range(epochs):
            for i, (x, y) in enumerate(loader):
                loss_fn(model(x), y).backward()
                optimizer.step()
                scheduler.step_update(epoch * len(loader) + i + 1)
    """,
    "vendored_timm_scheduler": """
        import torch
        from utils.sched import PolyLRScheduler
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = PolyLRScheduler(optimizer, t_initial=epochs)
        for epoch in range(epochs):
            train_one_epoch(model, optimizer)
            sched.step(epoch + 1, val_loss)
    """,
}


def test_cli_timm_schedulers_stepped_with_their_count_are_no_mistake(tmp_path) -> None:
    """It said LRA004 ("the epoch argument of step() is deprecated": its fix, step()
    with no argument, raises TypeError in timm), LRA001 for step(epoch) at the top of
    the epoch, and LRA005 ("never stepped") for a timm scheduler stepped by
    step_update alone."""
    paths = _write(tmp_path, TIMM_PROGRAMS)
    result = CliRunner().invoke(check, paths)
    assert result.output == "3 files checked: no scheduler mistakes found.\n"
    assert result.exit_code == 0
    never = _write(tmp_path, {"never": """
        from timm.scheduler import CosineLRScheduler
        scheduler = CosineLRScheduler(optimizer, t_initial=10)
    """})
    result = CliRunner().invoke(check, never)
    assert result.exit_code == 1 and "never.py:2: LRA005" in result.output


def test_cli_a_helper_saving_the_scheduler_under_its_own_name_is_no_lra006(tmp_path) -> None:
    """It said LRA006 for a save helper whose parameter is ``sched`` (the caller's
    ``scheduler``): the checkpoint holds ``sched.state_dict()``."""
    paths = _write(tmp_path, {"helper": """
        import torch
        from torch.optim.lr_scheduler import CosineAnnealingLR

        def save(path, model, opt, sched):
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "lr_sched": sched.state_dict()}, path)

        def main():
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
            for epoch in range(epochs):
                train_epoch(model, optimizer)
                scheduler.step()
                save("ckpt.pt", model, optimizer, scheduler)
    """})
    result = CliRunner().invoke(check, paths)
    assert result.output == "1 file checked: no scheduler mistakes found.\n"
    assert result.exit_code == 0
    result = CliRunner().invoke(check, _write(tmp_path, {"bad": MISTAKES[
        "checkpoint_without_scheduler"][0]}))
    assert result.exit_code == 1 and "LRA006" in result.output


def test_cli_a_batch_loop_whose_counter_names_the_epoch_is_no_lra002(tmp_path) -> None:
    """``for step_in_epoch, batch in ...`` is the batch loop: it holds optimizer.step().
    It said LRA002 ("runs once per epoch") for the OneCycleLR stepped in it, as the loop's
    target contains 'epoch'."""
    paths = _write(tmp_path, {"train": """
        import torch
        from torch.optim.lr_scheduler import OneCycleLR
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = OneCycleLR(optimizer, max_lr=0.1, total_steps=epochs * len(loader))
        for epoch in range(epochs):
            for step_in_epoch, batch in enumerate(loader):
                model(batch).sum().backward()
                optimizer.step()
                optimizer.zero_grad()
                scheduler.step()
    """})
    result = CliRunner().invoke(check, paths)
    assert result.output == "1 file checked: no scheduler mistakes found.\n"
    assert result.exit_code == 0


def test_cli_a_notebook_is_refused_not_passed_as_clean(tmp_path) -> None:
    """A .ipynb is JSON, which parses as one Python expression: its never-stepped
    OneCycleLR was '1 file checked: no scheduler mistakes found.', exit 0."""
    import json

    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": ["from torch.optim.lr_scheduler import OneCycleLR\n",
                       "scheduler = OneCycleLR(opt, max_lr=0.1, total_steps=100)\n"]}
    notebook = tmp_path / "train.ipynb"
    notebook.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                    "nbformat_minor": 5}))
    result = CliRunner().invoke(check, [str(notebook)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {notebook}: a Jupyter notebook is not read; export its code (jupyter "
        f"nbconvert --to script '{notebook}') and check the .py file."]


def test_cli_the_scripts_own_scheduler_class_with_its_own_step_is_no_mistake(tmp_path) -> None:
    """A closed-form schedule class of the script's own, ``step(it)`` setting the LR of
    iteration ``it`` before the optimizer steps with it, was LRA001 ("torch skips the
    schedule's first LR": it is not torch's) and LRA004 ("the epoch argument of step()
    is deprecated"). A torch subclass without a step of its own is still checked."""
    own = _write(tmp_path, {"own": """
        import math
        import torch

        class WarmupCosineScheduler:
            def __init__(self, optimizer, warmup, total):
                self.optimizer, self.warmup, self.total = optimizer, warmup, total

            def step(self, it):
                lr = 0.1 * min(1.0, it / self.warmup) * (1 + math.cos(math.pi * it / self.total))
                for group in self.optimizer.param_groups:
                    group["lr"] = lr / 2

        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = WarmupCosineScheduler(optimizer, warmup=500, total=10000)
        for it, (x, y) in enumerate(loader):
            scheduler.step(it)
            loss_fn(model(x), y).backward()
            optimizer.step()
            optimizer.zero_grad()
    """})
    result = CliRunner().invoke(check, own)
    assert result.output == "1 file checked: no scheduler mistakes found.\n"
    assert result.exit_code == 0
    subclass = _write(tmp_path, {"subclass": """
        import torch
        from torch.optim.lr_scheduler import LRScheduler

        class HalvingLR(LRScheduler):
            def get_lr(self):
                return [base / 2 ** self.last_epoch for base in self.base_lrs]

        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = HalvingLR(optimizer)
        for epoch in range(10):
            scheduler.step(epoch)
            train(model, optimizer)
    """})
    result = CliRunner().invoke(check, subclass)
    assert result.exit_code == 1 and "subclass.py:11: LRA004" in result.output


@pytest.mark.parametrize("name", sorted(LENGTHS_THAT_FIT))
def test_lengths_that_fit_their_stepping_or_cannot_be_read_are_no_lra007(name: str) -> None:
    source = _src(LENGTHS_THAT_FIT[name])
    ast.parse(source)
    assert check_source(source, f"{name}.py") == []


def test_lra007_names_the_length_the_stepping_and_the_fix() -> None:
    """Each message says what the length was given as, where step() runs per batch,
    what goes wrong, and the length to give."""
    def finding(name: str):
        [only] = check_source(_src(MISTAKES[name][0]), "train.py")
        return only.reason, only.fix

    assert finding("onecycle_total_steps_in_epochs_stepped_per_batch") == (
        "OneCycleLR's length is given in epochs (total_steps=args.epochs), but "
        "scheduler.step() runs once per batch (line 8): torch raises ValueError (\"Tried to "
        "step N times. The specified number of total steps is M\") at batch args.epochs + 1.",
        "give it batches: epochs=args.epochs, steps_per_epoch=len(train_loader).")
    assert finding("onecycle_one_epoch_of_batches_in_an_epoch_loop") == (
        "OneCycleLR's length is one epoch's batches (total_steps=len(train_loader)), but "
        "scheduler.step() runs once per batch (line 7) in every epoch (the loop at line 3): "
        "torch raises ValueError (\"Tried to step N times. The specified number of total "
        "steps is M\") as the second epoch starts.",
        "count every epoch's batches: epochs=num_epochs, steps_per_epoch=len(train_loader).")
    assert finding("cosine_t_max_in_epochs_stepped_per_batch") == (
        "CosineAnnealingLR's length is given in epochs (T_max=cfg['epochs'] - warmup_epochs), "
        "but scheduler.step() runs once per batch (line 8): the LR falls to eta_min and "
        "climbs back every cfg['epochs'] - warmup_epochs batches instead of decaying once "
        "over the run.",
        "count it in batches: T_max=(cfg['epochs'] - warmup_epochs) * len(train_loader), or "
        "call scheduler.step() once per epoch, after the batch loop.")
    assert finding("hf_training_steps_in_epochs_through_a_name") == (
        "get_linear_schedule_with_warmup's length is given in epochs (num_training_steps="
        "num_training_steps, which is args.num_train_epochs), but lr_scheduler.step() runs "
        "once per batch (line 8): the schedule is over after args.num_train_epochs batches.",
        "count it in batches: num_training_steps=args.num_train_epochs * "
        "len(train_dataloader).")
    reason, fix = finding("onecycle_epochs_without_steps_per_epoch")
    assert "(epochs=EPOCHS) without steps_per_epoch" in reason and "steps_per_epoch=" in fix


def test_lra002_names_the_length_counted_in_batches() -> None:
    """The converse of LRA007: T_max = batches of the whole run, stepped per epoch."""
    [only] = check_source(_src(MISTAKES["batch_length_cosine_per_epoch"][0]), "train.py")
    assert only.reason == (
        "CosineAnnealingLR counts its length in batches (T_max=len(loader) * epochs), but "
        "scheduler.step() runs once per epoch: the LR barely moves from its start.")


def test_cli_lengths_that_fit_are_clean_and_one_that_does_not_exits_1(tmp_path) -> None:
    paths = _write(tmp_path, LENGTHS_THAT_FIT)
    result = CliRunner().invoke(check, paths)
    assert result.output == f"{len(paths)} files checked: no scheduler mistakes found.\n"
    assert result.exit_code == 0
    bad = _write(tmp_path, {"bad": MISTAKES["cosine_t_max_in_epochs_stepped_per_batch"][0]})
    result = CliRunner().invoke(check, bad)
    assert result.exit_code == 1
    assert f"{bad[0]}:2: LRA007 CosineAnnealingLR's length is given in epochs" in result.output
    assert "    fix: count it in batches: T_max=(cfg['epochs'] - warmup_epochs)" in result.output
