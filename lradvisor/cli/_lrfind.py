"""``lradvisor lr-find``: the LR range test on a trainable or a built-in workload."""

from __future__ import annotations

from typing import Any

import click

from lradvisor.cli._options import PositiveNumber
from lradvisor.plots import png_option

__all__ = ["lr_find_command"]


@click.command("lr-find")
@click.option("--trainable",
              help="Training function: package.module:function or file.py:function.")
@click.option("--workload", help="A built-in workload, e.g. digits-cnn.")
@click.option("--lr-min", type=PositiveNumber(), default=1e-7, show_default=True,
              help="First LR of the sweep.")
@click.option("--lr-max", type=PositiveNumber(), default=10.0, show_default=True,
              help="Last LR of the sweep.")
@click.option("--steps", type=int, default=100, show_default=True,
              help="Optimizer steps of the sweep.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the (first) sweep.")
@click.option("--seeds", type=int, default=1, show_default=True,
              help="Sweeps with seeds seed, seed+1, ...; their suggestions are combined.")
@click.option("--plot", type=click.Path(dir_okay=False), callback=png_option,
              help="Also write the curve as PNG.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text",
              show_default=True, help="text for people, json for programs.")
def lr_find_command(trainable: str | None, workload: str | None, lr_min: float, lr_max: float,
                    steps: int, seed: int, seeds: int, plot: str | None, fmt: str) -> None:
    """Sweep the LR up exponentially and suggest a peak LR with a range (Smith; fastai).

    The trainable is the search's train(ctx); it should report the training loss
    often (every step at best) with ctx.report(step, loss). The sweep stops when the
    smoothed loss passes 4x its best. A trainable that raises is named in one line with
    its error and the line of its file it came from, exit status 1.

    \b
    Examples:
      lradvisor lr-find --workload digits-cnn
      lradvisor lr-find --trainable train.py:train --seeds 3 --plot lr_find.png
    """
    from lradvisor.lrfind import LRFindError, check_seed, combined, seed_agreement

    if trainable is None and workload is None:
        raise click.UsageError("Missing option '--trainable' or '--workload'.")
    if workload is not None:  # a bad name is refused, as search refuses it
        from lradvisor.workloads import get_workload

        get_workload(workload)
    if trainable is not None and workload is not None:  # search uses both; a sweep, one
        raise click.UsageError(
            f"give --trainable or --workload, not both (got {trainable!r} and {workload!r}): "
            "lr-find sweeps one training function.")
    if lr_max <= lr_min:
        raise LRFindError(f"--lr-max must be above --lr-min, but got {lr_min!r} .. {lr_max!r}.")
    if seeds < 1:
        raise LRFindError(f"seeds must be >= 1, but got {seeds!r}.")
    check_seed(seed)  # all seeds before the first sweep trains
    if seed + seeds - 1 >= 2**32:
        raise LRFindError(f"seed + seeds - 1 must be at most 4294967295, but got seed {seed} "
                          f"and seeds {seeds}.")
    results = [
        _sweep(trainable, workload=workload, lr_min=lr_min, lr_max=lr_max, steps=steps,
               seed=seed + i)
        for i in range(seeds)
    ]
    best = combined(results)
    agreement = seed_agreement(results)
    if fmt == "json":
        from lradvisor.cli._render import strict_json

        data = {"suggestion": best.to_dict(), "seed_agreement": agreement,
                "runs": [r.to_dict() for r in results]}
        click.echo(strict_json(data))
    else:
        click.echo(_text(results, best, agreement))
    if plot:  # after the result is out: a plot that fails to write does not lose it
        results[0].save_png(plot)
        click.echo(f"wrote {plot}", err=True)


def _sweep(trainable: str | None, **options: Any) -> Any:
    """:func:`~lradvisor.lrfind.lr_find`, with an error the trainable raised as one line
    naming it and the line of the trainable's file it came from, exit status 1 (user
    code failed while running, as Python's own exit for an uncaught error; input that
    cannot be used at all, a trainable that does not load included, stays exit 2)."""
    from lradvisor.lrfind import lr_find, trainable_failure

    try:
        return lr_find(trainable, **options)
    except (Exception, SystemExit) as err:
        what = trainable_failure(err)
        if what is None:  # not the trainable's: bad input (exit 2) or a fault of ours
            raise
        raise click.ClickException(f"lr-find: the trainable raised {what}") from None



def _text(results: list[Any], best: Any, agreement: float) -> str:
    from lradvisor.plots import ascii_plot

    first = results[0]
    if len(results) == 1:  # its suggestion is the one printed last
        lines = [f"LR range test, seed {first.seed}: {first.ending()}."]
    else:
        lines = [f"LR range test, seed {r.seed}: {r.ending()}; {r.suggestion.describe()}."
                 for r in results]
    lines += ["", f"Smoothed loss over the sweep (seed {first.seed}; LR {first.lrs[0]:.2g} "
              f"at the left to {first.lrs[-1]:.2g} at the right, log scale):",
              ascii_plot(_clipped(first.smoothed), from_zero=False)]
    if len(results) > 1:
        lines += ["", f"{len(results)} seeds agree within {agreement:.2f}x on the peak LR."]
    lines += ["", f"Suggested {best.describe()}.",
              f"Search it with: lradvisor search ... --lr-find (range {best.low:.3g} .. "
              f"{best.high:.3g})"]
    return "\n".join(lines)


def _clipped(values: Any) -> list[float]:
    """The curve with the blow-up cut at twice its lowest value, so the valley shows."""
    import math

    finite = [v for v in values if math.isfinite(v)]
    top = 2 * min(finite) if finite else math.inf
    return [min(v, top) if math.isfinite(v) else top for v in values]


def sweep_for_search(settings: dict[str, Any], *, seed: int) -> Any:
    """``search --lr-find``: one range test on the search's trainable, announced on stderr.

    ``seed`` is the one the search runs with (given, else a resumed study's own), not
    the settings' (``None`` on a resume that gives none).

    Returns the :class:`~lradvisor.lrfind.LRFindResult`; its suggestion's ``low`` and
    ``high`` become the search's peak-LR range, and the search stores it with the study.
    """
    if settings.get("trainable") is None and settings.get("workload") is None:
        raise click.UsageError("--lr-find needs --trainable or --workload.")
    result = _sweep(settings.get("trainable"), workload=settings.get("workload"), seed=seed)
    sug = result.suggestion
    click.echo(f"lr-find: {sug.describe()}; searching peak LR in {sug.low:.3g} .. "
               f"{sug.high:.3g}.", err=True)
    return result
