"""The ``lradvisor`` command line: a thin click shell over the package.

Every subcommand module imports torch, optuna and scikit-learn only inside the
functions that need them, so ``lradvisor --help`` and ``lradvisor suggest`` stay fast.
Bad input raises an :class:`~lradvisor.errors.LRAdvisorError`; :func:`main` prints it
as one line and exits with status 2.
"""

from __future__ import annotations

import sys

import click

from lradvisor.errors import LRAdvisorError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lradvisor")
def cli() -> None:
    """Pick the learning-rate schedule for a training run, and prove the pick."""


def _register() -> None:
    from lradvisor.cli import _schedules, _search, _studies, _suggest

    cli.add_command(_suggest.suggest)
    cli.add_command(_schedules.schedules)
    cli.add_command(_search.search)
    cli.add_command(_studies.studies)
    from lradvisor.cli._lrfind import lr_find_command

    cli.add_command(lr_find_command)
    from lradvisor.cli._report import report

    cli.add_command(report)
    from lradvisor.cli._rules import rules

    cli.add_command(rules)
    from lradvisor.cli._serve import serve

    cli.add_command(serve)
    from lradvisor.cli._worker import worker

    cli.add_command(worker)
    from lradvisor.cli._policy import check

    cli.add_command(check)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; an :class:`LRAdvisorError` becomes one line on stderr and exit 2."""
    try:
        cli.main(args=argv, prog_name="lradvisor", standalone_mode=False)
    except LRAdvisorError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.UsageError as err:  # one line, as our own errors: the value, what is allowed
        where = f" (see `{err.ctx.command_path} --help`)" if err.ctx is not None else ""
        click.echo(f"Error: {err.format_message()}{where}", err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
