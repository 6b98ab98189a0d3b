"""Curves for people: a terminal plot (pure Python) and PNG figures (matplotlib).

Every file a command is asked to write (a plot, a report, an export, a learned guide)
goes through :func:`output_file`, so a path that cannot be written is one
:class:`OutputError` line naming it, not a traceback. A text output given as ``-``
(:data:`STDOUT`) goes to stdout, as Unix tools read it (``./-`` names a file ``-``);
a plot cannot (:func:`not_stdout`).

matplotlib is imported inside :func:`save_png`, never at module import.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lradvisor.errors import OutputError

__all__ = ["STDOUT", "ascii_plot", "check_writable", "not_stdout", "output_file", "png_option",
           "png_path", "save_figure", "save_png", "write_text"]

STDOUT = "-"  # an output path that means stdout, for outputs that are text

@contextlib.contextmanager
def output_file(path: str | Path) -> Iterator[Path]:
    """``path`` with its folder created, for the ``with`` body to write; an ``OSError``
    (from making the folder or in the body) becomes one :class:`OutputError` line.

    Example:
        >>> try:
        ...     with output_file("/proc/no/such.png") as file:
        ...         file.write_bytes(b"")
        ... except OutputError as err:
        ...     print(err)
        cannot write '/proc/no/such.png': No such file or directory ('/proc/no').
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path
    except OSError as err:
        reason = err.strerror or str(err)
        if err.filename and str(err.filename) != str(path):  # a folder on the way
            reason += f" ({str(err.filename)!r})"
        raise OutputError(f"cannot write {str(path)!r}: {reason}.") from None


def check_writable(path: str | Path) -> Path:
    """``path`` when a file could be written there (its missing folders made then):
    checked before the work whose output it is, so the work is not lost to a path that
    fails after it. Creates nothing (the nearest existing folder is probed with a
    temporary file, deleted at once).

    Raises:
        OutputError: ``path`` is a folder, or the folder it would be made in is no
            folder or cannot be written, in :func:`output_file`'s words.

    Example:
        >>> check_writable("lr.png").name
        'lr.png'
    """
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(folder))
        with tempfile.TemporaryFile(dir=folder):
            pass
        if path.exists():
            with path.open("ab"):  # an existing file: writable, and not a folder
                pass
    except OSError as err:
        where = "" if err.filename == str(path) else f" ({str(folder)!r})"
        raise OutputError(f"cannot write {str(path)!r}: {err.strerror or err}{where}.") from None
    return path


def png_path(path: str | Path) -> Path:
    """``path`` when it names a PNG file; else one :class:`OutputError` line (checked
    before the work whose picture it is, not after).

    Example:
        >>> png_path("lr.png").name
        'lr.png'
    """
    not_stdout(path)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"cannot write {str(path)!r}: plots are PNG files; give a path "
                          "ending in .png.")
    return path


def not_stdout(path: str | Path, give: str = "a path ending in .png") -> None:
    """One :class:`OutputError` line when a plot's path is ``-``: stdout is for text,
    and a PNG there is bytes on a terminal.

    Example:
        >>> try:
        ...     not_stdout("-")
        ... except OutputError as err:
        ...     print(err)  # doctest: +NORMALIZE_WHITESPACE
        cannot write a plot to '-' (stdout): plots are PNG files, not text; give a path
        ending in .png.
    """
    if str(path) == STDOUT:
        raise OutputError(f"cannot write a plot to '-' (stdout): plots are PNG files, not "
                          f"text; give {give}.")


def png_option(ctx: object, param: object, value: str | None) -> str | None:
    """A click callback: an option's plot path, checked by :func:`png_path` and
    :func:`check_writable` before the command's work."""
    if value is not None:
        check_writable(png_path(value))
    return value


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``, its folder created; returns the path.

    Raises:
        OutputError: the folder or the file cannot be written.
    """
    with output_file(path) as file:
        file.write_text(text, encoding="utf-8")
    return file


def ascii_plot(values: Sequence[float], *, width: int = 60, height: int = 10,
               from_zero: bool = True) -> str:
    """A small terminal chart of ``values`` (an LR curve), y labelled, x in steps.

    The y axis starts at 0 (an LR curve); with ``from_zero=False`` it spans the values
    alone, and the bottom row is labelled too (a loss curve, whose valley would
    otherwise be a flat line near the top).

    Example:
        >>> chart = ascii_plot([1.0, 0.5, 0.25], width=3, height=2)
        >>> print(chart)  # doctest: +NORMALIZE_WHITESPACE
           1 |*
             | **
             +---
              0  2
    """
    if not values:
        return "(empty curve)"
    n = len(values)
    width = max(1, min(width, n))
    # one column per bucket of steps, the bucket's first value
    cols = [values[min(n - 1, (i * n) // width)] for i in range(width)]
    finite = [v for v in cols if math.isfinite(v)]
    top = max(finite) if finite else 1.0
    bottom = (min(0.0, min(finite)) if from_zero else min(finite)) if finite else 0.0
    span = (top - bottom) or 1.0
    rows = [[" "] * width for _ in range(height)]
    for x, v in enumerate(cols):
        if not math.isfinite(v):
            continue
        y = round((v - bottom) / span * (height - 1))
        rows[height - 1 - y][x] = "*"
    label = f"{top:.3g}"
    low = "" if from_zero or bottom == top else f"{bottom:.3g}"
    pad = max(len(label), len(low), 4)
    lines = []
    for i, row in enumerate(rows):
        tick = label if i == 0 else low if i == height - 1 else ""
        lines.append(f"{tick:>{pad}} |" + "".join(row).rstrip())
    lines.append(" " * pad + " +" + "-" * width)
    end = "" if n == 1 else str(n - 1)  # a run of one step: 0 is its last step too
    lines.append(" " * pad + "  0" + end.rjust(max(len(end) + 1, width - 1)).rstrip())
    return "\n".join(lines)


def save_png(
    curves: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str = "",
    xlabel: str = "step",
    ylabel: str = "learning rate",
    logy: bool = False,
    xs: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Plot named curves into a PNG at ``path`` (parents created); returns the path.

    Raises:
        OutputError: the folder or the file cannot be written.
    """
    png_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name, ys in curves.items():
        x = list(xs[name]) if xs and name in xs else list(range(len(ys)))
        ax.plot(x, list(ys), label=name, linewidth=1.6)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write a matplotlib figure to ``path`` through :func:`output_file`, then close it
    (written or not); returns the path.

    Raises:
        OutputError: the folder or the file cannot be written.
    """
    import matplotlib.pyplot as plt

    try:
        with output_file(path) as file:
            fig.savefig(file)
    finally:
        plt.close(fig)
    return file
