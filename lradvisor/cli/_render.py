"""How a recommendation is printed: text for people, JSON for programs, Python to paste."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from lradvisor.codegen import pytorch_code, torch_class_name
from lradvisor.plots import ascii_plot

__all__ = ["PREVIEW_STEPS", "LazyCurve", "curve_steps", "evidence_line", "interval_of",
           "render", "sampled", "strict_json", "to_json"]

# Length of the illustrative curve drawn for a run of unknown length.
PREVIEW_STEPS = 1000


def curve_steps(total_steps: int | None) -> int:
    """How many steps to draw: the run's, or :data:`PREVIEW_STEPS` when unknown."""
    return total_steps if total_steps else PREVIEW_STEPS


def interval_of(profile: Mapping[str, Any] | None) -> str:
    """What one ``scheduler.step()`` stands for in a run of this profile (its dict form).

    ``"epoch"`` for epochs with no steps per epoch (their count is the run's length in
    scheduler steps, one per epoch), else ``"step"``, one optimizer step; a
    recommendation from a study is counted in optimizer steps too.
    """
    if not profile:
        return "step"
    from lradvisor.rules import TaskProfile

    return TaskProfile.from_dict(profile).interval


def to_json(
    recommendations: Sequence[Any],
    *,
    extra: dict[str, Any] | None = None,
    interval: str | None = None,
) -> dict:
    """The JSON object: the top recommendation's fields, ``alternatives``, ``prior``...

    Each recommendation's ``total_steps`` is followed by ``interval`` (``"step"`` or
    ``"epoch"``, default :func:`interval_of` the ``profile`` in ``extra``): what one of
    those steps is. ``extra`` (``prior``, ``trace``, ``profile``) is merged in;
    ``prior`` is always present (``null`` when there is none, e.g. an answer from a
    study).
    """
    interval = interval or interval_of((extra or {}).get("profile"))
    top, rest = recommendations[0], recommendations[1:]
    out = _with_interval(top.to_dict(), interval)
    out["alternatives"] = [_with_interval(rec.to_dict(), interval) for rec in rest]
    out["prior"] = None
    out.update(extra or {})
    return out


def _with_interval(data: Mapping[str, Any], interval: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = value
        if key == "total_steps":
            out["interval"] = interval
    return out


def render(
    recommendations: Sequence[Any],
    fmt: str,
    *,
    extra: dict[str, Any] | None = None,
    heading: str = "",
    interval: str | None = None,
    note: str = "",
) -> str:
    """Render a ranked list of recommendations as ``text``, ``json`` or ``python``.

    ``interval`` (``"step"`` or ``"epoch"``) says what one scheduler step is; default
    :func:`interval_of` the ``profile`` in ``extra``, so a profile with epochs alone is
    shown, and its code written, as stepped once per epoch. ``note``: the text's
    evidence line when the top recommendation carries none (evidence too thin to
    count); the JSON has it in ``trace``.
    """
    if not recommendations:
        return "No recommendation: no rule matched this profile."
    top = recommendations[0]
    interval = interval or interval_of((extra or {}).get("profile"))
    if fmt == "json":
        data = to_json(recommendations, extra=extra, interval=interval)
        return json.dumps(data, indent=2, sort_keys=False)
    if fmt == "python":
        return pytorch_code(top.spec, top.total_steps, interval)
    return _text(recommendations, heading, interval, note)


def _text(recommendations: Sequence[Any], heading: str, interval: str, note: str) -> str:
    top = recommendations[0]
    total = top.total_steps
    if not total:
        length = "unknown length"
    elif interval == "epoch":
        length = f"{_plural(total, 'epoch')}, one scheduler step per epoch"
    else:
        length = _plural(total, "step")
    lines = [heading or f"Recommended schedule ({length}):", ""]
    lines.append(f"  {top.spec.describe()}")
    lines.append(f"  torch: {torch_class_name(top.spec, total)}")
    lines += ["", f"Why: {top.rationale}"]
    if top.rules:
        lines.append("Rules: " + ", ".join(top.rules))
    evidence = getattr(top, "evidence", None) or note
    if evidence:
        lines.append(evidence_line(evidence))
    steps = curve_steps(total)
    note = "" if total else f" (illustrative, {steps} steps: length unknown)"
    lines += ["", f"LR curve{note}:", ascii_plot(LazyCurve(top.spec, steps))]
    if len(recommendations) > 1:
        lines += ["", "Runners-up:"]
        for i, rec in enumerate(recommendations[1:], start=2):
            lines.append(f"  {i}. {rec.spec.describe()}")
            lines.append(f"     {rec.rationale}")
    lines += ["", "PyTorch:", _indent(pytorch_code(top.spec, total, interval))]
    return "\n".join(lines)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def evidence_line(evidence: str) -> str:
    """``Evidence: ...``, once: a learned guide's text already starts with the word
    (``evidence: 7 studies, digits-cnn-like``), a study's does not."""
    if evidence.lower().startswith("evidence:"):
        return "Evidence:" + evidence[len("evidence:"):]
    return f"Evidence: {evidence}"


class LazyCurve(Sequence[float]):
    """A spec's LR curve over ``total_steps`` steps, each value computed when read: a
    chart reads 60 of a run's steps, which may number a billion.

    Example:
        >>> from lradvisor.schedules import ScheduleSpec
        >>> curve = LazyCurve(ScheduleSpec.create("linear", peak_lr=1.0), 10**9)
        >>> len(curve), curve[0], curve[-1] < 1e-8
        (1000000000, 1.0, True)
    """

    def __init__(self, spec: Any, total_steps: int) -> None:
        self._fn = spec.multiplier_fn(total_steps)
        self._peak = spec.peak_lr if spec.peak_lr is not None else 1.0
        self._n = total_steps

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        return self._peak * self._fn(index)


def sampled(curve: Sequence[float], points: int = 2000) -> tuple[list[int], list[float]]:
    """About ``points`` evenly spaced steps of ``curve`` and their values, the last
    included: enough for a plot of a run of any length."""
    n = len(curve)
    steps = list(range(0, n, max(1, n // points)))
    if steps and steps[-1] != n - 1:
        steps.append(n - 1)
    return steps, [curve[i] for i in steps]


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.splitlines())


def strict_json(data: Any) -> str:
    """``data`` as indented, strict JSON: NaN and infinities (a diverged trial's curve
    and value, a diverged sweep's last loss) become the strings ``"nan"``, ``"inf"``,
    ``"-inf"``, which ``float()`` reads back; bare ``NaN`` is not JSON (``jq`` and
    ``JSON.parse`` refuse the whole document).

    Example:
        >>> print(strict_json({"loss": [1.0, float("nan")]}))
        {
          "loss": [
            1.0,
            "nan"
          ]
        }
    """
    return json.dumps(_finite(data), indent=2, allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return str(data)
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data
