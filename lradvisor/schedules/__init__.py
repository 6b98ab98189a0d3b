"""Schedule families, the :class:`ScheduleSpec` currency, and the torch shell.

Importing this package does not import torch; :func:`build_scheduler` and
``PlateauLR`` (loaded on first use) do.
"""

from typing import Any

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param
from lradvisor.schedules._registry import FAMILY_NAMES, all_families, get_family
from lradvisor.schedules._spec import ScheduleSpec
from lradvisor.schedules._torch import as_spec, build_scheduler, set_peak

__all__ = [
    "FAMILY_NAMES",
    "Family",
    "Param",
    "PlateauLR",
    "ScheduleSpec",
    "all_families",
    "as_spec",
    "build_scheduler",
    "get_family",
    "set_peak",
]


def __getattr__(name: str) -> Any:
    """``PlateauLR`` on first use: it subclasses a torch class, so it imports torch."""
    if name == "PlateauLR":
        from lradvisor.schedules._plateau_lr import PlateauLR

        return PlateauLR
    raise AttributeError(f"module 'lradvisor.schedules' has no attribute {name!r}")
