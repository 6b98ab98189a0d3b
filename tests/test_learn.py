"""The learned guide: planted studies move the ranking, thin or no evidence keeps the
rules, the plain-Python neighbours agree with scikit-learn's, suggest stays light, and
a new search starts from what won."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lradvisor.cli import cli
from lradvisor.rules import TaskProfile, advise
from lradvisor.rules._learn import LearnedGuide, blend, load_learned

CNN = {"task": "scratch", "arch": "cnn", "optimizer": "sgd", "total_steps": 800}
ONECYCLE = {"family": "onecycle", "params": {"pct_start": 0.25}, "peak_lr": 0.3}


def plant(url: str, name: str, profile: dict, winner: dict, ranking: list[tuple[str, float]],
          workload: str = "digits-cnn") -> None:
    """A finished study as a search leaves it: attributes and first-rung trials."""
    import optuna

    from lradvisor.storage import get_study, open_storage

    study = get_study(open_storage(url), name)
    study.set_user_attr("profile", profile)
    study.set_user_attr("workload", workload)
    study.set_user_attr("prior", {"lr_default": 0.1})
    study.set_user_attr("recommendation", {**winner, "total_steps": profile["total_steps"]})
    for family, value in ranking:
        spec = json.dumps({"family": family, "params": {}, "peak_lr": 0.1})
        study.add_trial(optuna.trial.create_trial(
            value=value, user_attrs={"spec": spec, "rung": 0, "steps_used": 80}))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learn")
    url = f"sqlite:///{folder / 'studies.db'}"
    for i in range(4):  # four digits-cnn-like studies: onecycle won, cosine came last
        plant(url, f"cnn-{i}", {**CNN, "total_steps": 600 + 100 * i}, ONECYCLE,
              [("onecycle", 0.10 + i / 100), ("step", 0.2), ("cosine", 0.3)])
    plant(url, "charlm-0", {"task": "pretrain", "arch": "transformer", "optimizer": "adamw",
                            "total_steps": 864},
          {"family": "wsd", "params": {}, "peak_lr": 0.003}, [("wsd", 2.0), ("cosine", 2.1)],
          workload="charlm")
    out = CliRunner().invoke(cli, ["rules", "learn", "--storage", url, "-o",
                                   str(folder / "learned.json")])
    assert out.exit_code == 0, out.output
    assert "learned from 5 finished studies" in out.output
    return url, folder / "learned.json"


def test_evidence_moves_the_ranking(planted):
    _, path = planted
    rules = advise(TaskProfile(**CNN))
    assert [r.spec.family for r in rules.recommendations][:2] == ["cosine", "onecycle"]
    learned = blend(rules, load_learned(path))
    assert learned.best.spec.family == "onecycle"
    assert learned.best.evidence == "evidence: 4 studies, digits-cnn-like; ranked 1st (rules: 2nd)"
    assert any("changed the ranking" in line for line in learned.trace)
    # the peak LR moves toward the winners' (3x the rules' default), shrunk by the prior
    assert rules.best.spec.peak_lr < learned.best.spec.peak_lr < 0.3
    assert learned.prior.families[0].family == "onecycle"


def test_no_similar_studies_keeps_the_rules(planted):
    _, path = planted
    profile = TaskProfile("finetune", arch="transformer", optimizer="adamw", total_steps=1000)
    rules = advise(profile)
    learned = blend(rules, load_learned(path))
    assert learned.recommendations == rules.recommendations
    assert learned.prior == rules.prior
    assert "evidence: 0 similar studies" in learned.trace[-1]


def test_thin_evidence_keeps_the_rules(planted):
    _, path = planted
    guide = load_learned(path)
    thin = LearnedGuide(guide.categories, tuple(s for s in guide.studies
                                                if s["name"] in ("cnn-0", "cnn-1")))
    rules = advise(TaskProfile(**CNN))
    learned = blend(rules, thin)
    assert learned.recommendations == rules.recommendations
    assert "2 similar studies, digits-cnn-like; fewer than 3" in learned.trace[-1]


def test_neighbours_agree_with_sklearn(planted):
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    _, path = planted
    guide = load_learned(path)
    stored = np.array([s["features"] for s in guide.studies])
    index = NearestNeighbors(radius=guide.radius).fit(stored)
    queries = [CNN, {**CNN, "total_steps": 100}, {**CNN, "total_steps": 100_000},
               {**CNN, "optimizer": "adam"}, {**CNN, "arch": "rnn"},
               {"task": "pretrain", "arch": "transformer", "optimizer": "adamw",
                "total_steps": 2000}]
    for query in queries:
        ours = {s["name"] for _, s in guide.neighbours(query)}
        hits = index.radius_neighbors([guide.features(query)], return_distance=False)[0]
        assert ours == {guide.studies[i]["name"] for i in hits}, query


def test_stored_features_are_the_plain_python_encoding(planted):
    from lradvisor.learn import collect

    url, path = planted
    guide = load_learned(path)
    by_name = {e["name"]: e["profile"] for e in collect(url)}
    for study in guide.studies:
        assert guide.features(by_name[study["name"]]) == pytest.approx(study["features"])


def test_suggest_blends_without_loading_sklearn(planted):
    _, path = planted
    code = (
        "import sys\nfrom lradvisor.cli import main\n"
        "try:\n    main(['suggest', '--task', 'scratch', '--arch', 'cnn', '--optimizer', 'sgd',"
        " '--total-steps', '800', '--learned', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('sklearn', 'torch', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=60)
    assert "onecycle" in out.stdout.split("\n")[2]
    assert "Evidence: 4 studies, digits-cnn-like" in out.stdout  # the label once
    assert "evidence: evidence" not in out.stdout.lower()
    assert "HEAVY []" in out.stdout
    plain = CliRunner().invoke(cli, ["suggest", "--task", "scratch", "--arch", "cnn",
                                     "--optimizer", "sgd", "--total-steps", "800",
                                     "--learned", str(path), "--rules-only"])
    assert "evidence" not in plain.output.lower()


SUGGEST_CNN = ("suggest", "--task", "scratch", "--arch", "cnn", "--optimizer", "sgd",
               "--total-steps", "800")


def test_suggest_text_says_the_peak_the_evidence_moved(planted):
    """The text showed peak 0.208 and, under Why, the rules' "peak LR 0.1" alone: the
    move was only in the JSON trace."""
    from tests.conftest import run_cli

    _, path = planted
    rules, learned = advise(TaskProfile(**CNN)), blend(advise(TaskProfile(**CNN)),
                                                        load_learned(path))
    old, new = rules.best.spec.peak_lr, learned.best.spec.peak_lr
    assert new > 1.5 * old
    moved = (f"Evidence from 4 similar studies moved the peak LR from the rules' {old:.3g} "
             f"to {new:.3g}.")
    proc = run_cli(*SUGGEST_CNN, "--learned", str(path))
    assert proc.returncode == 0, proc.stderr
    why = [line for line in proc.stdout.splitlines() if line.startswith("Why: ")]
    assert len(why) == 1 and why[0].endswith(moved), why
    data = json.loads(run_cli(*SUGGEST_CNN, "--learned", str(path), "--format", "json").stdout)
    assert data["peak_lr"] == pytest.approx(new) and data["rationale"].endswith(moved)
    assert all(alt["rationale"].endswith(moved) for alt in data["alternatives"]
               if alt["peak_lr"] == pytest.approx(new))


def test_suggest_text_says_when_the_evidence_was_too_thin(planted, tmp_path):
    """The rules' answer kept for want of studies was said only in the JSON trace."""
    from lradvisor.rules._learn import save_learned
    from tests.conftest import run_cli

    _, path = planted
    guide = load_learned(path)
    thin = save_learned(LearnedGuide(guide.categories, tuple(
        s for s in guide.studies if s["name"] in ("cnn-0", "cnn-1"))), tmp_path / "thin.json")
    proc = run_cli(*SUGGEST_CNN, "--learned", str(thin))
    assert proc.returncode == 0, proc.stderr
    note = "2 similar studies, digits-cnn-like; fewer than 3, so the rules' ranking is kept."
    line = f"Evidence: {note}"
    lines = proc.stdout.splitlines()
    assert [x for x in lines if "evidence" in x.lower()] == [line]
    assert lines[lines.index(line) - 1].startswith("Rules: ")  # where evidence is shown
    data = json.loads(run_cli(*SUGGEST_CNN, "--learned", str(thin), "--format", "json").stdout)
    assert data["evidence"] is None and data["trace"][-1] == f"learned: evidence: {note}"
    unrelated = run_cli("suggest", "--task", "finetune", "--learned", str(thin))
    assert "evidence" not in unrelated.stdout.lower()  # no similar study: nothing to say


def tiny(ctx):
    """A trivial trainable: the distance of the peak LR from 0.2."""
    for step in range(1, ctx.total_steps + 1):
        ctx.report(step, abs(ctx.peak_lr - 0.2) + 1 / step)
    return abs(ctx.peak_lr - 0.2)


def test_new_search_starts_from_the_winner(planted):
    from lradvisor.search import Fidelity, run_search

    _, path = planted
    result = run_search(tiny, profile=CNN, n_trials=2, storage="sqlite://", study_name="new",
                        fidelity=Fidelity(rungs=(0.05, 0.1)), learned=load_learned(path),
                        device="cpu")
    first = result.study.trials[0]
    assert json.loads(first.user_attrs["spec"])["family"] == "onecycle"
    assert first.user_attrs["origin"] == "rules"


def test_a_search_seeded_by_the_guide_stores_its_peak_against_the_rules(planted):
    """A study searched with a learned guide is evidence like any other: its winner's peak
    is stored against the rules' own peak, not the guide's moved one, so refitting on it
    does not pull the guide back towards the rules."""
    from lradvisor.learn import evidence_of
    from lradvisor.search import Fidelity, run_search

    _, path = planted
    rules_peak = advise(TaskProfile(**CNN)).prior.lr_default
    result = run_search(tiny, profile=CNN, n_trials=2, storage="sqlite://", study_name="again",
                        fidelity=Fidelity(rungs=(0.05, 0.1)), learned=load_learned(path),
                        device="cpu")
    moved = result.study.user_attrs["prior"]["lr_default"]
    assert moved > 1.5 * rules_peak  # the guide did move the search's peak (onecycle at 3x)
    evidence = evidence_of(result.study)
    winner = result.recommendation.spec.peak_lr
    assert evidence["lr_ratio"] == pytest.approx(math.log10(winner / rules_peak))


def test_the_part_near_a_profile_blends_as_the_whole_guide(planted):
    _, path = planted
    guide = load_learned(path)
    near = guide.near(TaskProfile(**CNN).to_dict())
    assert sorted(s["name"] for s in near.studies) == [f"cnn-{i}" for i in range(4)]
    whole, part = blend(advise(TaskProfile(**CNN)), guide), blend(advise(TaskProfile(**CNN)), near)
    assert [r.spec for r in part.recommendations] == [r.spec for r in whole.recommendations]
    assert part.prior == whole.prior and part.trace == whole.trace


def test_studies_show_says_when_the_evidence_was_too_thin(planted, tmp_path):
    from lradvisor.search import Fidelity, run_search

    _, path = planted
    url = f"sqlite:///{tmp_path / 'thin.db'}"
    charlm = {"task": "pretrain", "arch": "transformer", "optimizer": "adamw",
              "total_steps": 864}
    run_search(tiny, profile=charlm, n_trials=2, storage=url, study_name="thin",
               fidelity=Fidelity(rungs=(0.05, 0.1)), learned=load_learned(path), device="cpu")
    out = CliRunner().invoke(cli, ["studies", "show", "thin", "--storage", url])
    assert out.exit_code == 0, out.output
    assert ("learned guide: 1 similar study (charlm-0); too few, so the rules' ranking was "
            "kept\n") in out.output


def test_a_learned_path_given_must_exist_but_the_default_is_optional(tmp_path, monkeypatch):
    from lradvisor.errors import RulesError

    missing = tmp_path / "typo.json"
    with pytest.raises(RulesError) as err:
        load_learned(missing)
    assert str(err.value).startswith(f"learned guide {str(missing)!r} is not a file")
    monkeypatch.chdir(tmp_path)  # no studies/learned.json here
    monkeypatch.delenv("LRADVISOR_LEARNED", raising=False)
    assert load_learned() is None
    proc = subprocess.run([sys.executable, "-m", "lradvisor", "suggest", "--task", "finetune",
                           "--learned", str(missing)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"Error: learned guide {str(missing)!r} is not a file; give "
                                   "the JSON file that `lradvisor rules learn` wrote.")


def test_the_learned_guide_cannot_be_written_is_one_line(planted, tmp_path):
    from lradvisor.plots import OutputError
    from lradvisor.rules._learn import save_learned

    _, path = planted
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError) as err:
        save_learned(load_learned(path), blocker / "g.json")
    assert str(err.value).startswith(f"cannot write {str(blocker / 'g.json')!r}: ")
    again = save_learned(load_learned(path), tmp_path / "new" / "g.json")  # folders made
    assert load_learned(again) == load_learned(path)


def test_learning_from_no_finished_study_keeps_the_guide_written(planted, tmp_path):
    """A database with no finished study (a wrong --storage, a search cut off before it
    recommended) wrote an empty guide over the one learnt before: suggest then lost
    its evidence without a word."""
    from lradvisor.storage import get_study, open_storage
    from tests.conftest import run_cli

    _, path = planted
    guide = tmp_path / "learned.json"
    guide.write_bytes(path.read_bytes())
    url = f"sqlite:///{tmp_path / 'unfinished.db'}"
    get_study(open_storage(url), "cut-off").set_user_attr("profile", CNN)  # no recommendation
    proc = run_cli("rules", "learn", "--storage", url, "-o", str(guide))
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip() == (
        "Error: no finished study to learn from in this storage (a study needs the profile "
        f"and recommendation a `lradvisor search` stores); {str(guide)!r} was left as it was.")
    assert guide.read_bytes() == path.read_bytes()
    assert blend(advise(TaskProfile(**CNN)), load_learned(guide)).best.spec.family == "onecycle"


def test_a_winner_whose_lengths_in_steps_do_not_fit_this_run_is_left_out(tmp_path):
    """A study an older search made keeps a rule's lengths in steps in its winner
    (wsd with warmup_steps = 20, decay_steps = 30 for 200 steps). Ranked first for a
    similar 35-step run, suggest built it and, since bb01fd8 refuses a warmup past half
    the run, failed: 'wsd.warmup_steps must be an integer in [0, 17] ...', exit 2."""
    from tests.conftest import run_cli

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    winner = {"family": "wsd", "params": {"warmup_steps": 20, "decay_steps": 30},
              "peak_lr": 0.1}
    for i in range(3):
        plant(url, f"old-{i}", {**CNN, "total_steps": 200}, winner,
              [("wsd", 0.1), ("constant", 0.2), ("plateau", 0.3), ("step", 0.4),
               ("cosine_restarts", 0.5), ("onecycle", 0.6), ("cosine", 0.7)])
    guide = tmp_path / "learned.json"
    assert run_cli("rules", "learn", "--storage", url, "-o", str(guide)).returncode == 0
    fits = run_cli("suggest", "--task", "scratch", "--arch", "cnn", "--optimizer", "sgd",
                   "--total-steps", "200", "--learned", str(guide))
    assert fits.returncode == 0, fits.stderr
    assert "wsd(decay_steps=30" in fits.stdout.splitlines()[2]  # where it fits, it wins
    short = run_cli("suggest", "--task", "scratch", "--arch", "cnn", "--optimizer", "sgd",
                    "--total-steps", "35", "--learned", str(guide))
    assert short.returncode == 0, short.stderr
    assert "wsd(decay_steps=30" not in short.stdout


def test_other_tools_studies_in_the_database_are_not_evidence(tmp_path):
    """A database shared with plain Optuna studies: one of several objectives, or one
    whose own 'profile' and 'recommendation' attributes are not lradvisor's, made `rules
    learn` crash with a traceback (RuntimeError from Study.direction, TypeError), exit 1;
    so did a trial whose 'spec' attribute is not a JSON spec."""
    import optuna

    from lradvisor.learn import collect
    from lradvisor.storage import get_study, open_storage

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    for i in range(3):
        plant(url, f"cnn-{i}", CNN, ONECYCLE, [("onecycle", 0.1), ("cosine", 0.3)])
    storage = open_storage(url)
    multi = optuna.create_study(storage=storage, study_name="multi",
                                directions=["minimize", "maximize"])
    theirs = optuna.create_study(storage=storage, study_name="theirs")
    for study in (multi, theirs):
        study.set_user_attr("profile", "fast" if study is theirs else CNN)
        study.set_user_attr("recommendation", "cosine" if study is theirs else ONECYCLE)
    theirs.add_trial(optuna.trial.create_trial(value=1.0))
    odd = get_study(storage, "cnn-0")  # trials of another tool in one of ours
    for spec in ("not json", '["a list"]', '{"params": {}}'):
        odd.add_trial(optuna.trial.create_trial(value=0.01, user_attrs={"spec": spec}))
    evidence = {e["name"]: e for e in collect(url)}
    assert sorted(evidence) == ["cnn-0", "cnn-1", "cnn-2"]
    assert evidence["cnn-0"]["family_scores"] == {"onecycle": 1.0, "cosine": 0.0}
    out = CliRunner().invoke(cli, ["rules", "learn", "--storage", url, "-o",
                                   str(tmp_path / "learned.json")])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("learned from 3 finished studies; wrote ")


def test_learning_from_one_study_says_study_not_studies(tmp_path):
    """Before: 'learned from 1 finished studies', and '0 other similar studies' beside
    it was right only by luck of the count."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    plant(url, "cnn-0", CNN, ONECYCLE, [("onecycle", 0.1), ("cosine", 0.3)])
    out = CliRunner().invoke(cli, ["rules", "learn", "--storage", url, "-o",
                                   str(tmp_path / "learned.json")])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("learned from 1 finished study; wrote ")
    assert out.output.splitlines()[1].endswith("; 0 other similar studies")
