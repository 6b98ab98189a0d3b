"""Loading a user's training function from ``package.module:function`` or ``file.py:function``.

The function is called in the search process once per trial (never one interpreter
per trial) as ``train(ctx) -> float``: ``ctx`` is a
:class:`~lradvisor.search.TrialContext`, the return value the final validation value.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import keyword
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType
from typing import Any

from lradvisor.errors import TrainableError

__all__ = ["failure_line", "load_trainable"]

_FORMS = "'package.module:function' or 'path/to/file.py:function'"
_ARGV_LOCK = threading.RLock()  # one swap of sys.argv at a time (see _argv)


def load_trainable(path: str | Callable[..., Any]) -> Callable[..., Any]:
    """The training function named by ``path``; a callable is returned unchanged.

    Raises:
        TrainableError: the string has no ``:function`` part, the module or file does
            not import (the error is named), or the attribute is missing or not callable.

    Example:
        >>> fn = load_trainable("lradvisor.workloads._digits_cnn:train")
        >>> fn.__name__
        'train'
    """
    if callable(path):
        return path
    if not isinstance(path, str) or path.count(":") < 1:
        raise TrainableError(f"trainable must be {_FORMS}, but got {path!r}.")
    where, _, attr = path.rpartition(":")
    if not where or not attr.isidentifier():
        raise TrainableError(f"trainable must be {_FORMS}, but got {path!r}.")
    module = _load_file(where, path) if where.endswith(".py") else _load_module(where, path)
    if not hasattr(module, attr):
        raise TrainableError(f"trainable {path!r}: {where} has no attribute {attr!r}.")
    function = getattr(module, attr)
    if not callable(function):
        raise TrainableError(f"trainable {path!r}: {attr!r} is not a function.")
    return function  # type: ignore[no-any-return]


def _load_module(name: str, path: str) -> Any:
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` would: modules next to the user
    try:
        with _argv(name):
            return importlib.import_module(name)
    except ImportError as err:
        raise TrainableError(f"trainable {path!r}: cannot import {name!r} ({err}).") from None
    except (Exception, SystemExit) as err:  # the user's module raised (or exited) on import
        raise TrainableError(
            f"trainable {path!r}: importing {name!r} raised {type(err).__name__}: {err}"
        ) from None


def _load_file(where: str, path: str) -> Any:
    file = Path(where).expanduser()
    if not file.is_file():
        raise TrainableError(f"trainable {path!r}: no file {str(file)!r}.")
    name = _module_name(file)
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == \
            file.resolve():
        return loaded  # once a process, as `import` runs a module: its top runs once
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise TrainableError(f"trainable {path!r}: {str(file)!r} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so pickling and dataclasses inside the file work
    try:
        with _argv(str(file)):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # an argparse at the top exits, say
        sys.modules.pop(name, None)
        raise TrainableError(
            f"trainable {path!r}: running {str(file)!r} raised {type(err).__name__}: {err}"
        ) from None
    return module


def failure_line(err: BaseException, caller: CodeType) -> str | None:
    """``err`` in one line, with the innermost line of the trainable's own file it passed
    through; ``None`` when it did not come out of a trainable called from ``caller``.

    ``caller`` is the code of the function that calls the trainable (the sweep's, a
    search trial's): every frame under it in ``err``'s traceback is the trainable's. The
    line is in the file of the trainable's function, so an error raised deep in torch is
    placed at the user's call that led there.

    Example:
        >>> def call(train):
        ...     train()
        >>> def train():
        ...     raise ValueError("no data")
        >>> try:
        ...     call(train)
        ... except ValueError as err:
        ...     print(failure_line(err, call.__code__))  # doctest: +ELLIPSIS
        ValueError: no data (at ...:2 in train)
    """
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code is not caller:
        tb = tb.tb_next
    if tb is None:
        return None
    what = " ".join(f"{type(err).__name__}: {err}".split()).rstrip(":")
    if tb.tb_next is None:  # the call itself failed: train() takes no ctx, say
        return what
    frames = traceback.extract_tb(tb.tb_next)
    at = [f for f in frames if f.filename == frames[0].filename][-1]
    return f"{what} (at {_shown(at.filename)}:{at.lineno} in {at.name})"


def _shown(filename: str) -> str:
    """``filename`` relative to the working directory when it lies under it."""
    with contextlib.suppress(ValueError):
        return str(Path(filename).relative_to(Path.cwd()))
    return filename


@contextlib.contextmanager
def _argv(program: str) -> Iterator[None]:
    """``sys.argv`` as a run of the user's script with no arguments sees it, while it is
    imported: an ``argparse`` at its top takes its defaults instead of refusing
    lradvisor's own arguments (``search --trainable ...``). One thread at a time: two
    loads interleaved would leave the first one's script name in ``sys.argv``."""
    with _ARGV_LOCK:
        saved = sys.argv
        sys.argv = [program]
        try:
            yield
        finally:
            sys.argv = saved


def _module_name(file: Path) -> str:
    """The name ``file`` is loaded under: its stem, importable from its folder (added at
    the end of ``sys.path``), so a process started with spawn or forkserver (DataLoader
    workers, say) can unpickle what the file defines by importing it, as for
    ``python file.py``; a private name where the stem would import another module."""
    file = file.resolve()
    if str(file.parent) not in sys.path:
        sys.path.append(str(file.parent))
    stem = file.stem
    if stem.isidentifier() and not keyword.iskeyword(stem):
        loaded = sys.modules.get(stem)
        found = (getattr(loaded, "__file__", None) if loaded is not None
                 else getattr(importlib.util.find_spec(stem), "origin", None))
        if found is not None and Path(found).resolve() == file:
            return stem
    return f"_lradvisor_trainable_{abs(hash(str(file)))}"
