"""``lradvisor check``: the scheduler mistakes in training scripts, statically (no torch)."""

from __future__ import annotations

import json
import sys

import click

__all__ = ["check"]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True,
    help="text for people, json for programs.",
)
def check(paths: tuple[str, ...], fmt: str) -> None:
    """Check training scripts for LR-scheduler mistakes; exit 1 if any is found.

    PATHS are Python files or folders (searched for *.py). The check reads the code
    (it never runs it): a scheduler stepped before the optimizer, a per-step schedule
    stepped per epoch, ReduceLROnPlateau without its metric, deprecated arguments, a
    scheduler never stepped, a checkpoint without the scheduler's state, a length in
    epochs (or one epoch's batches) stepped per batch. Folders are
    searched without hidden, virtual-environment and build folders. A file that cannot
    be read or parsed (or a Jupyter notebook: export it to .py first) is named on
    stderr, the others are still checked, and the exit status is then 2.

    \b
    Examples:
      lradvisor check train.py
      lradvisor check src/ --format json
    """
    from lradvisor.checker import check_file, python_files
    from lradvisor.errors import LRAdvisorError

    files = python_files(list(paths))
    findings, unchecked = [], 0
    for file in files:  # one file that cannot be read or parsed does not stop the rest
        try:
            findings += check_file(file)
        except LRAdvisorError as err:
            click.echo(f"Error: {err}", err=True)
            unchecked += 1
    if fmt == "json":
        click.echo(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(finding.format())
        checked = f"{len(files)} file{'' if len(files) == 1 else 's'} checked"
        if unchecked:
            checked += f" ({unchecked} could not be checked)"
        if findings:
            where = len({f.path for f in findings})
            click.echo(f"\n{len(findings)} scheduler mistake(s) in {where} of {checked}.")
        else:
            click.echo(f"{checked}: no scheduler mistakes found.")
    if unchecked:
        sys.exit(2)
    if findings:
        sys.exit(1)
