"""Search: Optuna studies over schedule families, with multi-fidelity proxy runs.

Importing this package loads neither torch nor optuna; running a search does.

Example:
    >>> from lradvisor.search import Fidelity
    >>> Fidelity().rungs
    (0.1, 0.33, 1.0)
"""

from lradvisor.search._context import TrialContext, default_device
from lradvisor.search._fidelity import Fidelity, rung_steps
from lradvisor.search._recommend import best_recommendation, best_recommendations
from lradvisor.search._sampler import SAMPLERS, make_sampler
from lradvisor.search._search import Progress, SearchResult, relative_spec, run_search
from lradvisor.search._space import SearchSpace
from lradvisor.search._trainable import load_trainable

__all__ = [
    "SAMPLERS",
    "Fidelity",
    "Progress",
    "SearchResult",
    "SearchSpace",
    "TrialContext",
    "best_recommendation",
    "best_recommendations",
    "default_device",
    "load_trainable",
    "make_sampler",
    "relative_spec",
    "rung_steps",
    "run_search",
]
