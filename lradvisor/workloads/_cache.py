"""Where workloads keep what they compute once (pretrained weights), written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CACHE_ENV", "cache_dir", "load_state", "recipe_key", "save_state"]

CACHE_ENV = "LRADVISOR_CACHE"


def cache_dir() -> Path:
    """``$LRADVISOR_CACHE``, else ``$XDG_CACHE_HOME/lradvisor``, else ``~/.cache/lradvisor``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lradvisor"


def recipe_key(recipe: dict[str, Any]) -> str:
    """A short stable hash of a JSON-ready ``recipe``: changing any of it changes the key."""
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_state(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` atomically: parallel workers never read half a file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(state, file)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_state(path: Path, like: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The tensors saved at ``path``, or ``None`` when there is nothing usable there.

    A missing, empty, truncated or foreign file is ``None`` (the caller recomputes and
    overwrites it), never an error: a cache never stops a run.

    Args:
        path: the cache file.
        like: the ``state_dict`` the file must match (same names, shapes and dtypes;
            meta tensors will do); a file that does not, or that holds a NaN or inf,
            is ``None`` as well, so a model is never loaded from garbage.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any file torch cannot read back (UnpicklingError on garbage)
        return None
    if like is not None and not _matches(state, like):
        return None
    loaded: dict[str, Any] = state
    return loaded


def _matches(state: Any, like: dict[str, Any]) -> bool:
    """Whether ``state`` has ``like``'s tensors (names, shapes, dtypes), all finite."""
    import torch

    if not isinstance(state, dict) or state.keys() != like.keys():
        return False
    return all(
        isinstance(tensor, torch.Tensor)
        and tensor.shape == like[name].shape
        and tensor.dtype == like[name].dtype
        and bool(torch.isfinite(tensor).all())
        for name, tensor in state.items()
    )
