"""``lradvisor rules``: the guide itself; ``rules learn`` fits its learned part."""

from __future__ import annotations

import click

from lradvisor.cli._options import storage_option

__all__ = ["rules"]


@click.group()
def rules() -> None:
    """The schedule guide: learn from finished studies."""


@rules.command("learn")
@storage_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the learned guide (default $LRADVISOR_LEARNED or "
              "studies/learned.json); - for stdout (the summary goes to stderr then).")
def learn_cmd(storage: str | None, output: str | None) -> None:
    """Fit the learned guide from every finished study in the database.

    `suggest` then blends it with the rules (and says so), and a new search starts
    from what won on similar studies. Without the file the rules answer alone.

    \b
    Example:
      lradvisor rules learn --storage sqlite:///studies/lradvisor.db
    """
    from lradvisor.learn import learn, learned_from
    from lradvisor.plots import STDOUT, check_writable
    from lradvisor.rules._learn import count_studies, learned_path

    to_stdout = output == STDOUT
    if to_stdout:
        guide, counts = learned_from(storage)
        click.echo(guide.to_json())
        where = "stdout"
    else:
        check_writable(learned_path(output))  # before the database is read
        guide, path, counts = learn(storage, output)
        where = str(path)
    # the summary is for people: on stderr when stdout carries the guide
    click.echo(f"learned from {count_studies(len(guide.studies), 'finished ')}; wrote {where}",
               err=to_stdout)
    for study, count in zip(guide.studies, counts, strict=False):
        winner = study["winner"]
        similar = count_studies(count, "other similar ")
        click.echo(f"  {study['name']}: won by {winner['family']} at peak "
                   f"{winner.get('peak_lr') or 0:.3g}; {similar}", err=to_stdout)
