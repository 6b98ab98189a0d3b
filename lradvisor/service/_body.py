"""A request body that is not one JSON object, told in one line that says what to send.

FastAPI answers these in several ways: a generic 400 "There was an error parsing the
body" (JSON nested past Python's recursion limit, bytes that are not UTF-8, an integer
of more digits than Python converts), a 422 "JSON decode error", or, for a body sent
without ``Content-Type: application/json``, a 422 saying the body "should be a valid
dictionary", which hides the cause. All of it is worked out here, on the error path
only: a body that parses costs nothing more.

* not JSON (syntax, encoding, nesting, an over-long number): 422, ``loc ["body"]``;
* JSON, but not an object (an array, a string, ``null``): 422, ``loc ["body"]``;
* no body: 422, ``loc ["body"]``;
* a body sent as another media type: 415.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["body_entry", "media_type_detail", "not_sent_as_json", "unparsed"]

# The deepest any request body here nests arrays or objects (a study's profile, its
# families): named when a body nests so deep that Python's JSON parser gives up.
_DEEPEST = 2
_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
          bool: "a boolean", type(None): "null"}


def not_sent_as_json(entry: dict[str, Any]) -> bool:
    """Whether a validation error says the body came as another media type (FastAPI
    then hands the model the raw bytes, and pydantic says they are no object)."""
    return (entry.get("type") == "model_attributes_type" and tuple(entry.get("loc", ())) ==
            ("body",) and isinstance(entry.get("input"), bytes | bytearray))


def media_type_detail(content_type: str | None) -> str:
    """The 415 answer's line for a body sent with ``content_type``."""
    got = f"got {content_type[:100]!r}" if content_type else "none was sent"
    return f"request body must be JSON: send it with Content-Type: application/json ({got})."


def body_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    """A validation error about the body as a whole (not JSON, not an object, none), as
    an error entry (``loc``, ``msg``, ``type``) that says so; None for any other."""
    loc, kind, given = tuple(entry.get("loc", ())), entry.get("type"), entry.get("input")
    if kind == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        error = (entry.get("ctx") or {}).get("error") or "not JSON"
        return _entry(f"request body is not valid JSON: {error}{where}.", kind)
    if loc != ("body",):
        return None
    if kind == "missing":
        return _entry("request body is missing: send a JSON object.", kind)
    if kind == "model_attributes_type":
        what = _KINDS.get(type(given), type(given).__name__)
        return _entry(f"request body must be a JSON object, but got {what}.", kind)
    return None


def unparsed(cause: BaseException | None) -> dict[str, Any] | None:
    """The error entry for a body FastAPI could not parse (its generic 400), from the
    exception it chained; None when the cause is not the body's."""
    if isinstance(cause, RecursionError):
        return _entry(f"request body nests arrays or objects too deeply to parse (no "
                      f"request here nests them more than {_DEEPEST} deep).", "json_invalid")
    if isinstance(cause, UnicodeDecodeError):
        return _entry(f"request body is not valid JSON: not UTF-8 text (byte "
                      f"0x{cause.object[cause.start]:02x} at position {cause.start}).",
                      "json_invalid")
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return _entry(f"request body has a number of over {sys.get_int_max_str_digits()} "
                      "digits; no field here takes one that long.", "json_invalid")
    return None


def _entry(msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body"], "msg": msg, "type": kind}
