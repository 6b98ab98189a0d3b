"""The policy's error: a :class:`~lradvisor.errors.LRAdvisorError` like every other."""

from __future__ import annotations

from lradvisor.errors import LRAdvisorError

__all__ = ["PolicyError"]


class PolicyError(LRAdvisorError):
    """A policy is used as it cannot be: no length where one is needed, a decay begun twice,
    an adapter asked of a schedule that does not fit it, a state from another schedule."""
