"""``lradvisor schedules list|show|plot``: the schedule families and their curves."""

from __future__ import annotations

import click

from lradvisor.cli._options import PositiveNumber, RunLength
from lradvisor.cli._render import LazyCurve, sampled
from lradvisor.codegen import torch_class_name
from lradvisor.plots import ascii_plot, png_option
from lradvisor.schedules import Family, ScheduleSpec, all_families, get_family

__all__ = ["schedules"]


@click.group()
def schedules() -> None:
    """The schedule families lradvisor knows."""


@schedules.command("list")
def list_() -> None:
    """One line per family."""
    for family in all_families():
        click.echo(f"{family.name:<16} {family.summary}")


@schedules.command()
@click.argument("family")
def show(family: str) -> None:
    """A family's parameters: defaults, allowed values, search ranges."""
    fam = get_family(family)
    click.echo(f"{fam.name}: {fam.summary}")
    if fam.guide:
        click.echo(f"When: {fam.guide}")
    click.echo(f"torch: {_torch_classes(fam)}")
    click.echo("Parameters:")
    for p in fam.all_params:
        search = f"; searched in {p.search}" if p.search else ""
        alt = f" (or {p.steps_name})" if p.length else ""
        click.echo(f"  {p.name}{alt} = {p.default!r}: {p.doc} [{p.allowed()}{search}]")


def _torch_classes(fam: Family) -> str:
    """The torch class ``build_scheduler`` returns for the family, and when LambdaLR."""
    if fam.adaptive:  # build_scheduler's PlateauLR, as suggest names it
        return torch_class_name(ScheduleSpec(fam.name), None)
    if fam.native is None:
        return fam.torch_class
    when = ["with warmup"] if fam.warmup else []
    if fam.native_fits is not None:
        when.append("where torch's class cannot express the parameters")
    when.append("for param groups of different LRs")
    *first, last = when
    return f"{fam.torch_class}; LambdaLR {', '.join(first)}{' or ' if first else ''}{last}"


@schedules.command()
@click.argument("family")
@click.option("--total-steps", type=RunLength(), default=1000,
              show_default=True)
@click.option("--peak-lr", type=PositiveNumber(), default=None,
              help="Scale the curve (default: 1).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="A parameter; repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), callback=png_option,
              help="Write a PNG too.")
def plot(family: str, total_steps: int, peak_lr: float | None, params: tuple[str, ...],
         output: str | None) -> None:
    """Draw a family's LR curve in the terminal (and as PNG with -o)."""
    given = {}
    for item in params:
        if "=" not in item:
            raise click.BadParameter(f"expected K=V, got {item!r}", param_hint="--param")
        key, value = item.split("=", 1)
        given[key.strip()] = value.strip()
    spec = ScheduleSpec(family, given, peak_lr)
    curve = LazyCurve(spec, total_steps)  # a billion steps: read where drawn, not listed
    click.echo(spec.describe())
    click.echo(ascii_plot(curve))
    if output:
        from lradvisor.plots import save_png

        xs, ys = sampled(curve)
        save_png({spec.describe(): ys}, output, title=f"lradvisor: {family}",
                 xs={spec.describe(): xs})
        click.echo(f"wrote {output}", err=True)
