"""A resumed study is not evidence for itself: the learned guide records each evidence
study's uid, and a search that resumes a study leaves that study's evidence out (a
same-named study of another database stays in; a guide without uids leaves nothing
out)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from lradvisor.cli import cli
from lradvisor.learn import learn
from lradvisor.rules._learn import LearnedGuide, load_learned
from lradvisor.search import Fidelity, run_search

CNN = {"task": "scratch", "arch": "cnn", "optimizer": "sgd", "total_steps": 800}
COSINE = {"family": "cosine", "params": {}, "peak_lr": 0.2}
RUNGS = Fidelity(rungs=(0.05, 0.1))


def tiny(ctx):
    """A trivial trainable: the distance of the peak LR from 0.2."""
    for step in range(1, ctx.total_steps + 1):
        ctx.report(step, abs(ctx.peak_lr - 0.2) + 1 / step)
    return abs(ctx.peak_lr - 0.2)


def search(url: str, name: str, learned: LearnedGuide | None = None) -> dict:
    """One tiny search of ``name`` in ``url`` (one family, so evidence cannot reorder the
    space a resume must keep); the study's attributes."""
    return run_search(tiny, profile=CNN, n_trials=1, storage=url, study_name=name,
                      fidelity=RUNGS, device="cpu", families=["cosine"],
                      learned=learned).study.user_attrs


def plant(url: str, name: str, profile: dict) -> None:
    """A finished study as a search leaves it: attributes and a first-rung trial."""
    import optuna

    from lradvisor.storage import get_study, open_storage

    study = get_study(open_storage(url), name)
    for key, value in (("profile", profile), ("workload", "digits-cnn"),
                       ("prior", {"lr_default": 0.1}), ("recommendation", COSINE)):
        study.set_user_attr(key, value)
    spec = json.dumps({"family": "cosine", "params": {}, "peak_lr": 0.1})
    study.add_trial(optuna.trial.create_trial(
        value=0.1, user_attrs={"spec": spec, "rung": 0, "steps_used": 40}))


def studies_a(tmp_path) -> tuple[str, LearnedGuide, dict]:
    """Database A: t1 searched before any guide, t2 and t3 planted; the guide learned."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    t1 = search(url, "t1")
    for name in ("t2", "t3"):
        plant(url, name, t1["profile"])
    guide, _, _ = learn(url, tmp_path / "learned.json")
    return url, guide, t1


def test_a_resumed_study_leaves_its_own_evidence_out(tmp_path):
    """Before: the resume blended t1, t2 and t3 (3 = min_studies: the ranking moved) and
    `studies show t1` said 'learned guide: 3 similar studies (t1, t2, t3)'."""
    url, guide, t1 = studies_a(tmp_path)
    kept = search(url, "t1", load_learned(tmp_path / "learned.json"))
    assert [s["name"] for s in kept["learned_guide"]["studies"]] == ["t2", "t3"]
    assert {s["name"]: s.get("uid") for s in guide.studies}["t1"] == t1["study_uid"]
    shown = CliRunner().invoke(cli, ["studies", "show", "t1", "--storage", url])
    assert shown.exit_code == 0, shown.output
    assert ("learned guide: 2 similar studies (t2, t3); too few, so the rules' ranking was "
            "kept\n") in shown.output


def test_a_same_named_study_of_another_database_stays_evidence(tmp_path):
    """t1 of database B is not t1 of database A: resuming B's keeps A's t1 as evidence."""
    _, guide, _ = studies_a(tmp_path)
    other = f"sqlite:///{tmp_path / 'b.db'}"
    search(other, "t1")
    kept = search(other, "t1", guide)
    assert [s["name"] for s in kept["learned_guide"]["studies"]] == ["t1", "t2", "t3"]


def test_a_guide_written_without_uids_still_reads_and_leaves_nothing_out(tmp_path):
    """An older guide has no uids: a name alone may be another database's study, so the
    resume keeps every similar study (`rules learn` again writes the uids)."""
    url, guide, _ = studies_a(tmp_path)
    data = guide.to_dict()
    for study in data["studies"]:
        study.pop("uid", None)
    older = LearnedGuide.from_dict(data)
    kept = search(url, "t1", older)
    assert [s["name"] for s in kept["learned_guide"]["studies"]] == ["t1", "t2", "t3"]
