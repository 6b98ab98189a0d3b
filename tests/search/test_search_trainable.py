"""load_trainable: module:function and file.py:function, and each way it can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from lradvisor.errors import TrainableError
from lradvisor.search import load_trainable

HERE = Path(__file__).parent
FILE = str(HERE / "search_trainables.py")


def test_loads_module_function_and_file_function():
    assert load_trainable("lradvisor.workloads._digits_cnn:train").__name__ == "train"
    assert load_trainable(f"{FILE}:quadratic").__name__ == "quadratic"
    assert load_trainable(len) is len


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon_here", "must be 'package.module:function'"),
        ("mod:", "must be 'package.module:function'"),
        ("no_such_module_xyz:train", "cannot import 'no_such_module_xyz'"),
        ("lradvisor.workloads._digits_cnn:nope", "has no attribute 'nope'"),
        (f"{FILE}:NOT_CALLABLE", "is not a function"),
        ("missing/file.py:train", "no file"),
    ],
)
def test_bad_paths_raise_one_clear_error(path, message):
    with pytest.raises(TrainableError, match=message):
        load_trainable(path)


def test_a_file_that_raises_on_import_is_named(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise ImportError('needs a GPU')\n")
    with pytest.raises(TrainableError, match="raised ImportError: needs a GPU"):
        load_trainable(f"{bad}:train")
