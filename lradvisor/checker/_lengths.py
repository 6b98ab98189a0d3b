"""In what unit a schedule's length is given, and whether a loop runs once per batch.

Read from the words of the code: ``T_max=epochs``, ``args.num_epochs``, ``cfg["epochs"]``
count epochs; ``len(train_loader)`` and ``steps_per_epoch`` count one epoch's batches. A
name bound once in the file is read through to what it is bound to. A literal number, or
a name that says neither (``n``, ``T``, ``total``), is unknown, and unknown is never a
finding: ``epochs * 100`` may well be 100 batches an epoch.
"""

from __future__ import annotations

import ast
import re

from lradvisor.checker._model import _dotted

# Where a schedule takes its whole length: (keyword, position), as torch and transformers
# declare them. HF's other schedules take it by keyword only (get_wsd_schedule's is third,
# get_constant_schedule_with_warmup's third argument is last_epoch).
LENGTH_ARGS = {
    "OneCycleLR": ("total_steps", 2),
    "CosineAnnealingLR": ("T_max", 1),
    "LinearLR": ("total_iters", 3),
    "ConstantLR": ("total_iters", 2),
    "PolynomialLR": ("total_iters", 1),
    "get_scheduler": ("num_training_steps", 3),
    **{f"get_{name}_schedule_with_warmup": ("num_training_steps", 2) for name in (
        "linear", "cosine", "cosine_with_hard_restarts", "polynomial_decay",
        "cosine_with_min_lr")},
}
# get_scheduler(name, ...) ignores num_training_steps for these.
_NO_LENGTH = {"constant", "constant_with_warmup", "inverse_sqrt", "reduce_lr_on_plateau"}
_EPOCH_RE = re.compile(r"epoch", re.IGNORECASE)
_BATCH_WORD_RE = re.compile(r"step|iter|batch|len|loader|update|sample|size|dl$",
                            re.IGNORECASE)
_PER_EPOCH_RE = re.compile(r"per_?epoch", re.IGNORECASE)  # steps_per_epoch: one epoch
_ROUNDING = {"int", "round", "ceil", "floor", "max", "min"}
_WRAPPERS = {"enumerate", "tqdm", "iter", "trange", "progress_bar", "track"}


def _word(node: ast.AST) -> str | None:
    """The word a value is known by: ``epochs``, ``args.epochs``, ``cfg["epochs"]``,
    ``cfg.get("epochs")``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    key = node.slice if isinstance(node, ast.Subscript) else (
        node.args[0] if isinstance(node, ast.Call) and node.args and isinstance(
            node.func, ast.Attribute) and node.func.attr == "get" else None)
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not (
            isinstance(node.value, bool)):
        return float(node.value)
    return None


def says_epochs(word: str) -> bool:
    """``epochs``, ``num_train_epochs``, ``MAX_EPOCH``; not ``steps_per_epoch``."""
    return bool(_EPOCH_RE.search(word)) and not _BATCH_WORD_RE.search(word)


def bound_once(tree: ast.AST) -> dict[str, ast.expr]:
    """Each name bound exactly once in the file, by ``name = value``, to its value."""
    binds: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            binds.setdefault(node.id, []).append(node)
        elif isinstance(node, ast.arg):
            binds.setdefault(node.arg, []).extend([node, node])  # a parameter: many values
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name) and len(binds[node.targets[0].id]) == 1:
            values[node.targets[0].id] = node.value
    return values


def in_epochs(node: ast.AST, names: dict[str, ast.expr], depth: int = 0) -> bool:
    """Whether ``node`` counts epochs: epoch-named values joined by ``+ - / //`` and
    rounding, times a number up to 1 at most."""
    if depth > 8:
        return False
    word = _word(node)
    if word is not None:
        if says_epochs(word):
            return True
        bound = names.get(word) if isinstance(node, ast.Name) else None
        return bound is not None and in_epochs(bound, names, depth + 1)
    parts: list[ast.AST] = []
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        parts = [node.left, node.right]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv)):
        return (_number(node.right) or 0) >= 1 and in_epochs(node.left, names, depth + 1)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        factor = _number(node.left) if _number(node.left) is not None else _number(node.right)
        other = node.right if _number(node.left) is not None else node.left
        return factor is not None and 0 < factor <= 1 and in_epochs(other, names, depth + 1)
    elif isinstance(node, ast.Call) and (_dotted(node.func) or "").rsplit(".", 1)[-1] in (
            _ROUNDING) and not node.keywords:
        parts = list(node.args)
    epochs = [p for p in parts if _number(p) is None]
    return bool(epochs) and all(in_epochs(p, names, depth + 1) for p in epochs)


def one_epoch(node: ast.AST, names: dict[str, ast.expr], data: str | None,
              depth: int = 0) -> bool:
    """Whether ``node`` is one epoch's batches: ``len(train_loader)`` (or ``len`` of the
    loop's ``data``), ``steps_per_epoch``, or a name bound to one."""
    word = _word(node)
    if word is not None:
        bound = names.get(word) if isinstance(node, ast.Name) else None
        return bool(_PER_EPOCH_RE.search(word)) or (
            bound is not None and depth < 8 and one_epoch(bound, names, data, depth + 1))
    if isinstance(node, ast.Call) and _dotted(node.func) == "len" and len(node.args) == 1:
        counted = _dotted(node.args[0]) or ""
        return "loader" in counted.lower() or (data is not None and counted == data)
    return False


def read_through(node: ast.expr, names: dict[str, ast.expr]) -> ast.expr:
    """What a name bound once stands for (``args.num_train_epochs`` for ``n`` after
    ``n = args.num_train_epochs``), until a name that says its unit itself."""
    for _ in range(8):
        if not isinstance(node, ast.Name) or node.id not in names or says_epochs(
                node.id) or _PER_EPOCH_RE.search(node.id):
            break
        node = names[node.id]
    return node


def length_arg(call: ast.Call, kind: str) -> tuple[str, ast.expr] | None:
    """The schedule's whole length as written, with its keyword: ``("T_max", epochs)``."""
    if kind not in LENGTH_ARGS or any(kw.arg is None for kw in call.keywords) or any(
            isinstance(a, ast.Starred) for a in call.args):
        return None  # **kwargs or *args: the length may be anywhere
    if kind == "get_scheduler" and call.args and isinstance(call.args[0], ast.Constant) \
            and call.args[0].value in _NO_LENGTH:
        return None
    keyword, position = LENGTH_ARGS[kind]
    for kw in call.keywords:
        if kw.arg == keyword:
            return keyword, kw.value
    return (keyword, call.args[position]) if len(call.args) > position else None


def data_of(loop: ast.AST) -> ast.AST:
    """What a ``for`` loop iterates, through ``enumerate``/``tqdm``/``iter``:
    ``train_loader``."""
    node = loop.iter if isinstance(loop, (ast.For, ast.AsyncFor)) else loop
    while isinstance(node, ast.Call) and node.args and (
            _dotted(node.func) or "").rsplit(".", 1)[-1] in _WRAPPERS - {"trange"}:
        node = node.args[0]
    return node


def epoch_loop(loop: ast.AST) -> bool:
    """``for epoch in ...``, ``for _ in range(args.epochs)``, ``while epoch < epochs``;
    not ``for x in tqdm(loader, desc=f"epoch {epoch}")``."""
    heads = [loop.test] if isinstance(loop, ast.While) else (
        [loop.target, data_of(loop)] if isinstance(loop, (ast.For, ast.AsyncFor)) else [])
    return any(says_epochs(word) for head in heads for n in ast.walk(head)
               if (word := _word(n)) is not None)


def batch_loop(loop: ast.AST, outer: list[ast.AST]) -> bool:
    """A loop over the data (``for x, y in train_loader``), or over a count of batches
    (``range(len(loader))``, ``range(num_steps)``, or any ``range`` inside an epoch
    loop); a ``for i in range(n)`` alone may be full-batch training's epochs."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)) or epoch_loop(loop):
        return False
    data = data_of(loop)
    if not (isinstance(data, ast.Call) and (_dotted(data.func) or "").rsplit(".", 1)[-1] in (
            "range", "trange")):
        return True
    return any(epoch_loop(o) for o in outer) or any(
        _BATCH_WORD_RE.search(word) for n in ast.walk(data) if (word := _word(n)))


_ONECYCLE_ARGS = ("optimizer", "max_lr", "total_steps", "epochs", "steps_per_epoch")


def onecycle_args(call: ast.Call) -> dict[str, ast.expr] | None:
    """OneCycleLR's length arguments as given, by name; None under ``*args``/``**kwargs``."""
    if any(kw.arg is None for kw in call.keywords) or any(
            isinstance(a, ast.Starred) for a in call.args):
        return None
    given = dict(zip(_ONECYCLE_ARGS, call.args, strict=False))
    given.update({kw.arg: kw.value for kw in call.keywords if kw.arg in _ONECYCLE_ARGS})
    return given


def written(call: ast.Call, kind: str) -> str | None:
    """The length as the script gives it: ``T_max=len(loader) * epochs``,
    ``epochs=25, steps_per_epoch=len(train_loader)``."""
    given = onecycle_args(call) if kind == "OneCycleLR" else None
    if given and "total_steps" not in given and "steps_per_epoch" in given:
        return ", ".join(f"{k}={ast.unparse(given[k])}" for k in ("epochs", "steps_per_epoch")
                         if k in given)
    arg = length_arg(call, kind)
    return None if arg is None else f"{arg[0]}={ast.unparse(arg[1])}"


def epochs_of(loop: ast.AST) -> str:
    """How many epochs an epoch loop runs, as written: ``args.epochs`` of
    ``for epoch in range(start, args.epochs)``, else ``epochs``."""
    data = data_of(loop)
    if not (isinstance(data, ast.Call) and _dotted(data.func) in ("range", "trange")
            and 1 <= len(data.args) <= 2):
        return "epochs"
    end = data.args[-1]
    if _number(data.args[0]) == 1 and isinstance(end, ast.BinOp) and isinstance(
            end.op, ast.Add) and _number(end.right) == 1:
        end = end.left  # range(1, epochs + 1)
    return ast.unparse(end)
