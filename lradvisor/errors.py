"""One exception base for everything a user can get wrong, with specific subclasses.

Every error is raised where the bad input is first seen and names the bad value and
what is allowed, so the CLI can print it as one line (exit status 2) and the service
can answer 4xx with the same text.
"""

from __future__ import annotations

__all__ = [
    "LRAdvisorError",
    "OutputError",
    "ProfileError",
    "PrunerError",
    "RulesError",
    "SpecError",
    "StudyError",
    "TrainableError",
]


class LRAdvisorError(ValueError):
    """Base of every error lradvisor raises on bad input."""


class SpecError(LRAdvisorError):
    """A schedule spec names an unknown family or parameter, or a value out of range."""


class OutputError(LRAdvisorError):
    """A file lradvisor was asked to write (a plot, a report, an export) cannot be
    written there."""


class ProfileError(LRAdvisorError):
    """A task profile has an unknown task, architecture or optimizer, or bad lengths."""


class PrunerError(LRAdvisorError):
    """A pruner or plateau detector is asked for by an unknown name or with a bad setting."""


class RulesError(LRAdvisorError):
    """A rules file does not parse or a rule is malformed."""


class StudyError(LRAdvisorError):
    """A study or its storage cannot be used as asked (missing, wrong direction, no connection)."""


class TrainableError(LRAdvisorError):
    """A user's training function cannot be loaded."""
