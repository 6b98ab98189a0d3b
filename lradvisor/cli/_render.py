"""How a recommendation is printed: text for people, JSON for programs, Python to paste."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lradvisor.codegen import pytorch_code, torch_class_name
from lradvisor.plots import ascii_plot

__all__ = ["PREVIEW_STEPS", "curve_steps", "render", "to_json"]

# Length of the illustrative curve drawn for a run of unknown length.
PREVIEW_STEPS = 1000


def curve_steps(total_steps: int | None) -> int:
    """How many steps to draw: the run's, or :data:`PREVIEW_STEPS` when unknown."""
    return total_steps if total_steps else PREVIEW_STEPS


def to_json(recommendations: Sequence[Any], *, extra: dict[str, Any] | None = None) -> dict:
    """The JSON object: the top recommendation's fields, ``alternatives``, ``prior``...

    ``extra`` (``prior``, ``trace``, ``profile``) is merged in; ``prior`` is always
    present (``null`` when there is none, e.g. an answer from a study).
    """
    top, rest = recommendations[0], recommendations[1:]
    out = dict(top.to_dict())
    out["alternatives"] = [rec.to_dict() for rec in rest]
    out["prior"] = None
    out.update(extra or {})
    return out


def render(
    recommendations: Sequence[Any],
    fmt: str,
    *,
    extra: dict[str, Any] | None = None,
    heading: str = "",
) -> str:
    """Render a ranked list of recommendations as ``text``, ``json`` or ``python``."""
    if not recommendations:
        return "No recommendation: no rule matched this profile."
    top = recommendations[0]
    if fmt == "json":
        return json.dumps(to_json(recommendations, extra=extra), indent=2, sort_keys=False)
    if fmt == "python":
        return pytorch_code(top.spec, top.total_steps)
    return _text(recommendations, heading)


def _text(recommendations: Sequence[Any], heading: str) -> str:
    top = recommendations[0]
    total = top.total_steps
    length = f"{total} steps" if total else "unknown length"
    lines = [heading or f"Recommended schedule ({length}):", ""]
    lines.append(f"  {top.spec.describe()}")
    lines.append(f"  torch: {torch_class_name(top.spec, total)}")
    lines += ["", f"Why: {top.rationale}"]
    if top.rules:
        lines.append("Rules: " + ", ".join(top.rules))
    evidence = getattr(top, "evidence", None)
    if evidence:
        lines.append(f"Evidence: {evidence}")
    steps = curve_steps(total)
    note = "" if total else f" (illustrative, {steps} steps: length unknown)"
    lines += ["", f"LR curve{note}:", ascii_plot(top.spec.curve(steps))]
    if len(recommendations) > 1:
        lines += ["", "Runners-up:"]
        for i, rec in enumerate(recommendations[1:], start=2):
            lines.append(f"  {i}. {rec.spec.describe()}")
            lines.append(f"     {rec.rationale}")
    lines += ["", "PyTorch:", _indent(pytorch_code(top.spec, total))]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.splitlines())
