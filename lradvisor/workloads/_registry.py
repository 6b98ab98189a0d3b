"""The one table from a workload name to its :class:`Workload`.

Adding a workload is a module defining ``WORKLOAD`` and ``train`` plus one entry in
``_MODULES``. Importing this loads no torch: the modules import it inside ``train``.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from lradvisor.workloads._workload import Workload, WorkloadError

__all__ = ["WORKLOADS", "WORKLOAD_NAMES", "get_workload"]

# name -> module under lradvisor.workloads, in the order listings show.
_MODULES = {
    "digits-cnn": "_digits_cnn",
    "charlm": "_charlm",
    "digits-finetune": "_digits_finetune",
    "tabular-mlp": "_tabular_mlp",
}
WORKLOAD_NAMES: tuple[str, ...] = tuple(_MODULES)


def _load(name: str) -> Workload:
    workload: Workload = importlib.import_module(f"lradvisor.workloads.{_MODULES[name]}").WORKLOAD
    return workload


WORKLOADS: MappingProxyType[str, Workload] = MappingProxyType(
    {name: _load(name) for name in WORKLOAD_NAMES}
)
"""Every built-in workload by name, read-only."""


def get_workload(name: str | Workload) -> Workload:
    """The workload called ``name`` (a :class:`Workload` is returned as it is).

    Raises:
        WorkloadError: for an unknown name, listing the valid ones.

    Example:
        >>> get_workload("charlm").scenario
        'pretrain'
    """
    if isinstance(name, Workload):
        return name
    if not isinstance(name, str) or name not in WORKLOADS:
        raise WorkloadError(
            f"unknown workload {name!r}; allowed: {', '.join(WORKLOAD_NAMES)}."
        )
    return WORKLOADS[name]
