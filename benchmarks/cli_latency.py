"""How fast is ``lradvisor suggest``? Whole-process seconds, and the ratio to ``import torch``.

Run: ``python -m benchmarks.cli_latency [--quick]``. Commands run as an installed tool
normally does, with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed; the warm-up
run writes the ``.pyc`` files). Where no ``.pyc`` can be written, every start compiles
the modules from source: about 0.05 s more here. Target (BENCHMARKS.md): median
≤ 0.25 s and under a tenth of ``python -c "import torch"`` measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
from pathlib import Path

from benchmarks._common import summary, table, time_process, write_csv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 runs each (default 15)")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else 15
    script = shutil.which("lradvisor", path=str(Path(sys.executable).parent)) or "lradvisor"
    cases = {
        "lradvisor suggest --task finetune": [script, "suggest", "--task", "finetune"],
        "lradvisor --help": [script, "--help"],
        "python -m lradvisor suggest --task finetune": [
            sys.executable, "-m", "lradvisor", "suggest", "--task", "finetune"],
        'python -c "pass"': [sys.executable, "-c", "pass"],
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    measured = {name: summary(time_process(cmd, runs, env=env)) for name, cmd in cases.items()}
    torch_median = measured['python -c "import torch"'][0]
    header = ["command", "median s", "min s", "max s", "ratio to import torch"]
    rows = [
        [name, f"{med:.3f}", f"{lo:.3f}", f"{hi:.3f}", f"{med / torch_median:.3f}"]
        for name, (med, lo, hi) in measured.items()
    ]
    print(f"cli_latency: {runs} runs each after 1 warm-up, {datetime.date.today()}, "
          f"{platform.machine()} {platform.python_version()}")
    print(table(header, rows))
    path = write_csv("cli_latency", header, rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
