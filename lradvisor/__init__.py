"""lradvisor: picks the learning-rate schedule for a training run, and proves its pick.

The public surface is small and imports neither torch nor optuna until it is used:

    >>> import lradvisor
    >>> recs = lradvisor.suggest(lradvisor.TaskProfile(task="finetune", total_steps=1000))
    >>> recs[0].spec.family in lradvisor.FAMILY_NAMES
    True
"""

from __future__ import annotations

from lradvisor.errors import (
    LRAdvisorError,
    OutputError,
    ProfileError,
    RulesError,
    SpecError,
    StudyError,
    TrainableError,
)
from lradvisor.schedules import FAMILY_NAMES, ScheduleSpec, build_scheduler, get_family

__version__ = "0.1.0"

__all__ = [
    "FAMILY_NAMES",
    "Advice",
    "LRAdvisorError",
    "OutputError",
    "ProfileError",
    "Recommendation",
    "RulesError",
    "ScheduleSpec",
    "SearchPrior",
    "SpecError",
    "StudyError",
    "TaskProfile",
    "TrainableError",
    "advise",
    "build_scheduler",
    "get_family",
    "lr_find",
    "suggest",
]

_LAZY = {
    "Advice": "lradvisor.rules",
    "Recommendation": "lradvisor.rules",
    "SearchPrior": "lradvisor.rules",
    "TaskProfile": "lradvisor.rules",
    "advise": "lradvisor.rules",
    "lr_find": "lradvisor.lrfind",
    "suggest": "lradvisor.rules",
}


def __getattr__(name: str) -> object:
    """Load the rule engine on first use, so ``import lradvisor.schedules`` stays minimal."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lradvisor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
