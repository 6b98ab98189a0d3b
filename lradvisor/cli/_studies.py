"""``lradvisor studies`` (placeholder until the search lands)."""

import click


@click.group()
def studies() -> None:
    """List, show and export stored studies (not yet available)."""
