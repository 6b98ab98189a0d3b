"""``charlm``: a tiny character-level transformer pretrained on Python's own sources.

The guide's *pretrain* scenario, on text every machine has: the first 32 KiB (ASCII
only) of ten standard-library modules, read in a fixed order from the running
interpreter's ``stdlib`` directory. Each file's last tenth is held out for validation,
so both splits cover every module. The model is GPT-style (2 pre-norm blocks,
``d_model`` 48, 4 heads, context 64, tied embeddings), trained with AdamW (betas 0.9 /
0.95, weight decay 0.01, gradient norm clipped at 1) on random windows, batch 16.
Reports and returns the validation cross-entropy in nats per character over 64 fixed
windows.

The corpus depends on the Python version (the modules' text changes between
releases), so numbers are comparable within one interpreter version.
"""

from __future__ import annotations

import os
import sysconfig
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from lradvisor.errors import LRAdvisorError
from lradvisor.workloads._workload import Workload

if TYPE_CHECKING:
    import torch

    from lradvisor.search._context import TrialContext

__all__ = ["WORKLOAD", "corpus", "train"]

MODULES = (
    "argparse.py", "difflib.py", "inspect.py", "typing.py", "subprocess.py",
    "tarfile.py", "shutil.py", "dataclasses.py", "ast.py", "pickle.py",
)  # fmt: skip
"""Standard-library files over 32 KiB on Python 3.10 to 3.13, in corpus order."""
FILE_CHARS = 32 * 1024
VAL_FRACTION = 0.1
MIN_CHARS = 100_000
VOCAB = 128  # ASCII
CONTEXT = 64
BATCH_SIZE = 16
D_MODEL = 48
VAL_WINDOWS = 64
_TRAIN_CHARS = len(MODULES) * (FILE_CHARS - int(FILE_CHARS * VAL_FRACTION))

WORKLOAD = Workload(
    name="charlm",
    scenario="pretrain",
    arch="transformer",
    optimizer="adamw",
    epochs=3,
    steps_per_epoch=_TRAIN_CHARS // (BATCH_SIZE * CONTEXT),
    batch_size=BATCH_SIZE,
    dataset_size=_TRAIN_CHARS,
    model_params=65_856,
    default_lr=1e-2,
    metric="validation cross-entropy (nats per character)",
    trainable="lradvisor.workloads._charlm:train",
    description="2-layer char transformer (d_model 48, context 64) on stdlib sources, AdamW.",
)


@cache
def corpus(root: str | None = None) -> tuple[bytes, bytes]:
    """``(train_text, val_text)`` as ASCII bytes, read once per process.

    Args:
        root: the directory holding :data:`MODULES`; ``None`` is the running
            interpreter's ``stdlib`` (a venv's is its base Python's).

    Raises:
        LRAdvisorError: when one of :data:`MODULES` is not there as source (a Python
            that ships only ``.pyc`` or part of its standard library: training on the
            rest would give other numbers under the same name), or the text is too short.
    """
    root = root or sysconfig.get_paths()["stdlib"]
    missing = [name for name in MODULES if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise LRAdvisorError(
            f"charlm needs the standard-library sources {', '.join(missing)} under {root!r}, "
            "but this Python does not ship them; use another workload."
        )
    train_parts, val_parts = [], []
    for name in MODULES:
        with open(os.path.join(root, name), encoding="utf-8", errors="ignore") as file:
            text = file.read().encode("ascii", errors="ignore")[:FILE_CHARS]
        cut = len(text) - int(len(text) * VAL_FRACTION)
        train_parts.append(text[:cut])
        val_parts.append(text[cut:])
    train_text, val_text = b"".join(train_parts), b"".join(val_parts)
    if len(train_text) + len(val_text) < MIN_CHARS:
        raise LRAdvisorError(
            f"charlm needs {MIN_CHARS} characters of standard-library source under {root!r}, "
            f"but found {len(train_text) + len(val_text)}; use another workload."
        )
    return train_text, val_text


@cache
def _tensors() -> tuple[Any, Any]:
    """The corpus as token tensors: the training stream and ``(VAL_WINDOWS, CONTEXT + 1)``."""
    import torch

    train_text, val_text = corpus()
    train_tokens = torch.frombuffer(bytearray(train_text), dtype=torch.uint8).long()
    val_tokens = torch.frombuffer(bytearray(val_text), dtype=torch.uint8).long()
    span = CONTEXT + 1
    starts = torch.linspace(0, len(val_tokens) - span, VAL_WINDOWS).long()
    windows = val_tokens[starts[:, None] + torch.arange(span)]
    return train_tokens, windows


class WindowSampler:
    """Random ``CONTEXT``-long windows of the training stream, seeded; targets shifted by one."""

    def __init__(self, tokens: torch.Tensor, seed: int) -> None:
        import torch

        self.tokens = tokens
        self._offsets = torch.arange(CONTEXT + 1, device=tokens.device)
        self._generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        high = len(self.tokens) - CONTEXT - 1
        starts = torch.randint(0, high, (BATCH_SIZE, 1), generator=self._generator)
        windows = self.tokens[starts.to(self.tokens.device) + self._offsets]
        return windows[:, :-1], windows[:, 1:]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy over every position."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))


def val_loss(model: torch.nn.Module, windows: torch.Tensor) -> float:
    """:func:`lm_loss` of ``model`` over the fixed validation windows."""
    return float(lm_loss(model(windows[:, :-1]), windows[:, 1:]).item())


def train(ctx: TrialContext) -> float:
    """Train the character model for ``ctx.total_steps`` steps; returns the final validation loss.

    Example:
        >>> from lradvisor.workloads import run
        >>> final, curve = run("charlm", "cosine", total_steps=20)
        >>> final < 4.85  # below log(128): it has learnt something
        True
    """
    import torch

    from lradvisor.workloads._loop import fit, torch_threads
    from lradvisor.workloads._nets import CharTransformer

    with torch_threads(ctx.device):
        train_tokens, windows = (t.to(ctx.device) for t in _tensors())
        torch.manual_seed(ctx.seed)
        model = CharTransformer(VOCAB, CONTEXT, d_model=D_MODEL).to(ctx.device)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=ctx.peak_lr, betas=(0.9, 0.95), weight_decay=0.01
        )
        sample = WindowSampler(train_tokens, ctx.seed)
        evaluate = partial(val_loss, windows=windows)
        return fit(ctx, model, optimizer, sample, lm_loss, evaluate, clip_norm=1.0)
