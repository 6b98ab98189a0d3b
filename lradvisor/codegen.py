"""Ready-to-paste PyTorch code for a schedule spec (no torch needed to write it)."""

from __future__ import annotations

from lradvisor.schedules import ScheduleSpec

__all__ = ["pytorch_code", "torch_class_name"]


def torch_class_name(spec: ScheduleSpec, total_steps: int | None) -> str:
    """The torch class :func:`~lradvisor.build_scheduler` returns for ``spec``."""
    family = spec.definition
    if family.adaptive:
        warms = spec.params.get("warmup_fraction") or spec.params.get("warmup_steps")
        return "PlateauLR (a ReduceLROnPlateau " + (
            "that also warms up)" if warms else "subclass; it can also warm up)")
    if family.native is not None and spec.warmup_steps(total_steps) == 0:
        return family.torch_class
    return "LambdaLR"


def pytorch_code(spec: ScheduleSpec, total_steps: int | None) -> str:
    """Python that builds ``spec``'s scheduler on an existing ``optimizer``.

    The code runs as-is once ``optimizer`` is defined; it sets the optimizer's LR to the
    spec's peak and returns the scheduler ``build_scheduler`` builds (the native torch
    class where one has the same semantics).

    Example:
        >>> code = pytorch_code(ScheduleSpec.create("cosine", peak_lr=0.1), 1000)
        >>> "build_scheduler(optimizer, spec, total_steps=1000)" in code
        True
    """
    length = "None" if total_steps is None else str(total_steps)
    how = (
        "# Per optimizer step: scheduler.step(). After each evaluation: "
        "scheduler.observe(val_loss)\n# (or, stepping once per epoch: "
        "scheduler.step(val_loss)).\n"
        if spec.definition.adaptive
        else "# Call scheduler.step() once after every optimizer.step().\n"
    )
    return (
        f"# {spec.describe()}: {torch_class_name(spec, total_steps)}\n"
        "from lradvisor import ScheduleSpec, build_scheduler\n\n"
        f"spec = ScheduleSpec.from_json({spec.to_json()!r})\n"
        f"scheduler = build_scheduler(optimizer, spec, total_steps={length})"
        f"{'  # unknown length: open-ended' if total_steps is None else ''}\n"
        f"{how}"
    )
