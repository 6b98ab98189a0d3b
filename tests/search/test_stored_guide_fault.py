"""A study's stored learned guide that no longer reads: the worker's one line names the
study and says what helps (another study), not `rules learn`, which does not change a
guide stored with a study."""

from __future__ import annotations

import pytest

from lradvisor.errors import RulesError
from lradvisor.search._jobs import SETTINGS_ATTR, attach
from lradvisor.storage import get_study, open_storage


def test_a_faulty_stored_guide_names_the_study_and_what_helps(tmp_path):
    """Before: 'a learned guide has format 2, but this lradvisor reads format 1; write it
    again with `lradvisor rules learn`.', which rewrites a file the study never reads."""
    rdb = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    study = get_study(rdb, "w1")
    for key, value in ((SETTINGS_ATTR, {"n_trials": 4}), ("trainable", "m:train"),
                       ("learned_guide", {"format": 2})):
        study.set_user_attr(key, value)
    with pytest.raises(RulesError) as err:
        attach(rdb, "w1", "worker-0")
    assert str(err.value) == (
        "the learned guide stored with study 'w1' has format 2, but this lradvisor reads "
        "format 1; `lradvisor rules learn` does not change a guide stored with a study: "
        "create another study for the workers (`lradvisor search --create-only --study "
        "NEW ...`).")
