"""What the checker knows of a script: which names hold schedulers and optimizers, where
they are stepped, inside which loops (an :mod:`ast` walk, once per file)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

CODES = {
    "LRA001": "scheduler stepped before the optimizer",
    "LRA002": "per-step schedule stepped per epoch",
    "LRA003": "ReduceLROnPlateau stepped without its metric",
    "LRA004": "deprecated scheduler argument",
    "LRA005": "scheduler never stepped",
    "LRA006": "scheduler state not saved with the checkpoint",
    "LRA007": "schedule length in epochs (or one epoch) but stepped per batch",
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
# timm's schedulers (``CosineLRScheduler``, ...) are told the count: ``step(epoch)``
# and ``step_update(num_updates)``, by design; torch has no public class of that name.
_COUNTED_RE = re.compile(r"\wLRScheduler$")
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
    counted: bool = False  # timm's (``step(epoch)``, ``step_update(n)``) or the script's own step
    updated: bool = False  # ``.step_update(...)`` called: timm's per-batch step
    call: ast.Call | None = None  # the constructor call that first bound it

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
        self.origins = {a.asname or a.name: n.module or "" for n in nodes
                        if isinstance(n, ast.ImportFrom) for a in n.names}
        self.torch = {"torch"} | {a.asname for n in nodes if isinstance(n, ast.Import)
                                  for a in n.names if a.name == "torch" and a.asname}
        self.defined = {n.name for n in nodes
                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.own_step = {n.name for n in nodes if isinstance(n, ast.ClassDef) and any(
            isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == "step"
            for f in n.body)}  # the script's scheduler classes with a step of their own
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
                                      known and _counts_batches(call, ctor), known, owner,
                                      counted=self._counted(call, ctor), call=call)
        self.scheds[key].kinds.add(ctor)

    def _counted(self, call: ast.Call, ctor: str) -> bool:
        """Whether ``call`` builds a scheduler stepped on its own terms, often with its
        count: timm's (imported from timm, called through ``timm.``, or named as timm
        names them), or a class of the script's own with its own ``step``."""
        local = _dotted(call.func) or ""
        module = self.origins.get(local.split(".", 1)[0], "")
        return bool(_COUNTED_RE.search(ctor) or local.startswith("timm.")
                    or module.split(".", 1)[0] == "timm" or ctor in self.own_step)

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
            elif parent.attr == "step_update" and called:
                sched.updated = True
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
