"""The one table from a family id to its :class:`Family`.

Adding a family is a module under ``families/`` plus one entry in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from functools import cache

from lradvisor.errors import SpecError
from lradvisor.schedules._family import Family

__all__ = ["FAMILY_NAMES", "all_families", "get_family"]

# id -> module under lradvisor.schedules.families, in the order `schedules list` shows.
_MODULES = {
    "constant": "_constant",
    "step": "_step",
    "multistep": "_multistep",
    "exponential": "_exponential",
    "linear": "_linear",
    "cosine": "_cosine",
    "cosine_restarts": "_cosine_restarts",
    "polynomial": "_polynomial",
    "inverse_sqrt": "_inverse_sqrt",
    "onecycle": "_onecycle",
    "cyclic": "_cyclic",
    "wsd": "_wsd",
    "plateau": "_plateau",
}
FAMILY_NAMES: tuple[str, ...] = tuple(_MODULES)


@cache
def get_family(name: str) -> Family:
    """The family called ``name``; a :class:`SpecError` listing the valid ids otherwise."""
    if not isinstance(name, str) or name not in _MODULES:
        raise SpecError(
            f"unknown schedule family {name!r}; allowed: {', '.join(FAMILY_NAMES)}."
        )
    module = importlib.import_module(f"lradvisor.schedules.families.{_MODULES[name]}")
    family: Family = module.FAMILY
    return family


def all_families() -> list[Family]:
    """Every family, in the registry's order."""
    return [get_family(name) for name in FAMILY_NAMES]
