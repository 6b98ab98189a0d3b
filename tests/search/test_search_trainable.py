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


SPAWNED_LOADER = '''
import torch
from torch.utils.data import DataLoader, Dataset


class Squares(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor(float(i * i))


def train(ctx):
    loader = DataLoader(Squares(), batch_size=4, num_workers=1,
                        multiprocessing_context="spawn")
    return float(next(iter(loader)).sum())
'''


def test_a_file_trainable_feeds_spawned_dataloader_workers(tmp_path):
    # a spawned worker unpickles the file's Dataset by importing the file's module
    # (macOS's default, forkserver Python 3.14's on Linux): it was a private name
    # no other process could import, so every trial failed
    from lradvisor.schedules import ScheduleSpec
    from lradvisor.search import TrialContext

    (tmp_path / "spawned_loader_train.py").write_text(SPAWNED_LOADER)
    train = load_trainable(f"{tmp_path / 'spawned_loader_train.py'}:train")
    ctx = TrialContext(spec=ScheduleSpec.create("constant", peak_lr=0.1), total_steps=1)
    assert train(ctx) == 0 + 1 + 4 + 9


def test_a_file_whose_stem_names_another_module_still_loads(tmp_path):
    (tmp_path / "json.py").write_text("def train(ctx):\n    return 1.5\n")
    assert load_trainable(f"{tmp_path / 'json.py'}:train")(None) == 1.5
    import json

    assert hasattr(json, "dumps")  # the standard library's, not replaced


def test_an_attribute_set_to_none_is_not_a_function_not_missing(tmp_path):
    (tmp_path / "none_attr.py").write_text("train = None\n")
    with pytest.raises(TrainableError, match="'train' is not a function"):
        load_trainable(f"{tmp_path / 'none_attr.py'}:train")


ARGPARSE_AT_TOP = '''
import argparse
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--width", type=int, default=8)
args = parser.parse_args()
SEEN = list(sys.argv)


def train(ctx):
    return float(args.width)
'''


def test_a_script_that_parses_its_arguments_on_import_gets_its_defaults(tmp_path,
                                                                        monkeypatch):
    # research scripts parse sys.argv at their top; they used to see lradvisor's own
    # arguments, refuse them and exit, so the trainable could not load
    import sys

    argv = ["lradvisor", "search", "--trainable", "argparse_top.py:train", "--trials", "4"]
    monkeypatch.setattr(sys, "argv", argv)
    script = tmp_path / "argparse_top.py"
    script.write_text(ARGPARSE_AT_TOP)
    train = load_trainable(f"{script}:train")
    assert train(None) == 8.0
    seen = sys.modules[train.__module__].SEEN
    assert seen == [str(script)]
    assert sys.argv == argv  # given back


WAITS_ON_IMPORT = '''
import sys

events = sys._lradvisor_test_events
events["{name}_started"].set()
assert events["{name}_go"].wait(10)


def train(ctx):
    return 0.0
'''


def test_two_threads_loading_trainables_give_sys_argv_back(tmp_path, monkeypatch):
    """Each load swaps sys.argv; interleaved, the second load gave back the first one's
    script name, and sys.argv stayed that name for the rest of the process."""
    import sys
    import threading

    argv = ["lradvisor", "search"]
    monkeypatch.setattr(sys, "argv", argv)
    events = {f"{n}_{e}": threading.Event() for n in "ab" for e in ("started", "go")}
    monkeypatch.setattr(sys, "_lradvisor_test_events", events, raising=False)
    threads = {}
    for name in "ab":
        (tmp_path / f"waits_{name}.py").write_text(WAITS_ON_IMPORT.format(name=name))
        threads[name] = threading.Thread(
            target=load_trainable, args=(f"{tmp_path / f'waits_{name}.py'}:train",))
    threads["a"].start()
    assert events["a_started"].wait(10)
    threads["b"].start()  # waits for a's load to end (it swapped sys.argv before)
    events["b_started"].wait(0.3)
    events["a_go"].set()
    threads["a"].join(10)
    events["b_go"].set()
    threads["b"].join(10)
    assert events["b_started"].is_set()
    assert sys.argv == argv


def test_a_file_trainable_runs_its_top_once_a_process(tmp_path):
    # search --lr-find loads the trainable for its checks, its sweep and the search: a
    # script that loads its data at its top did that three times
    log = tmp_path / "imports.log"
    script = tmp_path / "loads_data_once.py"
    script.write_text(f"with open({str(log)!r}, 'a') as f:\n    f.write('import\\n')\n\n"
                      "def train(ctx):\n    return 1.0\n")
    first = load_trainable(f"{script}:train")
    second = load_trainable(f"{script}:train")
    assert first is second
    assert log.read_text() == "import\n"
