"""Schedule families, the :class:`ScheduleSpec` currency, and the torch shell.

Importing this package does not import torch; :func:`build_scheduler` does.
"""

from lradvisor.schedules._family import Family
from lradvisor.schedules._params import Param
from lradvisor.schedules._registry import FAMILY_NAMES, all_families, get_family
from lradvisor.schedules._spec import ScheduleSpec
from lradvisor.schedules._torch import as_spec, build_scheduler

__all__ = [
    "FAMILY_NAMES",
    "Family",
    "Param",
    "ScheduleSpec",
    "all_families",
    "as_spec",
    "build_scheduler",
    "get_family",
]
