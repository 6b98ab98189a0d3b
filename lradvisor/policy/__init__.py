"""Schedules in training loops: policies, adaptive decay, anytime WSD, resume checks.

>>> from lradvisor.policy import SchedulePolicy
>>> policy = SchedulePolicy.from_spec({"family": "wsd", "params": {"warmup_steps": 10}})
>>> policy.spec.family
'wsd'

Importing this package does not import torch; the schedulers' classes
(:class:`AdaptiveDecayLR`, :class:`AnytimeWSD`) load torch when first used.
"""

from __future__ import annotations

import importlib

from lradvisor.policy._errors import PolicyError
from lradvisor.policy._policy import STATE_FORMAT, ResumeWarning, SchedulePolicy, detector_for
from lradvisor.policy._resume import ResumeIssue, check_resume

__all__ = [
    "STATE_FORMAT",
    "AdaptiveDecayLR",
    "AnytimeWSD",
    "PolicyError",
    "ResumeIssue",
    "ResumeWarning",
    "SchedulePolicy",
    "SpecLR",
    "check_resume",
    "detector_for",
]

_LAZY = {
    "AdaptiveDecayLR": "lradvisor.policy._adaptive",
    "AnytimeWSD": "lradvisor.policy._anytime",
    "SpecLR": "lradvisor.policy._fixed",
}


def __getattr__(name: str) -> object:
    """Load a torch scheduler class on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lradvisor.policy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
