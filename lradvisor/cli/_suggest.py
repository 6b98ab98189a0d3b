"""``lradvisor suggest``: the rules' recommendation in milliseconds (no torch, no optuna)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lradvisor.cli._options import (
    format_option,
    profile_from_options,
    profile_options,
    storage_option,
)
from lradvisor.cli._render import LazyCurve, curve_steps, render, sampled
from lradvisor.plots import png_option

__all__ = ["learned_options", "suggest"]


def learned_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--learned`` and ``--rules-only``, as ``suggest`` and ``serve`` take them."""
    command = click.option("--rules-only", is_flag=True, help="Ignore the learned guide.")(
        command)
    return click.option(
        "--learned", type=click.Path(dir_okay=False),
        help="Learned guide (lradvisor rules learn), which must exist; default "
        "$LRADVISOR_LEARNED or studies/learned.json when it exists.")(command)


@click.command()
@profile_options
@format_option
@click.option("--plot", "plot", type=click.Path(dir_okay=False), callback=png_option,
              help="Also write the LR curve as PNG.")
@click.option("--study", help="Answer from a stored study's best trial instead of the rules.")
@storage_option
@learned_options
def suggest(fmt: str, plot: str | None, study: str | None, storage: str | None,
            learned: str | None, rules_only: bool, **options: Any) -> None:
    """Recommend a learning-rate schedule for a task profile.

    \b
    Examples:
      lradvisor suggest --task finetune
      lradvisor suggest --task scratch --arch cnn --epochs 30 --steps-per-epoch 100
      lradvisor suggest --task pretrain --total-steps 20000 --format python
    """
    if study is not None:
        given = [f"--{'rules' if k == 'rules_files' else k.replace('_', '-')}"
                 for k, v in options.items() if v not in (None, ())]
        if given:  # they would be ignored: the study has its own profile
            raise click.UsageError(
                f"--study answers from the study's own profile and rules; drop "
                f"{', '.join(given)}.")
        from lradvisor.search import best_recommendations
        from lradvisor.storage import require_storage

        require_storage(storage)  # only reads: a mistyped SQLite path is not created
        recs = best_recommendations(storage, study)
        extra: dict[str, Any] = {"study": study}
        heading, note = f"Best schedule found by study {study!r}:", ""
    else:
        from lradvisor.rules._learn import advise_blended, load_learned, unfound_note

        profile = profile_from_options(options)
        guide = None if rules_only else load_learned(learned)
        advice, note = advise_blended(profile, options.get("rules_files") or (), guide)
        if not rules_only and guide is None and (unfound := unfound_note(learned)):
            click.echo(unfound, err=True)  # the answer stands: the guide is optional
        heading = ""
        recs = list(advice.recommendations)
        data = advice.to_dict()
        extra = {k: data[k] for k in ("prior", "trace", "profile") if k in data}
    click.echo(render(recs, fmt, extra=extra, heading=heading, note=note))
    if plot and recs:
        _plot(recs, plot)


def _plot(recs: list[Any], path: str) -> None:
    from lradvisor.plots import save_png

    steps = curve_steps(recs[0].total_steps)
    curves, xs = {}, {}
    for rec in recs[:4]:
        name = rec.spec.describe()[:60]
        xs[name], curves[name] = sampled(LazyCurve(rec.spec, steps))
    save_png(curves, path, title="lradvisor: recommended LR schedules", xs=xs)
    click.echo(f"wrote {path}", err=True)
