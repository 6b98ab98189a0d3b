"""Built-in proxy workloads: small, seeded, offline trainings tied to the guide's scenarios.

Each is a trainable ``train(ctx) -> float`` (run inside the search process, one trial
after another) and a :class:`Workload` describing it:

* ``digits-cnn`` (scratch): a small CNN from scratch on scikit-learn's digits;
* ``charlm`` (pretrain): a character-level transformer on Python's stdlib sources;
* ``digits-finetune`` (finetune): a CNN pretrained on digits 0-4 (cached on disk),
  fine-tuned with a new head on a few digits 5-9;
* ``tabular-mlp`` (quick): an MLP on scikit-learn's diabetes regression.

Importing this package loads no torch or scikit-learn.

Example:
    >>> from lradvisor.workloads import WORKLOAD_NAMES, get_workload
    >>> WORKLOAD_NAMES
    ('digits-cnn', 'charlm', 'digits-finetune', 'tabular-mlp')
    >>> get_workload("digits-cnn").trainable
    'lradvisor.workloads._digits_cnn:train'
"""

from lradvisor.workloads._registry import WORKLOAD_NAMES, WORKLOADS, get_workload
from lradvisor.workloads._run import run
from lradvisor.workloads._workload import Workload, WorkloadError

__all__ = ["WORKLOADS", "WORKLOAD_NAMES", "Workload", "WorkloadError", "get_workload", "run"]
