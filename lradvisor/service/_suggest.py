"""``POST /v1/suggest``: the JSON of ``lradvisor suggest --format json``, learned guide and all.

The service blends the same learned guide as ``lradvisor suggest`` run where it was
started (``--learned``, else ``$LRADVISOR_LEARNED``, else ``studies/learned.json`` when
it exists; none with ``--rules-only``), through the same function
(:func:`~lradvisor.rules._learn.advise_blended`). The guide is read once, at start-up:
a malformed one stops the service before it binds a socket, and answers stay
in-memory lookups. A guide learned since is taken at the next start, as the rules
files are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lradvisor.service._config import ServiceConfig

__all__ = ["StartupGuide", "load_guide", "suggest_answers"]


@dataclass(frozen=True)
class StartupGuide:
    """The learned guide a service blends (``None``: the rules alone), and the lines its
    start-up log says about it: ``(level, message)``."""

    guide: Any
    log: list[tuple[int, str]]


def load_guide(config: ServiceConfig) -> StartupGuide:
    """Read ``config``'s learned guide once, as ``lradvisor suggest`` reads it.

    Raises:
        RulesError: ``config.learned`` names no file, or the guide is malformed (one line
            naming the file, as ``suggest`` says it).
    """
    from lradvisor.rules._learn import count_studies, learned_path, load_learned, unfound_note

    if config.rules_only:
        return StartupGuide(None, [(logging.INFO, "rules only: /v1/suggest answers from the "
                                    "rules alone, no learned guide.")])
    guide = load_learned(config.learned)
    if guide is None:
        note = unfound_note(config.learned)
        return StartupGuide(None, [(logging.WARNING, note)] if note else [(
            logging.INFO, f"no learned guide at {str(learned_path())!r}: /v1/suggest "
            "answers from the rules alone.")])
    where = str(learned_path(config.learned))
    return StartupGuide(guide, [(logging.INFO, f"/v1/suggest blends the learned guide "
                                 f"{where!r} ({count_studies(len(guide.studies))}).")])


def suggest_answers(rules_files: tuple[str, ...], guide: Any) -> Callable[[Any], bytes]:
    """``profile -> bytes`` of ``lradvisor suggest --format json`` with ``guide`` blended
    in, cached per profile (the guide does not change while the service runs, so the
    blended answer is the one to keep)."""

    @lru_cache(maxsize=2048)
    def answer(profile: Any) -> bytes:
        from lradvisor.cli._render import render
        from lradvisor.rules._learn import advise_blended

        advice, _note = advise_blended(profile, rules_files, guide)  # the note is text only
        data = advice.to_dict()
        extra: dict[str, Any] = {k: data[k] for k in ("prior", "trace", "profile") if k in data}
        return render(list(advice.recommendations), "json", extra=extra).encode()

    return answer
