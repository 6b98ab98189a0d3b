"""``lradvisor check``: find the scheduler mistakes training scripts keep making.

A static check with :mod:`ast` only (no torch, no running the script), so it takes
milliseconds. It knows which names hold schedulers and optimizers from what they are
built with (``OneCycleLR(...)``, ``torch.optim.AdamW(...)``, HF's
``get_*_schedule_with_warmup``, ``policy.attach``; through ``import ... as``
aliases), falling back to the name itself (``scheduler``, ``optimizer``), and reports:

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

_PLATEAU = {"ReduceLROnPlateau", "PlateauLR", "AdaptiveDecayLR"}  # metric-driven
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
    known: bool = True  # kind is torch's or HF's class, not a builder or the script's own def
    owner: str | None = None  # ``policy`` of ``policy.attach(...)``: it saves the state
    kinds: set[str] = field(default_factory=set)  # more than one: a choice, kind unknown
    steps: list[ast.Call] = field(default_factory=list)
    escapes: bool = False  # passed on, returned or stored: stepped elsewhere
    saved: bool = False
    observed: bool = False  # ``.observe(metric)``: lradvisor's PlateauLR gets it that way

    @property
    def ambiguous(self) -> bool:
        return len(self.kinds) > 1


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


def _counts_batches(call: ast.Call, name: str) -> bool:
    if name in _PER_STEP or _PER_STEP_RE.match(name):
        return True
    for kw in call.keywords:
        if kw.arg in ("steps_per_epoch", "num_training_steps"):
            return True
        if kw.arg in _LENGTH_KWARGS and _BATCH_LENGTH_RE.search(ast.unparse(kw.value)):
            return True
    return False


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _Module:
    """Everything the checks need, from one walk over the tree.

    Schedulers are keyed by the function that binds them and their name (``self.x``
    attributes by the module), so two functions may each have their own ``scheduler``.
    """

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        nodes = list(ast.walk(tree))
        self.aliases = {a.asname: a.name for n in nodes if isinstance(n, ast.ImportFrom)
                        for a in n.names if a.asname}
        self.torch = {"torch"} | {a.asname for n in nodes if isinstance(n, ast.Import)
                                  for a in n.names if a.name == "torch" and a.asname}
        self.defined = {n.name for n in nodes
                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.scheds: dict[tuple[ast.AST, str], _Sched] = {}
        self.optimizers: set[str] = set()
        self.calls = [n for n in nodes if isinstance(n, ast.Call)]
        assigns = sorted((n for n in nodes if isinstance(n, (ast.Assign, ast.AnnAssign))
                          and isinstance(n.value, ast.Call)), key=lambda n: n.lineno)
        for node in assigns:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                self._bind(target, node.value)  # type: ignore[arg-type]
        self._uses()
        self.opt_steps: dict[ast.AST, list[ast.Call]] = {}  # by function
        for call in self.optimizer_steps():
            self.opt_steps.setdefault(self.scope(call), []).append(call)

    def callee(self, call: ast.Call) -> str:
        """The called name, through ``from m import A as B`` aliases."""
        name = _callee(call)
        return self.aliases.get(name, name) if isinstance(call.func, ast.Name) else name

    def _bind(self, target: ast.AST, call: ast.Call) -> None:
        name, ctor = _dotted(target), self.callee(call)
        if name is None:
            return
        if ctor in _OPTIMIZERS:
            self.optimizers.add(name)
            return
        if not _is_scheduler_ctor(ctor):
            return
        key = (self.tree if "." in name else self.scope(target), name)
        if key not in self.scheds:
            known = ctor not in _BUILDERS and ctor not in self.defined
            owner = _dotted(call.func.value) if (
                ctor == "attach" and isinstance(call.func, ast.Attribute)) else None
            self.scheds[key] = _Sched(name, call.lineno, ctor,
                                      known and _counts_batches(call, ctor), known, owner)
        self.scheds[key].kinds.add(ctor)

    def sched(self, node: ast.AST, name: str) -> _Sched | None:
        """The scheduler ``name`` means at ``node``: its function's, else an outer one's."""
        if "." in name:
            return self.scheds.get((self.tree, name))
        scope = node
        while True:
            scope = self.scope(scope)
            if (scope, name) in self.scheds:
                return self.scheds[(scope, name)]
            if scope is self.tree:
                return None

    def _uses(self) -> None:
        state_dicts = {_dotted(c.func.value) for c in self.calls
                       if isinstance(c.func, ast.Attribute) and c.func.attr == "state_dict"}
        for node in self.parents:
            if not isinstance(node, (ast.Name, ast.Attribute)) or isinstance(node.ctx, ast.Store):
                continue
            name = _dotted(node)
            sched, parent = self.sched(node, name) if name else None, self.parents.get(node)
            if sched is None:
                continue
            if not isinstance(parent, ast.Attribute):
                sched.escapes = True  # an argument, returned, in a container...
                continue
            grand = self.parents.get(parent)
            called = isinstance(grand, ast.Call) and grand.func is parent
            if parent.attr == "step" and called:
                sched.steps.append(grand)  # type: ignore[arg-type]
            elif parent.attr == "step":
                sched.escapes = True  # ``hooks.append(scheduler.step)``: called elsewhere
            elif parent.attr == "state_dict":
                sched.saved = True
            elif parent.attr == "observe" and called:
                sched.observed = True
        for sched in self.scheds.values():
            sched.saved |= sched.owner is not None and sched.owner in state_dicts

    def is_optimizer(self, name: str) -> bool:
        if name in self.optimizers:
            return True
        return not self.optimizers and re.search(r"(^|[._])opt(imi[sz]er)?s?$", name) is not None

    def optimizer_steps(self) -> list[ast.Call]:
        """``optimizer.step()``, and ``scaler.step(optimizer)`` of AMP."""
        return [c for c in self.calls if isinstance(c.func, ast.Attribute)
                and c.func.attr == "step" and (
                    self.is_optimizer(_dotted(c.func.value) or "")
                    or (c.args and self.is_optimizer(_dotted(c.args[0]) or "")))]

    def is_save(self, call: ast.Call) -> bool:
        """``torch.save``, under any name torch was imported as."""
        name = _dotted(call.func) or ""
        return name == "save" or (name.endswith(".save") and name[:-5] in self.torch)

    def inside(self, node: ast.AST, outer: ast.AST) -> bool:
        """``node`` is ``outer`` or below it (by the parent chain: linear files stay fast)."""
        while node is not outer:
            if node not in self.parents:
                return False
            node = self.parents[node]
        return True

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
        """The function or lambda around ``node``, else the module."""
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return node
        return node




def _is_epoch_loop(loop: ast.AST, deeper: list[ast.Call]) -> bool:
    """Per-epoch: named so (``for epoch in ...``) or holding the loop of optimizer steps."""
    if deeper:
        return True
    return isinstance(loop, (ast.For, ast.AsyncFor)) and "epoch" in (
        ast.unparse(loop.target).lower())


def _after_first_pass(mod: _Module, call: ast.Call, loop: ast.AST) -> bool:
    """``if epoch > 0: scheduler.step()`` at the top of a loop is the last pass's step."""
    targets = _names(loop.target) if isinstance(loop, (ast.For, ast.AsyncFor)) else set()
    node: ast.AST = call
    while (node := mod.parents[node]) is not loop:
        if isinstance(node, ast.If) and targets & _names(node.test) and not any(
                mod.inside(o, node) for o in mod.opt_steps.get(mod.scope(call), [])):
            return True
    return False


# -- the checks ---------------------------------------------------------------------------
def _step_order(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA001: the first scheduler.step() of a loop comes before its optimizer.step()."""
    for sched in mod.scheds.values():
        if sched.kinds & _PLATEAU:
            continue  # stepped on a validation metric, wherever the validation runs
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
    """LRA002: a per-step schedule stepped in the epoch loop, outside the batch loop."""
    for sched in mod.scheds.values():
        if not sched.per_step or sched.ambiguous:
            continue
        for call in sched.steps:
            loops = mod.loops(call)
            if not loops:
                continue
            deeper = [o for o in mod.opt_steps.get(mod.scope(call), []) if mod.inside(o, loops[0])
                      and mod.loops(o) and mod.loops(o)[0] is not loops[0]]
            if _is_epoch_loop(loops[0], deeper):
                yield Finding(
                    path, call.lineno, "LRA002",
                    f"{sched.kind} counts its length in batches, but {sched.name}.step() "
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
        if not sched.known or sched.ambiguous or sched.kind in _STEP_TAKES_ARG:
            continue
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
        if not sched.steps and not sched.escapes:
            yield Finding(
                path, sched.line, "LRA005",
                f"{sched.name} = {sched.kind}(...) is never stepped: the LR stays at "
                "its first value.",
                f"call {sched.name}.step() after each optimizer.step() (or epoch).",
            )


def _checkpoint(mod: _Module, path: str) -> Iterator[Finding]:
    """LRA006: torch.save of the optimizer's state without the scheduler's.

    What is saved is the first argument and, for a name, the dicts (``{...}`` or
    ``dict(...)``) assigned to it. A scheduler counts as saved by its ``state_dict()``
    anywhere (or its policy's), or by itself in the checkpoint; not by a string or a
    name that merely contains its name.
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
                              if isinstance(n, (ast.Name, ast.Attribute)))
        if saves_optimizer and not saves_scheduler:
            yield Finding(
                path, call.lineno, "LRA006",
                "the checkpoint saves the optimizer's state but not the scheduler's: a "
                "resumed run restarts its LR schedule (warmup, the peak) from step 0.",
                f"add \"scheduler\": {sorted(names)[0]}.state_dict() to the checkpoint and "
                "load it on resume.",
            )


_CHECKS = (_step_order, _per_epoch, _plateau_metric, _deprecated, _never_stepped, _checkpoint)


# -- entry points -------------------------------------------------------------------------
_SKIP_DIRS = {".venv", "venv", "site-packages", "__pycache__", "node_modules", "build", "dist"}


def check_source(source: str | bytes, path: str = "<string>") -> list[Finding]:
    """The findings in one script's source, by line.

    Bytes are decoded as Python does (a BOM, a ``# -*- coding: ... -*-`` line).

    Raises:
        LRAdvisorError: the source is not valid Python, or too deeply nested to check.

    Example:
        >>> code = "s = OneCycleLR(opt, max_lr=0.1, total_steps=100)\\n"
        >>> [f.code for f in check_source(code)]
        ['LRA005']
    """
    try:
        mod = _Module(ast.parse(source, filename=path))
        findings = {f for check in _CHECKS for f in check(mod, path)}
    except SyntaxError as err:
        where = path if err.lineno is None else f"{path}:{err.lineno}"
        raise LRAdvisorError(f"{where}: cannot parse: {err.msg}.") from None
    except (RecursionError, MemoryError) as err:
        raise LRAdvisorError(
            f"{path}: too deeply nested to check ({type(err).__name__}).") from None
    except ValueError as err:  # null bytes
        raise LRAdvisorError(f"{path}: cannot parse: {err}.") from None
    return sorted(findings, key=lambda f: (f.line, f.code))


def check_file(path: str | os.PathLike[str]) -> list[Finding]:
    """The findings in one file."""
    try:
        source = Path(path).read_bytes()
    except OSError as err:
        raise LRAdvisorError(f"cannot read {os.fspath(path)!r}: {err}") from None
    return check_source(source, os.fspath(path))


def _search(folder: Path) -> list[Path]:
    """The ``*.py`` regular files under ``folder``, not in hidden, environment or build
    folders, nor through links to folders (which can loop)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        found += [Path(root, n) for n in names
                  if n.endswith(".py") and os.path.isfile(os.path.join(root, n))]
    return sorted(found)


def python_files(paths: list[str]) -> list[Path]:
    """The files named and, recursively, the ``*.py`` files of directories, each once."""
    files: dict[Path, Path] = {}  # by where it really is, as it was named
    for path in paths:
        p = Path(path)
        for file in _search(p) if p.is_dir() else [p]:
            files.setdefault(file.resolve(), file)
    return list(files.values())


def check_paths(paths: list[str]) -> list[Finding]:
    """The findings in files and, recursively, the ``*.py`` files of directories."""
    findings = []
    for file in python_files(paths):
        findings += check_file(file)
    return findings
