"""The rule engine: a task profile in, ranked schedule recommendations out.

The selection guide is data (``guide.toml``, shipped in the package); users add their
own rules with ``--rules FILE``. Importing this package loads neither torch nor optuna.

Example:
    >>> from lradvisor.rules import TaskProfile, advise
    >>> advice = advise(TaskProfile("finetune", arch="transformer", optimizer="adamw",
    ...                             total_steps=1000))
    >>> advice.best.spec.describe()
    'linear(min_lr_ratio=0, warmup_fraction=0.1, warmup_start_factor=0) peak 3e-05'
"""

from lradvisor.rules._advice import (
    Advice,
    FamilyPrior,
    Recommendation,
    SearchPrior,
    advise,
    shipped_rules,
    suggest,
)
from lradvisor.rules._engine import FIELDS, Firing, Rule, match, merge_rules
from lradvisor.rules._load import load_rules
from lradvisor.rules._profile import ARCHS, LARGE_BATCH, OPTIMIZERS, TASKS, TaskProfile

__all__ = [
    "ARCHS",
    "FIELDS",
    "LARGE_BATCH",
    "OPTIMIZERS",
    "TASKS",
    "Advice",
    "FamilyPrior",
    "Firing",
    "Recommendation",
    "Rule",
    "SearchPrior",
    "TaskProfile",
    "advise",
    "load_rules",
    "match",
    "merge_rules",
    "shipped_rules",
    "suggest",
]
