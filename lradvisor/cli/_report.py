"""``lradvisor report``: a stored study as one self-contained HTML page."""

from __future__ import annotations

import click

from lradvisor.cli._options import storage_option

__all__ = ["report"]


@click.command()
@click.argument("study")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="report.html",
              show_default=True, help="The HTML file to write; - for stdout.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many of the best trials to draw.")
@storage_option
def report(study: str, output: str, top: int, storage: str | None) -> None:
    """Write an HTML report of STUDY: profile, rules, curves, pruned trials, importances,
    and the recommendation with code (plots embedded; one file).

    \b
    Example:
      lradvisor report digits-cnn -o report.html
      lradvisor report digits-cnn -o - | gzip > report.html.gz
    """
    from lradvisor.plots import STDOUT

    if output == STDOUT:
        from lradvisor.report import report_html

        click.echo(report_html(storage, study, top=top), nl=False)
        return
    from lradvisor.report import write_report

    path = write_report(storage, study, output, top=top)
    click.echo(f"wrote {path}", err=True)
