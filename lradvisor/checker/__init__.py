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
        counted in batches) stepped once per epoch; not a whole length in epochs
LRA003  ``ReduceLROnPlateau.step()`` without the metric
LRA004  deprecated or removed arguments: ``verbose=``, ``step(epoch)``, ``get_lr()``
LRA005  a scheduler created but never stepped
LRA006  a checkpoint with the optimizer's state but not the scheduler's
LRA007  a length in epochs (``T_max=epochs``, ``total_steps=epochs``), or one epoch's
        batches (``total_steps=len(loader)``) in an epoch loop, stepped once per batch
======  ==========================================================================

Each finding has a line, a one-line reason and a fix.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from lradvisor.checker._checks import _CHECKS
from lradvisor.checker._model import CODES, Finding, _Module
from lradvisor.errors import LRAdvisorError

__all__ = ["CODES", "Finding", "check_file", "check_paths", "check_source"]

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
    if sys.version_info < (3, 11) and len(source) > _LONG_SOURCE:
        _refuse_long_chains(source, path)
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


# Python 3.10's parser recurses once per link of a chain (1 + 1 + ..., a.b.c..., f()()...)
# without a guard: past about 100,000 it crashes the interpreter, where 3.11 raises
# RecursionError. Flat sequences (a list's items, a dict's, or/and, comparisons) are loops.
_LONG_SOURCE = 100_000  # bytes: shorter sources cannot hold such a chain
_MAX_CHAIN = 10_000  # operators in one chain
_SEPARATORS = frozenset({",", ":", ";", "=", ":="})  # end a chain at their bracket level


def _refuse_long_chains(source: str | bytes, path: str) -> None:
    """Refuse, as 3.11 does, a source with a chain of over ``_MAX_CHAIN`` operators (on
    3.10, before its parser is given it). Operators are counted per bracket level, from
    the last separator (``,`` ``:`` ``=``) of that level, so a long literal list or dict
    is no chain. Bad tokens are left to the parser."""
    import io
    import tokenize

    data = source.encode() if isinstance(source, str) else source
    chains = [0]  # operators since the last separator, per open bracket
    try:
        for token in tokenize.tokenize(io.BytesIO(data).readline):
            if token.type == tokenize.NEWLINE:
                chains = [0]
            elif token.type != tokenize.OP:
                continue
            elif token.string in _SEPARATORS:
                chains[-1] = 0
            elif token.string in ")]}":
                if len(chains) > 1:
                    chains.pop()
            else:
                chains[-1] += 1
                if sum(chains) > _MAX_CHAIN:
                    raise LRAdvisorError(f"{path}: too deeply nested to check (a chain of "
                                         f"over {_MAX_CHAIN} operators).")
                if token.string in "([{":
                    chains.append(0)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return


def check_file(path: str | os.PathLike[str]) -> list[Finding]:
    """The findings in one file.

    Raises:
        LRAdvisorError: the file cannot be read or parsed, or is a Jupyter notebook
            (its JSON would parse as one Python expression and hide every mistake).
    """
    if Path(path).suffix.lower() == ".ipynb":
        raise LRAdvisorError(
            f"{os.fspath(path)}: a Jupyter notebook is not read; export its code "
            f"(jupyter nbconvert --to script {os.fspath(path)!r}) and check the .py file.")
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
    """The findings in files and, recursively, the ``*.py`` files of directories.

    Raises:
        LRAdvisorError: at the first file that cannot be read or parsed (the
            ``lradvisor check`` command reports such a file and goes on to the rest).
    """
    findings = []
    for file in python_files(paths):
        findings += check_file(file)
    return findings
