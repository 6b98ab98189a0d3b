"""TaskProfile: normalisation, derived lengths, and one bad-input test per argument."""

from __future__ import annotations

import math

import pytest

from lradvisor.errors import LRAdvisorError, ProfileError
from lradvisor.rules import LARGE_BATCH, TaskProfile


def test_names_are_normalised_case_and_underscore():
    p = TaskProfile(task="Unknown_Length", arch="CNN", optimizer="AdamW")
    assert (p.task, p.arch, p.optimizer) == ("unknown-length", "cnn", "adamw")
    assert TaskProfile("finetune", optimizer="adam").optimizer == "adam"


def test_epochs_times_steps_per_epoch_gives_total_steps():
    p = TaskProfile("scratch", epochs=30, steps_per_epoch=100)
    assert (p.total_steps, p.steps, p.run_epochs, p.known_length) == (3000, 3000, 30.0, True)


def test_agreeing_total_steps_and_epochs_are_accepted():
    assert TaskProfile("scratch", total_steps=3000, epochs=30, steps_per_epoch=100).steps == 3000


def test_total_steps_and_steps_per_epoch_give_run_epochs():
    p = TaskProfile("scratch", total_steps=250, steps_per_epoch=100)
    assert (p.epochs, p.run_epochs, p.epoch_steps) == (None, 2.5, 100.0)


def test_dataset_and_batch_size_give_steps_per_epoch():
    p = TaskProfile("scratch", epochs=10, dataset_size=1001, batch_size=100)
    assert (p.steps_per_epoch, p.total_steps) == (11, 110)


def test_epochs_alone_is_a_known_length_of_one_step_per_epoch():
    p = TaskProfile("quick", epochs=9)
    assert (p.known_length, p.steps, p.total_steps, p.epoch_steps) == (True, 9, None, 1.0)


def test_no_length_is_unknown():
    p = TaskProfile("finetune")
    assert (p.known_length, p.steps, p.run_epochs, p.epoch_steps) == (False, None, None, None)
    assert p.facts()["length"] == "unknown"


def test_integral_float_counts_become_ints():
    p = TaskProfile("scratch", total_steps=1000.0, batch_size=32.0)
    assert p.total_steps == 1000 and isinstance(p.total_steps, int)
    assert isinstance(p.batch_size, int)


@pytest.mark.parametrize(("batch", "label"), [(LARGE_BATCH - 1, "small"), (LARGE_BATCH, "large"),
                                              (None, None)])
def test_batch_fact_is_large_from_the_threshold_on(batch, label):
    assert TaskProfile("scratch", batch_size=batch).facts()["batch"] == label


def test_dict_round_trip_and_none_fields():
    p = TaskProfile("pretrain", arch="transformer", optimizer="adamw", total_steps=20000,
                    batch_size=512, peak_lr=3e-4)
    data = p.to_dict()
    assert data["dataset_size"] is None and data["total_steps"] == 20000
    assert TaskProfile.from_dict(data) == p


def test_from_dict_rejects_unknown_key_and_missing_task():
    with pytest.raises(ProfileError, match=r"unknown profile field 'lenght'.*allowed: task"):
        TaskProfile.from_dict({"task": "quick", "lenght": 10})
    with pytest.raises(ProfileError, match="needs a task, one of scratch"):
        TaskProfile.from_dict({"arch": "cnn"})
    with pytest.raises(ProfileError, match="must be a mapping"):
        TaskProfile.from_dict(["quick"])  # type: ignore[arg-type]


def test_profile_error_is_the_user_error_base():
    assert issubclass(ProfileError, LRAdvisorError) and issubclass(ProfileError, ValueError)


# -- one pytest.raises per argument -------------------------------------------------------
def test_bad_task():
    with pytest.raises(ProfileError, match=r"unknown task 'train'; allowed: scratch, pretrain, "
                                           r"finetune, unknown-length, quick"):
        TaskProfile("train")


def test_task_not_a_string():
    with pytest.raises(ProfileError, match=r"unknown task 3; allowed"):
        TaskProfile(3)  # type: ignore[arg-type]


def test_bad_arch():
    with pytest.raises(ProfileError, match=r"unknown arch 'lstm'; allowed: cnn, transformer, "
                                           r"mlp, rnn, other"):
        TaskProfile("scratch", arch="lstm")


def test_bad_optimizer():
    with pytest.raises(ProfileError, match=r"unknown optimizer 'rmsprop'; allowed: sgd, adam, "
                                           r"adamw, other"):
        TaskProfile("scratch", optimizer="rmsprop")


@pytest.mark.parametrize("value", [0, -5, 1.5, "100", True, math.inf])
def test_bad_total_steps(value):
    with pytest.raises(ProfileError, match=rf"total_steps must be a positive integer, but got "
                                           rf"{value!r}"):
        TaskProfile("scratch", total_steps=value)


def test_bad_epochs():
    with pytest.raises(ProfileError, match=r"epochs must be a positive integer, but got 0\b"):
        TaskProfile("scratch", epochs=0)


def test_bad_steps_per_epoch():
    with pytest.raises(ProfileError, match=r"steps_per_epoch must be a positive integer, but "
                                           r"got 2\.5"):
        TaskProfile("scratch", epochs=3, steps_per_epoch=2.5)


def test_bad_batch_size():
    with pytest.raises(ProfileError, match=r"batch_size must be a positive integer, but got -1"):
        TaskProfile("scratch", batch_size=-1)


def test_dataset_and_batch_give_the_epoch_without_epochs():
    """One epoch means something in a run of unknown length too: the guide's one-epoch
    warmup of a transformer is ceil(10000 / 32) = 313 steps, not its 500-step default
    (the epoch was derived only with epochs given)."""
    from lradvisor.rules import advise

    p = TaskProfile("unknown-length", arch="transformer", optimizer="adamw",
                    dataset_size=10000, batch_size=32)
    assert p.steps_per_epoch == 313 and p.steps is None
    assert advise(p).recommendations[0].spec.params["warmup_steps"] == 313
    known = TaskProfile("scratch", total_steps=1000, dataset_size=1000, batch_size=100)
    assert (known.steps_per_epoch, known.steps, known.run_epochs) == (10, 1000, 100)


def test_bad_dataset_size():
    with pytest.raises(ProfileError, match=r"dataset_size must be a positive integer, but got "
                                           r"'big'"):
        TaskProfile("scratch", dataset_size="big")


@pytest.mark.parametrize("value", [0, -1e-3, math.nan, "0.1", True])
def test_bad_peak_lr(value):
    with pytest.raises(ProfileError, match=rf"peak_lr must be a number > 0, but got {value!r}"):
        TaskProfile("scratch", peak_lr=value)


def test_disagreeing_lengths():
    with pytest.raises(ProfileError, match=r"total_steps 3001 disagrees with epochs x "
                                           r"steps_per_epoch = 30 x 100 = 3000"):
        TaskProfile("scratch", total_steps=3001, epochs=30, steps_per_epoch=100)


def test_unknown_length_task_with_a_length():
    with pytest.raises(ProfileError, match=r"task 'unknown-length' takes no run length, but got "
                                           r"total_steps=1000"):
        TaskProfile("unknown-length", total_steps=1000)
