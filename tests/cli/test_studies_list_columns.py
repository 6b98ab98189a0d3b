"""``lradvisor studies list`` keeps its columns aligned whatever the studies' names.

The name column was 28 characters wide, fixed: a longer name pushed that row's other
columns to the right, under none of the headings. A real subprocess on SQLite.
"""

from __future__ import annotations

import re

import optuna

from tests.conftest import run_cli

LONG = "a-study-name-much-longer-than-twenty-eight-characters"


def _fields(line: str) -> list[tuple[int, int]]:
    """The (start, end) of each column of a ``studies list`` line ("full runs" is one)."""
    spans = [m.span() for m in re.finditer(r"\S+", line.replace("full runs", "full_runs"))]
    return spans[:6] + [(spans[6][0], len(line))]


def test_list_aligns_its_columns_under_a_long_study_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    for name, n in (("short", 12), (LONG, 2)):
        optuna.create_study(study_name=name, storage=url).optimize(
            lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=n)
    listed = run_cli("studies", "list", "--storage", url)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert sorted(row.split()[0] for row in rows) == sorted(("short", LONG))
    head = _fields(header)
    for row in rows:
        cells = _fields(row)
        assert cells[1][0] == head[1][0], (header, row)  # dir: to the left
        assert [c[1] for c in cells[2:6]] == [h[1] for h in head[2:6]], (header, row)  # counts
        assert cells[6][0] == head[6][0], (header, row)  # best
    assert head[1][0] == len(LONG) + 1  # no wider than the longest name needs
