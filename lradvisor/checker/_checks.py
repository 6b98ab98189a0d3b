"""The checks, one function a code: each reads the script's model and yields findings."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from lradvisor.checker._lengths import (
    batch_loop,
    bound_once,
    data_of,
    epoch_loop,
    epochs_of,
    in_epochs,
    length_arg,
    one_epoch,
    onecycle_args,
    read_through,
    written,
)
from lradvisor.checker._model import (
    _PLATEAU,
    Finding,
    _after_first_pass,
    _dotted,
    _is_epoch_loop,
    _is_scheduler_ctor,
    _Module,
    _Sched,
)


def _step_order(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA001: the first scheduler.step() of a loop comes before its optimizer.step()."""
    for sched in mod.scheds.values():
        if sched.kinds & _PLATEAU or sched.counted:
            continue  # stepped on a validation metric, or on its own terms (timm's, the script's)
        for call in sched.steps:
            loops = mod.loops(call)
            region = loops[0] if loops else mod.scope(call)
            inside = [o for o in mod.opt_steps.get(mod.scope(call), [])
                      if mod.inside(o, region)]
            if not inside or call.lineno >= min(o.lineno for o in inside):
                continue
            if loops and _after_first_pass(mod, call, loops[0]):
                continue
            yield Finding(
                path, call.lineno, "LRA001",
                f"{sched.name}.step() runs before optimizer.step() (line "
                f"{min(o.lineno for o in inside)}): torch skips the schedule's first LR.",
                f"call {sched.name}.step() after optimizer.step().",
            )


def _per_epoch(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA002: a per-step schedule stepped in the epoch loop, outside the batch loop.

    Not when its whole length is given in epochs (``OneCycleLR(total_steps=epochs)``):
    stepped per epoch, that schedule runs its course."""
    names = bound_once(mod.tree)
    for sched in mod.scheds.values():
        if not sched.per_step or sched.ambiguous or sched.counted or sched.call is None:
            continue
        arg = length_arg(sched.call, sched.kind)
        if arg is not None and in_epochs(arg[1], names):
            continue
        given = written(sched.call, sched.kind)
        for call in sched.steps:
            loops = mod.loops(call)
            if not loops:
                continue
            inside = [o for o in mod.opt_steps.get(mod.scope(call), [])
                      if mod.inside(o, loops[0]) and mod.loops(o)]
            if any(mod.loops(o)[0] is loops[0] for o in inside):
                continue  # in the optimizer's own loop: once per batch, whatever it is named
            deeper = [o for o in inside if mod.loops(o)[0] is not loops[0]]
            if _is_epoch_loop(loops[0], deeper):
                yield Finding(
                    path, call.lineno, "LRA002",
                    f"{sched.kind} counts its length in batches"
                    f"{f' ({given})' if given else ''}, but {sched.name}.step() "
                    "runs once per epoch: the LR barely moves from its start.",
                    f"move {sched.name}.step() into the batch loop, after optimizer.step().",
                )


def _plateau_metric(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA003: ReduceLROnPlateau.step() with no metric."""
    for sched in mod.scheds.values():
        if sched.kind not in _PLATEAU or sched.ambiguous or sched.observed:
            continue  # observed: stepped per batch, given the metric by observe()
        for call in sched.steps:
            if not call.args and not call.keywords:
                yield Finding(
                    path, call.lineno, "LRA003",
                    f"{sched.kind}.step() needs the monitored metric; without it it fails "
                    "(ReduceLROnPlateau) or never reduces.",
                    f"call {sched.name}.step(val_loss) after each validation.",
                )


# step(epoch) is deprecated, except where it is the documented use.
_STEP_TAKES_ARG = _PLATEAU | {"CosineAnnealingWarmRestarts"}


def _deprecated(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA004: verbose=, step(epoch) on a non-plateau scheduler, get_lr()."""
    for call in mod.calls:
        if _is_scheduler_ctor(mod.callee(call)):
            for kw in call.keywords:
                if kw.arg == "verbose":
                    yield Finding(
                        path, kw.value.lineno, "LRA004",
                        f"{mod.callee(call)}(verbose=...) was deprecated in torch 2.2 and is "
                        "now removed (TypeError).",
                        "drop verbose=; log scheduler.get_last_lr() yourself.",
                    )
    for sched in mod.scheds.values():
        if not sched.known or sched.ambiguous or sched.counted \
                or sched.kind in _STEP_TAKES_ARG:
            continue  # timm's step(epoch) is its documented use; the script's own step too
        for call in sched.steps:
            if call.args:
                yield Finding(
                    path, call.lineno, "LRA004",
                    f"{sched.name}.step({ast.unparse(call.args[0])}): the epoch argument "
                    "of step() is deprecated and skips the chainable schedule.",
                    f"call {sched.name}.step() with no argument, once per step.",
                )
    for call in mod.calls:
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr != "get_lr":
            continue
        name = _dotted(func.value)
        if name and mod.sched(call, name):
            yield Finding(
                path, call.lineno, "LRA004",
                "get_lr() is internal and warns outside step(); it may not be the LR in use.",
                f"use {name}.get_last_lr().",
            )


def _never_stepped(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA005: a scheduler built, never stepped, never handed on."""
    for sched in mod.scheds.values():
        if not sched.steps and not sched.escapes and not sched.updated:
            yield Finding(
                path, sched.line, "LRA005",
                f"{sched.name} = {sched.kind}(...) is never stepped: the LR stays at "
                "its first value.",
                f"call {sched.name}.step() after each optimizer.step() (or epoch).",
            )


# A state saved from a name like this is a scheduler's, whatever it is called where it was
# built (a helper's ``sched`` parameter, say), as ``opt...`` is an optimizer's.
_SCHED_NAME_RE = re.compile(r"sched", re.IGNORECASE)


def _checkpoint(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA006: torch.save of the optimizer's state without the scheduler's.

    What is saved is the first argument and, for a name, the dicts (``{...}`` or
    ``dict(...)``) assigned to it. A scheduler counts as saved by its ``state_dict()``
    anywhere (or its policy's), by itself in the checkpoint, or by the ``state_dict()``
    of a name saying ``sched`` in the checkpoint (a helper's own name for it); not by a
    string or a name that merely contains its name.
    """
    if not mod.scheds or any(s.saved for s in mod.scheds.values()):
        return
    held: dict[str, list[ast.AST]] = {}
    for node in mod.parents:
        if isinstance(node, ast.Assign) and (isinstance(node.value, ast.Dict) or (
                isinstance(node.value, ast.Call) and _dotted(node.value.func) == "dict")):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    held.setdefault(target.id, []).append(node.value)
    names = {s.name for s in mod.scheds.values()} | {
        s.owner for s in mod.scheds.values() if s.owner}
    for call in mod.calls:
        if not mod.is_save(call) or not call.args:
            continue
        parts = [call.args[0], *held.get(_dotted(call.args[0]) or "", [])]
        nodes = [n for part in parts for n in ast.walk(part)]
        receivers = [_dotted(n.func.value) or "" for n in nodes if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Attribute) and n.func.attr == "state_dict"]
        saves_optimizer = any(mod.is_optimizer(r) or re.search(r"opt\w*$", r)
                              for r in receivers)
        saves_scheduler = any(_dotted(n) in names for n in nodes
                              if isinstance(n, (ast.Name, ast.Attribute))) or any(
            _SCHED_NAME_RE.search(r.rsplit(".", 1)[-1]) for r in receivers)
        if saves_optimizer and not saves_scheduler:
            yield Finding(
                path, call.lineno, "LRA006",
                "the checkpoint saves the optimizer's state but not the scheduler's: a "
                "resumed run restarts its LR schedule (warmup, the peak) from step 0.",
                f"add \"scheduler\": {sorted(names)[0]}.state_dict() to the checkpoint and "
                "load it on resume.",
            )


# What a length used up too soon does, by schedule: HF's end, torch's warmups end.
_OVERRUN = {
    "OneCycleLR": 'torch raises ValueError ("Tried to step N times. The specified number '
                  'of total steps is M") {when}',
    "CosineAnnealingLR": "the LR falls to eta_min and climbs back every {n} batches "
                         "instead of decaying once over the run",
}
_TORCH_LENGTHS = {"OneCycleLR", "CosineAnnealingLR", "LinearLR", "ConstantLR", "PolynomialLR"}


def _length_unit(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA007: a schedule whose length counts epochs, or one epoch's batches, stepped
    once per batch; OneCycleLR given epochs without steps_per_epoch.

    Only lengths the code names as such (``T_max=epochs``, ``total_steps=len(loader)``),
    and only ``step()`` in the loop of ``optimizer.step()`` over the data: a number, a
    name that says neither, or a step the checker cannot place is no finding. One epoch's
    batches is a mistake for OneCycleLR and HF's schedules only (a LinearLR warmup, or a
    cosine cycle, of one epoch is a choice), and only inside an epoch loop.
    """
    names = bound_once(mod.tree)
    for sched in mod.scheds.values():
        if not sched.known or sched.ambiguous or sched.counted or sched.call is None:
            continue
        given = onecycle_args(sched.call) if sched.kind == "OneCycleLR" else None
        if given and "epochs" in given and not {"total_steps", "steps_per_epoch"} & set(given):
            yield Finding(
                path, given["epochs"].lineno, "LRA007",
                f"OneCycleLR is given its length in epochs (epochs="
                f"{ast.unparse(given['epochs'])}) without steps_per_epoch: torch raises "
                "ValueError when it is built.",
                f"add steps_per_epoch=len(loader) and call {sched.name}.step() per batch.")
            continue
        arg = length_arg(sched.call, sched.kind)
        if arg is None:
            continue
        for call in sched.steps:
            loops = _per_batch(mod, sched.call, call)
            finding = _too_short(sched, arg, call, loops, names, path) if loops else None
            if finding:
                yield finding
                break  # one finding a schedule: its length is wrong once


def _per_batch(mod: _Module, built: ast.Call, call: ast.Call) -> list[ast.AST] | None:
    """The loops around a ``step()`` with no count that runs once per batch: in the loop
    over the data that holds ``optimizer.step()``, under no ``if`` the optimizer's step
    is not under too (``if i == len(loader) - 1:`` is once an epoch), on a schedule
    built before that loop and any loop around it (one built anew each pass has the
    pass's length)."""
    loops = mod.loops(call)
    if call.args or call.keywords or not loops or not batch_loop(loops[0], loops[1:]):
        return None
    opt_steps = [o for o in mod.opt_steps.get(mod.scope(call), [])
                 if mod.loops(o) and mod.loops(o)[0] is loops[0]]
    node: ast.AST = call
    while opt_steps and (node := mod.parents[node]) is not loops[0]:
        if isinstance(node, ast.If):
            opt_steps = [o for o in opt_steps if mod.inside(o, node)]
    if not opt_steps:
        return None
    if any(mod.inside(built, loop) for loop in loops):
        return None
    return loops


def _too_short(sched: _Sched, arg: tuple[str, ast.expr], call: ast.Call,
               loops: list[ast.AST], names: dict[str, ast.expr], path: str) -> Finding | None:
    """LRA007 for a schedule stepped per batch, if its length counts epochs or, inside
    an epoch loop, one epoch's batches."""
    keyword, value = arg
    meant = read_through(value, names)
    length = ast.unparse(meant)
    given = f"{keyword}={ast.unparse(value)}" + (
        f", which is {length}" if meant is not value else "")
    data = _dotted(data_of(loops[0]))
    stepped = f"{sched.name}.step() runs once per batch (line {call.lineno})"
    if in_epochs(value, names):
        n = f"({length})" if isinstance(meant, ast.BinOp) else length
        effect = _OVERRUN.get(sched.kind, "the schedule is over after {n} batches")
        if sched.kind == "OneCycleLR":
            fix = f"give it batches: epochs={length}, steps_per_epoch=len({data or 'loader'})"
        else:
            fix = f"count it in batches: {keyword}={n} * len({data or 'loader'})" + (
                f", or call {sched.name}.step() once per epoch, after the batch loop"
                if sched.kind in _TORCH_LENGTHS else "")
        return Finding(path, value.lineno, "LRA007",
                       f"{sched.kind}'s length is given in epochs ({given}), but {stepped}: "
                       f"{effect.format(n=length, when=f'at batch {n} + 1')}.", f"{fix}.")
    epochs = next((loop for loop in loops[1:] if epoch_loop(loop)), None)
    if epochs is None or sched.kind in _TORCH_LENGTHS - {"OneCycleLR"} or not one_epoch(
            value, names, data):
        return None
    effect = _OVERRUN["OneCycleLR"].format(when="as the second epoch starts") if (
        sched.kind == "OneCycleLR") else "the schedule is over after the first epoch"
    line = getattr(epochs, "lineno", "?")
    fix = (f"epochs={epochs_of(epochs)}, steps_per_epoch={length}"
           if sched.kind == "OneCycleLR" else f"{keyword}={epochs_of(epochs)} * {length}")
    return Finding(path, value.lineno, "LRA007",
                   f"{sched.kind}'s length is one epoch's batches ({given}), but {stepped} "
                   f"in every epoch (the loop at line {line}): {effect}.",
                   f"count every epoch's batches: {fix}.")


_CHECKS = (_step_order, _per_epoch, _plateau_metric, _deprecated, _never_stepped, _checkpoint,
           _length_unit)
