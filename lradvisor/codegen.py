"""Ready-to-paste PyTorch code for a schedule spec (no torch needed to write it)."""

from __future__ import annotations

from lradvisor.errors import LRAdvisorError
from lradvisor.schedules import ScheduleSpec

__all__ = ["INTERVALS", "pytorch_code", "torch_class_name"]

# What one ``scheduler.step()`` stands for: an optimizer step, or an epoch (a profile
# with epochs and no steps per epoch).
INTERVALS = ("step", "epoch")


def torch_class_name(spec: ScheduleSpec, total_steps: int | None) -> str:
    """The torch class :func:`~lradvisor.build_scheduler` returns for ``spec``.

    As ``build_scheduler`` decides: the family's native class when there is no warmup
    and its ``native_fits`` says torch's class can express the parameters (not
    ``polynomial`` with ``end_ratio > 0``, say), else ``LambdaLR``. torch is not
    imported to tell.

    Example:
        >>> torch_class_name(ScheduleSpec.create("polynomial", end_ratio=0.1), 10)
        'LambdaLR'
        >>> torch_class_name(ScheduleSpec.create("polynomial"), 10)
        'PolynomialLR'
    """
    family = spec.definition
    if total_steps is None and not _open_ended(spec):
        total_steps = _NOMINAL_STEPS  # its class once given a length (all but tiny ones)
    if family.adaptive:
        warms = spec.params.get("warmup_fraction") or spec.params.get("warmup_steps")
        return "PlateauLR (a ReduceLROnPlateau " + (
            "that also warms up)" if warms else "subclass; it can also warm up)")
    if family.native is not None and spec.warmup_steps(total_steps) == 0 \
            and _native_builds(spec, total_steps):
        return family.torch_class
    return "LambdaLR"


def _native_builds(spec: ScheduleSpec, total_steps: int | None) -> bool:
    """Whether the family's ``native`` builder can express ``spec`` in this run (its
    pure ``native_fits``), as ``build_scheduler`` asks it: without torch."""
    family = spec.definition
    if family.native_fits is None:
        return True
    total = spec.run_length(total_steps)
    return family.native_fits(family.kwargs(spec.params, total), total)


def pytorch_code(spec: ScheduleSpec, total_steps: int | None, interval: str = "step") -> str:
    """Python that builds ``spec``'s scheduler on an existing ``optimizer``.

    The code runs as-is once ``optimizer`` is defined; it sets the optimizer's LR to the
    spec's peak and returns the scheduler ``build_scheduler`` builds (the native torch
    class where one has the same semantics). ``interval`` says what one
    ``scheduler.step()`` stands for, and so where the code says to call it:
    ``"step"`` (``total_steps`` optimizer steps, the default) or ``"epoch"``
    (``total_steps`` epochs, as for a profile with epochs and no steps per epoch).

    Example:
        >>> code = pytorch_code(ScheduleSpec.create("cosine", peak_lr=0.1), 1000)
        >>> "build_scheduler(optimizer, spec, total_steps=1000)" in code
        True
        >>> "once after every epoch" in pytorch_code(ScheduleSpec("cosine"), 10, "epoch")
        True
    """
    if interval not in INTERVALS:
        raise LRAdvisorError(f"interval must be 'step' or 'epoch', but got {interval!r}.")
    per_epoch = interval == "epoch"
    needs = ""
    if total_steps is None and not _open_ended(spec):  # the user must give the length
        unit = "epochs" if per_epoch else "optimizer steps"
        needs = (f"total_steps = None  # set it: {spec.family} needs the run's length "
                 f"({unit})\n")
        length, note = "total_steps", ""
    elif total_steps is None:
        length, note = "None", "  # unknown length: open-ended"
    else:
        length = str(total_steps)
        note = f"  # {total_steps} epochs: one scheduler step per epoch" if per_epoch else ""
    return (
        f"# {spec.describe()}: {torch_class_name(spec, total_steps)}\n"
        "from lradvisor import ScheduleSpec, build_scheduler\n\n"
        f"spec = ScheduleSpec.from_json({spec.to_json()!r})\n{needs}"
        f"scheduler = build_scheduler(optimizer, spec, total_steps={length}){note}\n"
        f"{_how_to_step(spec, per_epoch, total_steps)}"
    )


# The length at which a spec that needs one is named when the run's is not known.
_NOMINAL_STEPS = 1000


def _open_ended(spec: ScheduleSpec) -> bool:
    """Whether ``spec`` can run without a length (see ``ScheduleSpec.run_length``)."""
    try:
        spec.run_length(None)
    except LRAdvisorError:
        return False
    return True


def _how_to_step(spec: ScheduleSpec, per_epoch: bool, total_steps: int | None) -> str:
    if spec.definition.adaptive:
        if per_epoch:
            return "# Once per epoch, after evaluating: scheduler.step(val_loss).\n"
        per_step = ("# Per optimizer step: scheduler.step(). After each evaluation: "
                    "scheduler.observe(val_loss)")
        if total_steps is None and not _open_ended(spec):
            total_steps = _NOMINAL_STEPS
        if spec.warmup_steps(total_steps):
            # its warmup counts scheduler steps: stepped per epoch it would warm up for
            # that many epochs, so there is no per-epoch alternative to offer
            return per_step + ".\n"
        return per_step + "\n# (or, stepping once per epoch: scheduler.step(val_loss)).\n"
    if per_epoch:
        return "# Call scheduler.step() once after every epoch.\n"
    return "# Call scheduler.step() once after every optimizer.step().\n"
