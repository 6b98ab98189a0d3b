"""A stored study for people and programs: trial rows, a summary, PNG plots.

Used by ``lradvisor studies``; reads only the study (its user attributes and trials).
matplotlib is imported inside :func:`write_plots`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lradvisor.search._fidelity import Fidelity
from lradvisor.search._rungs import leaderboard
from lradvisor.search._trial import record_of

__all__ = ["SUMMARY_ATTRS", "export_rows", "summary", "summary_of", "trial_rows",
           "write_plots"]

COLUMNS = ("number", "state", "value", "rung", "fidelity", "total_steps", "seed", "origin",
           "parent", "steps_used", "diverged", "error", "family", "peak_lr", "spec")
#: The study user attributes :func:`summary_of` reads.
SUMMARY_ATTRS = ("full_steps", "recommendation", "workload", "trainable")


def trial_rows(study: Any, *, curves: bool = False,
               params: bool = False) -> list[dict[str, Any]]:
    """One flat dict per trial (``COLUMNS``; with ``curves`` also ``curve``, with
    ``params`` also ``params``, Optuna's parameters of the trial: a plain Optuna study's
    trials hold nothing else of what they tried)."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        spec = json.loads(attrs["spec"]) if attrs.get("spec") else {}
        row = {
            "number": trial.number, "state": trial.state.name, "value": trial.value,
            "rung": attrs.get("rung"), "fidelity": attrs.get("fidelity"),
            "total_steps": attrs.get("total_steps"), "seed": attrs.get("seed"),
            "origin": attrs.get("origin"), "parent": attrs.get("parent"),
            "steps_used": attrs.get("steps_used", 0), "diverged": attrs.get("diverged", False),
            "error": attrs.get("error"), "family": spec.get("family"),
            "peak_lr": spec.get("peak_lr"), "spec": attrs.get("spec"),
        }
        if curves:
            row["curve"] = [[s, v] for s, v in sorted(trial.intermediate_values.items())]
        if params:
            row["params"] = dict(trial.params)
        rows.append(row)
    return rows


def export_rows(study: Any, *, nested: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows ``studies export`` writes: :func:`trial_rows`, with the
    curves when ``nested`` (JSON), and for a study none of whose trials stores a spec
    (plain Optuna's: its trials hold nothing else of what they tried) each trial's
    Optuna parameters, as a ``params`` dict when ``nested``, else one ``params_NAME``
    column each (named as Optuna's ``trials_dataframe`` names them; empty where a trial
    has none). A study of lradvisor's keeps :data:`COLUMNS`: its spec is its parameters.
    """
    rows = trial_rows(study, curves=nested, params=True)
    plain = not any(row["spec"] for row in rows)
    names = sorted({key for row in rows for key in row["params"]}) if plain else []
    for row in rows:
        found = row.pop("params")
        if plain and nested:
            row["params"] = found
        elif plain:
            row.update({f"params_{key}": found.get(key) for key in names})
    return [*COLUMNS, *(f"params_{key}" for key in names)], rows


def summary(study: Any) -> dict[str, Any]:
    """Counts, compute and the stored recommendation of a study."""
    rows = trial_rows(study)
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return summary_of(study.study_name, study.direction.name.lower(), states,
                      sum(r["steps_used"] or 0 for r in rows), study.user_attrs)


def summary_of(name: str, direction: str, states: Mapping[str, int], steps: float,
               attrs: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`summary` from the trials' counts by state, the steps they used and the
    study's user attributes (``full_steps``, ``recommendation``, ``workload``,
    ``trainable``: a list reads these alone, for all studies at once)."""
    full = attrs.get("full_steps")
    rec = attrs.get("recommendation")
    return {
        "name": name,
        "direction": direction,
        "trials": sum(states.values()),
        "complete": states.get("COMPLETE", 0),
        "pruned": states.get("PRUNED", 0),
        "failed": states.get("FAIL", 0),
        "running": states.get("RUNNING", 0),  # a killed search's, until a resume fails it
        "waiting": states.get("WAITING", 0),
        "steps_used": steps,
        "full_steps": full,
        "full_run_equivalents": round(steps / full, 3) if full else None,
        "best": None if rec is None else rec.get("family"),
        "best_value": None if rec is None else rec.get("score"),
        "workload": attrs.get("workload"),
        "trainable": attrs.get("trainable"),
    }


def write_plots(study: Any, folder: str | Path, *, top: int = 5) -> list[Path]:
    """Write ``lr_curves.png``, ``val_curves.png`` and ``families.png`` into ``folder``.

    The top trials are the best configurations of the longest rung with a completed
    trial; LR curves are drawn for the full run, validation curves against the
    fraction of the run, the family comparison from the first rung.
    """
    from lradvisor.plots import save_png

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    direction = study.direction.name.lower()
    fid = Fidelity.from_dict(study.user_attrs["fidelity"]) if study.user_attrs.get(
        "fidelity") else Fidelity()
    full = int(study.user_attrs.get("full_steps") or 100)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    records = [record_of(t) for t in trials.values()]
    board = []
    for rung in range(fid.last, -1, -1):
        board = leaderboard(records, rung, direction)
        if board:
            break
    chosen = board[:top]
    names = [f"#{e.best.number} {e.spec.describe()[:48]}" for e in chosen]
    lrs = {n: e.spec.curve(full) for n, e in zip(names, chosen, strict=False)}
    out = [save_png(lrs or {"(no completed trial)": [0.0]}, folder / "lr_curves.png",
                    title="LR schedules of the top trials (full run)")]
    vals, xs = {}, {}
    for name, entry in zip(names, chosen, strict=False):
        trial = trials[entry.best.number]
        total = trial.user_attrs.get("total_steps") or 1
        points = sorted(trial.intermediate_values.items())
        vals[name] = [v for _, v in points]
        xs[name] = [s / total for s, _ in points]
    out.append(save_png(vals or {"(no curve)": [0.0]}, folder / "val_curves.png",
                        xs=xs, title="Validation curves of the top trials",
                        xlabel="fraction of the proxy run", ylabel="validation value"))
    out.append(_family_plot(records, direction, folder / "families.png"))
    return out


def _family_plot(records: list[Any], direction: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_family: dict[str, list[float]] = {}
    for rec in records:
        if rec.rung == 0 and rec.spec is not None and rec.value is not None \
                and rec.state == "COMPLETE" and math.isfinite(rec.value):
            by_family.setdefault(rec.spec.family, []).append(rec.value)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    names = sorted(by_family)
    for i, name in enumerate(names):
        ys = by_family[name]
        ax.scatter([i] * len(ys), ys, alpha=0.6)
        best = min(ys) if direction == "minimize" else max(ys)
        ax.plot([i - 0.3, i + 0.3], [best, best], color="black", linewidth=1.5)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("first-rung validation value")
    ax.set_title("Families compared at the first rung (bar: best)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
