"""``lradvisor studies``: list, show, best, export and delete stored studies."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from typing import Any

import click

from lradvisor.cli._options import format_option, storage_option

__all__ = ["studies"]


@click.group()
def studies() -> None:
    """List, show, export and delete stored studies."""


def _open(storage: str | None, name: str | None = None, *, write: bool = False) -> Any:
    """The storage (or its study ``name``); a missing SQLite file is an error, not
    created. These commands only read (a read-only database is opened read-only), but
    ``delete``, which says ``write``."""
    from lradvisor.storage import load_study, open_storage

    rdb = open_storage(storage, create=False, write=write)
    return rdb if name is None else load_study(rdb, name, single_objective=True)


@studies.command("list")
@storage_option
def list_cmd(storage: str | None) -> None:
    """One line per study: trials, compute, the recommended family."""
    from lradvisor.search._report import SUMMARY_ATTRS, summary_of
    from lradvisor.storage import study_overviews

    rdb = _open(storage)
    found = study_overviews(rdb, SUMMARY_ATTRS)  # all studies' counts in a few queries
    if not found:
        click.echo("No studies in this storage.")
        return
    rows = []
    for item in found:
        s = summary_of(item.name, "/".join(d[:3] for d in item.directions), item.states,
                       item.steps_used, item.user_attrs)
        runs = "-" if s["full_run_equivalents"] is None else f"{s['full_run_equivalents']:.2f}"
        family, score, so_far = s["best"], s["best_value"], ""
        if family is None and item.scheduled and len(item.directions) == 1:
            family, score, so_far = _best_so_far(rdb, item.name)
        best = family or "-"
        if score is not None:
            best += f" ({score:.4g}){so_far}"
        rows.append([s["name"], s["direction"], str(s["trials"]), str(s["pruned"]),
                     str(s["failed"]), runs, best])
    for line in _table(["study", "dir", "trials", "pruned", "failed", "full runs", "best"],
                       rows):
        click.echo(line)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """``header`` and ``rows`` as aligned lines: each column as wide as its widest cell
    (a long study name widens its column, not the row), names and directions to the
    left, counts to the right, two spaces before the last column (left as it is).

    Example:
        >>> _table(["study", "dir", "trials", "pruned", "failed", "full runs", "best"],
        ...        [["a-long-name", "min", "3", "0", "0", "0.50", "cosine (0.1)"]])[1]
        'a-long-name min           3      0      0      0.50  cosine (0.1)'
    """
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    widths[1] = max(widths[1], 8)  # the direction as wide as it was (min/max fits)
    out = []
    for row in (header, *rows):
        cells = [f"{row[0]:<{widths[0]}}", f"{row[1]:<{widths[1]}}",
                 *(f"{cell:>{width}}" for cell, width in zip(row[2:-1], widths[2:], strict=True))]
        out.append(" ".join(cells) + "  " + row[-1])
    return out


def _best_so_far(rdb: Any, name: str) -> tuple[str | None, float | None, str]:
    """``(family, score, " so far")`` of a study that stores no recommendation (a killed
    search's, the service's), as ``studies best`` computes it from its trials; ``(None,
    None, "")`` when it has none. Only such studies' trials are loaded."""
    from lradvisor.errors import StudyError
    from lradvisor.search._recommend import study_recommendation
    from lradvisor.storage import load_study

    try:
        rec = study_recommendation(load_study(rdb, name, single_objective=True))
    except StudyError:
        return None, None, ""
    return rec.spec.family, rec.score, " so far"


@studies.command()
@click.argument("name")
@storage_option
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False),
              help="Write PNG plots (LR curves, validation curves, families) here.")
def show(name: str, storage: str | None, plot_dir: str | None) -> None:
    """A study's profile, proxy settings, rules, trials and recommendation."""
    from lradvisor.plots import not_stdout
    from lradvisor.search._report import summary, trial_rows, write_plots

    if plot_dir is not None:
        not_stdout(plot_dir, "a folder for them")
    study = _open(storage, name)
    s = summary(study)
    attrs = study.user_attrs
    unfinished = "".join(f", {s[k]} {k}" for k in ("running", "waiting") if s[k])
    click.echo(f"study {name!r} ({s['direction']}): {s['trials']} trials, {s['complete']} "
               f"complete, {s['pruned']} pruned, {s['failed']} failed{unfinished}; "
               f"{s['steps_used']} steps" + (
                   f" = {s['full_run_equivalents']} full runs of {s['full_steps']} steps"
                   if s["full_steps"] else " (no full-run length stored)"))
    for key in ("workload", "trainable", "profile", "fidelity", "rules"):
        if attrs.get(key) is not None:
            click.echo(f"{key}: {json.dumps(attrs[key])}")
    if attrs.get("pruner") is not None:  # the creation's, then each resume that changed them
        click.echo(f"created with: {_run_settings(attrs)}")
        for resume in attrs.get("resumes") or []:
            click.echo(f"resumed {resume.get('at', '?')} with: {_run_settings(resume)}"
                       + _resumed_range(resume))
    guide = attrs.get("learned_guide") or {}
    near = guide.get("studies") or []
    if near:
        names = ", ".join(str(s.get("name")) for s in near[:5]) + (", ..." if near[5:] else "")
        from lradvisor.rules._learn import LearnedGuide, count_studies  # plain Python

        thin = len(near) < int(guide.get("min_studies", LearnedGuide.min_studies))
        click.echo(f"learned guide: {count_studies(len(near), 'similar ')} ({names})"
                   + ("; too few, so the rules' ranking was kept" if thin else ""))
    click.echo("")
    click.echo(f"{'#':>4} {'rung':>4} {'state':<8} {'value':>10} {'steps':>6} {'from':>4} "
               f"{'origin':<9} spec")
    for row in trial_rows(study):
        value = "-" if row["value"] is None else f"{row['value']:.4g}"
        parent = "-" if row["parent"] is None else str(row["parent"])
        what = _describe(row["spec"]) if row["spec"] else ""
        if row["error"]:
            what += f"  [{row['error'][:60]}]"
        click.echo(f"{row['number']:>4} {row['rung'] if row['rung'] is not None else '-':>4} "
                   f"{row['state']:<8} {value:>10} {row['steps_used']:>6} {parent:>4} "
                   f"{(row['origin'] or '-'):<9} {what}")
    from lradvisor.cli._worker import show_workers

    show_workers(study)  # per-worker progress, stale and retried trials
    rec = attrs.get("recommendation")
    computed = ""
    if not rec:  # a study the service drives stores none: as `studies best` computes it
        from lradvisor.errors import StudyError
        from lradvisor.search._recommend import study_recommendation

        with contextlib.suppress(StudyError):
            rec, computed = study_recommendation(study).to_dict(), " (from its trials so far)"
    if rec:
        click.echo("")
        click.echo(f"Recommendation{computed}: {_describe(json.dumps(rec))}")
        click.echo(f"Evidence: {rec.get('evidence')}")
    if plot_dir:
        from lradvisor.plots import output_file

        with output_file(plot_dir):  # a folder that cannot be made: one line naming it
            paths = write_plots(study, plot_dir)
        for path in paths:
            click.echo(f"wrote {path}", err=True)


def _run_settings(attrs: dict[str, Any]) -> str:
    """``pruner plateau, sampler tpe, seed 0``."""
    return ", ".join(f"{key} {attrs.get(key)}" for key in ("pruner", "sampler", "seed"))


def _lr_range(pair: Any) -> str:
    """``0.0001 to 0.01``: a stored ``[low, high]`` peak-LR range."""
    return f"{float(pair[0]):.3g} to {float(pair[1]):.3g}"


def _resumed_range(resume: dict[str, Any]) -> str:
    """``, peak-LR range 0.002 to 0.05 (was 0.0001 to 0.01)`` for a resume that gave
    the study a new range (a new ``--lr-find``); nothing for one that did not."""
    if not resume.get("lr_range"):
        return ""
    was = resume.get("lr_range_was")
    return f", peak-LR range {_lr_range(resume['lr_range'])}" + (
        f" (was {_lr_range(was)})" if was else "")


def _describe(spec_json: str) -> str:
    from lradvisor.schedules import ScheduleSpec

    data = json.loads(spec_json)
    spec = ScheduleSpec.from_dict({k: data[k] for k in ("family", "params", "peak_lr")
                                   if k in data})
    return spec.describe()


@studies.command()
@click.argument("name")
@storage_option
@format_option
def best(name: str, storage: str | None, fmt: str) -> None:
    """The study's recommendation for the full run (text, json or python)."""
    from lradvisor.cli._render import render
    from lradvisor.search import best_recommendations
    from lradvisor.storage import require_storage

    require_storage(storage)  # only reads: a mistyped SQLite path is not created
    click.echo(render(best_recommendations(storage, name), fmt, extra={"study": name},
                      heading=f"Best schedule found by study {name!r}:"))


@studies.command()
@click.argument("name")
@storage_option
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="csv",
              show_default=True, help="csv: one row per trial; json: the study and its trials.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write here (folders created), not stdout; - is stdout.")
def export(name: str, storage: str | None, fmt: str, output: str | None) -> None:
    """Every trial of a study (spec, rung, lineage, steps, value), as CSV or JSON; a
    plain Optuna study's with its trials' parameters (``params``, ``params_NAME``)."""
    from lradvisor.cli._render import strict_json
    from lradvisor.search._report import export_rows

    study = _open(storage, name)
    columns, rows = export_rows(study, nested=fmt == "json")
    if fmt == "json":
        data = {"study": name, "direction": study.direction.name.lower(),
                "user_attrs": study.user_attrs, "trials": rows}
        text = strict_json(data)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue().rstrip("\n")
    from lradvisor.plots import STDOUT

    if output and output != STDOUT:
        from lradvisor.plots import write_text

        path = write_text(output, text + "\n")
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(text)



@studies.command()
@click.argument("name")
@storage_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, storage: str | None, yes: bool) -> None:
    """Delete a study and all its trials."""
    from lradvisor.storage import delete_study, load_study

    rdb = _open(storage, write=True)  # a read-only database: one line before any question
    load_study(rdb, name)  # a study that is not there is an error before any question
    if not yes and not _confirmed(f"Delete study {name!r} and all its trials?", name):
        click.echo(f"Kept study {name!r}.", err=True)
        sys.exit(1)  # not deleted, as asked: not an interrupt (130)
    delete_study(rdb, name)
    click.echo(f"deleted study {name!r}")


def _confirmed(question: str, name: str) -> bool:
    """The answer to ``question`` on stdin. A stdin at its end with no answer (``</dev/null``,
    a script with no terminal) is not a Ctrl-C (exit 130): the study is not deleted, in one
    line saying why, exit 1 as for "no". click raises ``Abort`` for both; the ``EOFError``
    it replaced tells them apart. A Ctrl-C at the question still aborts (130)."""
    try:
        return click.confirm(question)
    except click.exceptions.Abort as err:
        if not isinstance(err.__context__, EOFError):
            raise
    click.echo("")  # end the question's line, as the Enter of an answer would
    raise click.ClickException(f"study {name!r} not deleted: no answer on stdin; pass --yes "
                               "to delete without asking.")
