"""The pure side needs no torch: specs and curves of every family, in a real subprocess."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from lradvisor.schedules import FAMILY_NAMES, ScheduleSpec
for name in FAMILY_NAMES:
    ScheduleSpec(name).curve(50, peak_lr=0.1)
print("torch" in sys.modules)
"""


def test_curves_of_every_family_do_not_import_torch():
    """Building specs and curves leaves torch unloaded (``lradvisor suggest`` stays fast)."""
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_plateau_lr_is_exported_lazily():
    """``lradvisor.schedules.PlateauLR`` is the class build_scheduler returns for plateau."""
    from lradvisor.schedules import PlateauLR
    from lradvisor.schedules._plateau_lr import PlateauLR as Direct

    assert PlateauLR is Direct
