"""``lradvisor search`` (placeholder until the search lands)."""

import click


@click.command()
def search() -> None:
    """Search schedule families with short proxy runs (not yet available)."""
    raise click.ClickException("search is not available yet")
