"""``lradvisor check``: find the scheduler mistakes training scripts keep making.

A static check with :mod:`ast` only (no torch, no running the script), so it takes
milliseconds. It knows which names hold schedulers and optimizers from what they are
built with (``OneCycleLR(...)``, ``torch.optim.AdamW(...)``, HF's
``get_*_schedule_with_warmup``, ``policy.attach``), falling back to the name itself
(``scheduler``, ``optimizer``), and reports:

======  ==========================================================================
code    mistake
======  ==========================================================================
LRA001  ``scheduler.step()`` before ``optimizer.step()`` (the first LR is skipped)
LRA002  a per-step schedule (OneCycleLR, CyclicLR, HF warmup schedules, a length
        counted in batches) stepped once per epoch
LRA003  ``ReduceLROnPlateau.step()`` without the metric
LRA004  deprecated or removed arguments: ``verbose=``, ``step(epoch)``, ``get_lr()``
LRA005  a scheduler created but never stepped
LRA006  a checkpoint with the optimizer's state but not the scheduler's
======  ==========================================================================

Each finding has a line, a one-line reason and a fix.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lradvisor.errors import LRAdvisorError

__all__ = ["CODES", "Finding", "check_file", "check_paths", "check_source"]

CODES = {
    "LRA001": "scheduler stepped before the optimizer",
    "LRA002": "per-step schedule stepped per epoch",
    "LRA003": "ReduceLROnPlateau stepped without its metric",
    "LRA004": "deprecated scheduler argument",
    "LRA005": "scheduler never stepped",
    "LRA006": "scheduler state not saved with the checkpoint",
}

_PLATEAU = {"ReduceLROnPlateau", "PlateauLR"}
_PER_STEP = {"OneCycleLR", "CyclicLR", "get_scheduler", "get_wsd_schedule"}
_PER_STEP_RE = re.compile(r"^get_\w+_schedule(_with_warmup)?$")
_SCHEDULER_RE = re.compile(r"(LR|Scheduler|Annealing\w*|WarmRestarts)$")
_BUILDERS = {"build_scheduler", "attach", "SequentialLR", "ChainedScheduler"}
_OPTIMIZERS = {
    "SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "RMSprop", "Rprop", "NAdam",
    "RAdam", "LBFGS", "SparseAdam", "ASGD", "Adafactor", "Lion", "Muon",
}
# A length argument that counts batches makes a schedule per-step.
_BATCH_LENGTH_RE = re.compile(r"len\(|steps|iters|batches|loader", re.IGNORECASE)
_LENGTH_KWARGS = {"T_max", "total_iters", "total_steps", "num_training_steps", "T_0"}


@dataclass(frozen=True)
class Finding:
    """One mistake: where, which, why, and how to fix it."""

    path: str
    line: int
    code: str
    reason: str
    fix: str

    def format(self) -> str:
        """``path:line: CODE reason`` and an indented ``fix:`` line."""
        return f"{self.path}:{self.line}: {self.code} {self.reason}\n    fix: {self.fix}"


@dataclass
class _Sched:
    name: str
    line: int
    kind: str  # the constructor's name
    per_step: bool
    steps: list[ast.Call] = field(default_factory=list)
    escapes: bool = False  # passed on, returned or stored: stepped elsewhere
    saved: bool = False


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _callee(call: ast.Call) -> str:
    name = _dotted(call.func) or ""
    return name.rsplit(".", 1)[-1]


def _is_scheduler_ctor(name: str) -> bool:
    return bool(
        name in _PLATEAU or name in _PER_STEP or name in _BUILDERS
        or _PER_STEP_RE.match(name) or (_SCHEDULER_RE.search(name) and name[0].isupper())
    )


def _counts_batches(call: ast.Call) -> bool:
    name = _callee(call)
    if name in _PER_STEP or _PER_STEP_RE.match(name):
        return True
    for kw in call.keywords:
        if kw.arg in ("steps_per_epoch", "num_training_steps"):
            return True
        if kw.arg in _LENGTH_KWARGS and _BATCH_LENGTH_RE.search(ast.unparse(kw.value)):
            return True
    return False


class _Module:
    """Everything the checks need, from one walk over the tree."""

    def __init__(self, tree: ast.Module) -> None:
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.scheds: dict[str, _Sched] = {}
        self.optimizers: set[str] = set()
        self.calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    self._bind(target, node.value)
        self._uses(tree)

    def _bind(self, target: ast.AST, call: ast.Call) -> None:
        name, ctor = _dotted(target), _callee(call)
        if name is None:
            return
        if ctor in _OPTIMIZERS:
            self.optimizers.add(name)
        elif _is_scheduler_ctor(ctor):
            self.scheds[name] = _Sched(name, call.lineno, ctor, _counts_batches(call))

    def _uses(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            name = _dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            if name not in self.scheds or isinstance(getattr(node, "ctx", None), ast.Store):
                continue
            sched, parent = self.scheds[name], self.parents.get(node)
            if isinstance(parent, ast.Attribute):
                grand = self.parents.get(parent)
                if parent.attr == "step" and isinstance(grand, ast.Call):
                    sched.steps.append(grand)
                elif parent.attr == "state_dict":
                    sched.saved = True
            else:
                sched.escapes = True  # an argument, returned, in a container...

    def is_optimizer(self, name: str) -> bool:
        if name in self.optimizers:
            return True
        return not self.optimizers and re.search(r"(^|[._])opt(imi[sz]er)?s?$", name) is not None

    def optimizer_steps(self) -> list[ast.Call]:
        return [c for c in self.calls if isinstance(c.func, ast.Attribute)
                and c.func.attr == "step" and self.is_optimizer(_dotted(c.func.value) or "")]

    def loops(self, node: ast.AST) -> list[ast.AST]:
        """The loops around ``node``, innermost first, up to the enclosing function."""
        out: list[ast.AST] = []
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
                out.append(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                break
        return out

    def scope(self, node: ast.AST) -> ast.AST:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return node


def _inside(node: ast.AST, outer: ast.AST) -> bool:
    return any(n is node for n in ast.walk(outer))


def _is_epoch_loop(loop: ast.AST) -> bool:
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return False
    return "epoch" in (ast.unparse(loop.target) + ast.unparse(loop.iter)).lower()


# -- the checks ---------------------------------------------------------------------------
def _step_order(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA001: the first scheduler.step() of a loop comes before its optimizer.step()."""
    opt_steps = mod.optimizer_steps()
    for sched in mod.scheds.values():
        for call in sched.steps:
            loops = mod.loops(call)
            region = loops[0] if loops else mod.scope(call)
            inside = [o for o in opt_steps if _inside(o, region)
                      and mod.scope(o) is mod.scope(call)]
            if inside and call.lineno < min(o.lineno for o in inside):
                yield Finding(
                    path, call.lineno, "LRA001",
                    f"{sched.name}.step() runs before optimizer.step() (line "
                    f"{min(o.lineno for o in inside)}): torch skips the schedule's first LR.",
                    f"call {sched.name}.step() after optimizer.step().",
                )


def _per_epoch(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA002: a per-step schedule stepped in the epoch loop, outside the batch loop."""
    opt_steps = mod.optimizer_steps()
    for sched in mod.scheds.values():
        if not sched.per_step:
            continue
        for call in sched.steps:
            loops = mod.loops(call)
            if not loops:
                continue
            deeper = [o for o in opt_steps if _inside(o, loops[0])
                      and mod.loops(o) and mod.loops(o)[0] is not loops[0]]
            if _is_epoch_loop(loops[0]) or deeper:
                yield Finding(
                    path, call.lineno, "LRA002",
                    f"{sched.kind} counts its length in batches, but {sched.name}.step() "
                    "runs once per epoch: the LR barely moves from its start.",
                    f"move {sched.name}.step() into the batch loop, after optimizer.step().",
                )


def _plateau_metric(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA003: ReduceLROnPlateau.step() with no metric."""
    for sched in mod.scheds.values():
        if sched.kind not in _PLATEAU:
            continue
        for call in sched.steps:
            if not call.args and not call.keywords:
                yield Finding(
                    path, call.lineno, "LRA003",
                    f"{sched.kind}.step() needs the monitored metric; without it it fails "
                    "(ReduceLROnPlateau) or never reduces.",
                    f"call {sched.name}.step(val_loss) after each validation.",
                )


def _deprecated(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA004: verbose=, step(epoch) on a non-plateau scheduler, get_lr()."""
    for call in mod.calls:
        if _is_scheduler_ctor(_callee(call)):
            for kw in call.keywords:
                if kw.arg == "verbose":
                    yield Finding(
                        path, kw.value.lineno, "LRA004",
                        f"{_callee(call)}(verbose=...) was deprecated in torch 2.2 and is "
                        "now removed (TypeError).",
                        "drop verbose=; log scheduler.get_last_lr() yourself.",
                    )
    for sched in mod.scheds.values():
        for call in sched.steps:
            if sched.kind not in _PLATEAU and sched.kind not in _BUILDERS and call.args:
                yield Finding(
                    path, call.lineno, "LRA004",
                    f"{sched.name}.step({ast.unparse(call.args[0])}): the epoch argument "
                    "of step() is deprecated and skips the chainable schedule.",
                    f"call {sched.name}.step() with no argument, once per step.",
                )
    for call in mod.calls:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "get_lr" and (
                _dotted(func.value) in mod.scheds):
            yield Finding(
                path, call.lineno, "LRA004",
                "get_lr() is internal and warns outside step(); it may not be the LR in use.",
                f"use {_dotted(func.value)}.get_last_lr().",
            )


def _never_stepped(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA005: a scheduler built, never stepped, never handed on."""
    for sched in mod.scheds.values():
        if not sched.steps and not sched.escapes:
            yield Finding(
                path, sched.line, "LRA005",
                f"{sched.name} = {sched.kind}(...) is never stepped: the LR stays at "
                "its first value.",
                f"call {sched.name}.step() after each optimizer.step() (or epoch).",
            )


def _checkpoint(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA006: torch.save of the optimizer's state without the scheduler's."""
    if not mod.scheds or any(s.saved for s in mod.scheds.values()):
        return
    assigned = {}
    for node in mod.parents:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = ast.unparse(node.value)
    names = sorted(mod.scheds)
    for call in mod.calls:
        if _dotted(call.func) not in ("torch.save", "save") or not call.args:
            continue
        text = ast.unparse(call.args[0])
        text += assigned.get(text, "")
        saves_optimizer = any(f"{o}.state_dict()" in text for o in mod.optimizers) or (
            re.search(r"opt\w*\.state_dict\(\)", text) is not None)
        if saves_optimizer and not any(n in text for n in names):
            yield Finding(
                path, call.lineno, "LRA006",
                "the checkpoint saves the optimizer's state but not the scheduler's: a "
                "resumed run restarts its LR schedule (warmup, the peak) from step 0.",
                f"add \"scheduler\": {names[0]}.state_dict() to the checkpoint and load it "
                "on resume.",
            )


_CHECKS = (_step_order, _per_epoch, _plateau_metric, _deprecated, _never_stepped, _checkpoint)


# -- entry points -------------------------------------------------------------------------
def check_source(source: str, path: str = "<string>") -> list[Finding]:
    """The findings in one script's source, by line.

    Raises:
        LRAdvisorError: the source is not valid Python.

    Example:
        >>> code = "s = OneCycleLR(opt, max_lr=0.1, total_steps=100)\\n"
        >>> [f.code for f in check_source(code)]
        ['LRA005']
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as err:
        raise LRAdvisorError(f"{path}:{err.lineno}: cannot parse: {err.msg}.") from None
    mod = _Module(tree)
    findings = {f for check in _CHECKS for f in check(mod, path)}
    return sorted(findings, key=lambda f: (f.line, f.code))


def check_file(path: str | os.PathLike[str]) -> list[Finding]:
    """The findings in one file."""
    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LRAdvisorError(f"cannot read {os.fspath(path)!r}: {err}") from None
    return check_source(source, str(path))


def python_files(paths: list[str]) -> list[Path]:
    """The files named and, recursively, the ``*.py`` files of directories, each once."""
    files: dict[Path, Path] = {}  # by where it really is, as it was named
    for path in paths:
        p = Path(path)
        for file in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            files.setdefault(file.resolve(), file)
    return list(files.values())


def check_paths(paths: list[str]) -> list[Finding]:
    """The findings in files and, recursively, the ``*.py`` files of directories."""
    findings = []
    for file in python_files(paths):
        findings += check_file(file)
    return findings
