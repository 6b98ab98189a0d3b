"""``lradvisor report``: one self-contained HTML page about a stored study.

The page holds, in reading order: the task profile and the rules that fired; the LR
range test when the search ran one; the LR and validation curves of the top trials;
the pruned trials and where each was cut; parameter importances (Optuna's default
evaluator, or the reason they cannot be computed); and the recommendation with its PyTorch code.
Plots are PNGs embedded as ``data:`` URIs and the style sheet is inline, so the file
can be mailed or attached to a pull request alone.

Reads only the study (its user attributes and trials); matplotlib and optuna are
imported inside the functions that need them.

Example:
    >>> write_report("sqlite:///studies/lradvisor.db", "digits-cnn", "r.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import json
import math
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["build_report", "importances", "pruned_trials", "report_html", "write_report"]

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;border-bottom:3px solid #2b6cb0;padding-bottom:.2em}
h2{font-size:1.2em;margin-top:1.8em;color:#2b6cb0}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}
pre{background:#f7fafc;border:1px solid #ddd;padding:.8em;overflow-x:auto;font-size:.85em}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.bar{background:#4299e1;height:.9em;display:inline-block}
.note{color:#666;font-size:.9em}
.pill{background:#e2e8f0;border-radius:8px;padding:1px 6px;margin-right:4px;font-size:.85em}
"""


def write_report(storage_url: str | None, study_name: str, path: str | Path, *,
                 top: int = 5) -> Path:
    """Write the report of study ``study_name`` to ``path`` (parents created).

    Only reads the storage: an SQLite file that does not exist is an error, not created.

    Raises:
        StudyError: the storage does not exist, cannot be opened or has no such study.
        OutputError: ``path`` cannot be written.
    """
    from lradvisor.plots import write_text

    return write_text(path, report_html(storage_url, study_name, top=top))


def report_html(storage_url: str | None, study_name: str, *, top: int = 5) -> str:
    """The HTML text of the report of the stored study ``study_name`` (only reads).

    Raises:
        StudyError: the storage does not exist, cannot be opened or has no such study.
    """
    from lradvisor.storage import load_study, open_storage

    study = load_study(open_storage(storage_url, create=False), study_name,
                       single_objective=True)
    return build_report(study, top=top)


def build_report(study: Any, *, top: int = 5) -> str:
    """The HTML text of the report of ``study`` (an Optuna study)."""
    from lradvisor.search._report import summary, write_plots

    info = summary(study)
    attrs = study.user_attrs
    with tempfile.TemporaryDirectory() as folder:
        plots = {p.stem: _img(p) for p in write_plots(study, folder, top=top)}
        lr_find = _lr_find_plot(attrs.get("lr_find"), Path(folder))
        cut_plot = _img(_pruned_plot(study, Path(folder) / "pruned.png"))
    parts = [
        f"<h1>lradvisor study report: {_e(info['name'])}</h1>",
        _summary_table(info),
        "<h2>Task profile</h2>", _kv_table(attrs.get("profile") or {}),
        "<h2>Rules that fired</h2>", _rules(attrs),
        "<h2>LR range test</h2>", lr_find or
        "<p class=note>No LR range test was run for this study (search --lr-find).</p>",
        "<h2>LR schedules of the top trials</h2>", plots.get("lr_curves", ""),
        "<h2>Validation curves of the top trials</h2>", plots.get("val_curves", ""),
        plots.get("families", ""),
        "<h2>Pruned trials and where they were cut</h2>", _pruned_table(study), cut_plot,
        "<h2>Parameter importances</h2>", _importances(study),
        "<h2>Recommendation</h2>", _recommendation(study),
    ]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>lradvisor report: {_e(info['name'])}</title><style>{STYLE}</style>"
            f"</head><body>\n{body}\n</body></html>\n")


# -- data ----------------------------------------------------------------------------------
def pruned_trials(study: Any) -> list[dict[str, Any]]:
    """Pruned trials: number, spec, rung, the last step reported (the cut) and its length."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name != "PRUNED":
            continue
        attrs = trial.user_attrs
        spec = json.loads(attrs["spec"]) if attrs.get("spec") else {}
        points = sorted(trial.intermediate_values.items())
        rows.append({
            "number": trial.number, "family": spec.get("family"), "peak_lr": spec.get("peak_lr"),
            "rung": attrs.get("rung"), "cut_step": points[-1][0] if points else 0,
            "total_steps": attrs.get("total_steps"), "last_value": points[-1][1] if points
            else None, "diverged": bool(attrs.get("diverged")), "curve": points,
        })
    return rows


def importances(study: Any) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances over the completed trials, or ``None`` and why not.

    Conditional spaces (each family has its own parameters) and few trials make the
    estimate fail or mislead; the reason is returned for the page instead.
    """
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return None, f"only {len(complete)} completed trial(s); importances need at least 2."
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = optuna.importance.get_param_importances(study)
        except Exception as err:  # optuna raises ValueError/RuntimeError on such spaces
            return None, f"{type(err).__name__}: {err}"
    if not found:
        return None, "no parameter was sampled in every completed trial."
    note = (f"Optuna's default importance evaluator over {len(complete)} completed trials "
            "(all rungs); family parameters are conditional, so read these as rough.")
    if caught:
        note += f" Optuna warned {len(caught)} time(s), e.g.: {caught[0].message}"
    return dict(found), note


# -- HTML pieces ---------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(path: Path | None) -> str:
    if path is None or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_e(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _kv_table(data: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>"
                   for k, v in data.items() if v is not None)
    return f"<table>{rows}</table>" if rows else "<p class=note>(not stored)</p>"


def _summary_table(info: dict[str, Any]) -> str:
    keys = ("workload", "trainable", "direction", "trials", "complete", "pruned", "failed",
            "running", "waiting", "steps_used", "full_steps", "full_run_equivalents")
    shown = {k: info.get(k) for k in keys}
    for key in ("running", "waiting"):  # only where there are any (a killed search's)
        shown[key] = shown[key] or None
    return _kv_table(shown)


def _rules(attrs: dict[str, Any]) -> str:
    fired = attrs.get("rules") or []
    out = ["<p>" + ("".join(f"<span class=pill>{_e(r)}</span>" for r in fired)
                    or "<span class=note>(none stored)</span>") + "</p>"]
    recs = attrs.get("rules_recommendations") or []
    if recs:
        out.append("<table><tr><th>#</th><th>schedule</th><th>peak LR</th><th>why</th></tr>")
        for i, rec in enumerate(recs, start=1):
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in (rec.get("params") or {}).items())
            out.append(f"<tr><td>{i}</td><td>{_e(rec.get('family'))}({_e(params)})</td>"
                       f"<td>{_e(_fmt(rec.get('peak_lr')))}</td><td>{_e(rec.get('rationale'))}"
                       "</td></tr>")
        out.append("</table>")
    return "\n".join(out)


def _lr_find_plot(data: Any, folder: Path) -> str:
    if not data:
        return ""
    from lradvisor.lrfind import LRFindResult

    result = LRFindResult.from_dict(data)
    path = result.save_png(folder / "lr_find.png")
    return f"<p>{_e(result.describe())}</p>{_img(path)}"


def _pruned_table(study: Any) -> str:
    rows = pruned_trials(study)
    if not rows:
        return "<p class=note>No trial was pruned.</p>"
    out = ["<table><tr><th>trial</th><th>family</th><th>peak LR</th><th>rung</th>"
           "<th>cut at step</th><th>of</th><th>last value</th><th>why</th></tr>"]
    for r in rows:
        why = "diverged" if r["diverged"] else "pruner"
        out.append(
            f"<tr><td>#{r['number']}</td><td>{_e(r['family'])}</td><td>{_e(_fmt(r['peak_lr']))}"
            f"</td><td>{_e(r['rung'])}</td><td>{r['cut_step']}</td><td>{_e(r['total_steps'])}"
            f"</td><td>{_e(_fmt(r['last_value']))}</td><td>{why}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _pruned_plot(study: Any, path: Path) -> Path | None:
    """First-rung curves: completed in colour, pruned in grey with a cross at the cut."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = [t for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("rung", 0) == 0 and t.intermediate_values]
    if not trials:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for trial in trials:
        points = sorted(trial.intermediate_values.items())
        xs = [s for s, v in points if math.isfinite(v)]
        ys = [v for _, v in points if math.isfinite(v)]
        if not xs:
            continue
        if trial.state.name == "PRUNED":
            ax.plot(xs, ys, color="0.6", linewidth=1)
            ax.plot(xs[-1], ys[-1], "x", color="crimson", markersize=7)
        else:
            ax.plot(xs, ys, linewidth=1.2, alpha=0.8)
    ax.set_xlabel("step of the first-rung proxy run")
    ax.set_ylabel("validation value")
    ax.set_title("First rung: pruned runs in grey, x where they were cut")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _importances(study: Any) -> str:
    found, note = importances(study)
    if found is None:
        return f"<p class=note>Not computed: {_e(note)}</p>"
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{v:.3f}</td><td><span class=bar style='width:{v * 300:.0f}px'>"
        "</span></td></tr>" for k, v in found.items())
    return f"<table><tr><th>parameter</th><th>importance</th><th></th></tr>{rows}</table>" \
           f"<p class=note>{_e(note)}</p>"


def _recommendation(study: Any) -> str:
    """The stored recommendation, or, for a study that stores none (one driven through
    the service), the one ``studies best`` computes from its trials so far."""
    from lradvisor.cli._render import evidence_line
    from lradvisor.codegen import pytorch_code
    from lradvisor.errors import StudyError
    from lradvisor.search._recommend import study_pick

    try:
        (rec, *alternatives), data = study_pick(study)
    except StudyError as err:  # no completed trial yet, or none with a schedule
        return f"<p class=note>No recommendation: {_e(err)}</p>"
    others = "".join(f"<li><b>{_e(alt.spec.describe())}</b>: {_e(alt.rationale)}</li>"
                     for alt in alternatives)
    return (f"<p><b>{_e(rec.spec.describe())}</b> for {_e(rec.total_steps)} steps</p>"
            f"{_winner(data)}<p>{_e(rec.rationale)}</p>"
            f"<p class=note>{_e(evidence_line(rec.evidence or 'none stored'))}</p>"
            f"<pre>{_e(pytorch_code(rec.spec, rec.total_steps))}</pre>"
            + (f"<p>Runners-up (the other finalists):</p><ol start=2>{others}</ol>"
               if others else ""))


def _winner(data: dict[str, Any]) -> str:
    """Which trial the recommendation is and the length it was judged at, as ``studies
    best`` states it (``Trial #12, judged at rung 1: 100% of the run (60 of 60 steps),
    the first of 2 seeds; promoted from #3.``); nothing where no trial is stored."""
    if data.get("trial") is None:
        return ""
    text = f"Trial #{data['trial']}"
    if data.get("rung") is not None and data.get("fraction") is not None:
        text += f", judged at rung {data['rung']}: {data['fraction']:.0%} of the run"
        if data.get("length_steps") and data.get("full_steps"):
            text += f" ({data['length_steps']} of {data['full_steps']} steps)"
    if (data.get("seeds") or 1) > 1:
        text += f", the first of {data['seeds']} seeds"
    chain = [n for n in data.get("lineage") or () if n != data["trial"]]
    if chain:
        text += "; promoted from " + " \u2192 ".join(f"#{n}" for n in chain)
    return f"<p>{_e(text)}.</p>"
