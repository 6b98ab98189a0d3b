"""The service through real HTTP on loopback, against ``lradvisor serve`` in a subprocess."""

from __future__ import annotations

import copy
import math
import threading

import optuna
import pytest

from lradvisor.client import Client, ServiceError
from lradvisor.search._pruner import PlateauPruner
from tests.conftest import run_cli
from tests.service.conftest import TOKEN

PROFILE = {"task": "scratch", "arch": "cnn", "total_steps": 1000}


def _curve(trial, level: float = 0.1, every: int = 10) -> list[tuple[int, float]]:
    """A smooth loss curve falling from 1 to ``level`` over the trial's steps."""
    total = trial.total_steps
    return [(s, level + (1 - level) * (1 - s / total) ** 2) for s in range(0, total + 1, every)]


def _run(trial, level: float = 0.1, curve_level: float | None = None) -> list[bool]:
    """Report a curve falling to ``curve_level`` (default ``level``), then finish at ``level``."""
    answers = []
    for step, value in _curve(trial, level if curve_level is None else curve_level):
        answers.append(trial.report(step, value))
        if answers[-1]:
            return answers  # pruned: the service has recorded it
    trial.complete(level)
    return answers


def test_a_studys_best_is_of_its_longest_rung_not_a_shorter_proxys(server):
    # A search resuming a service study adds longer rungs; a 10% proxy's loss does not
    # compare with them, however low it is.
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from lradvisor.storage import load_study, open_storage

    with Client(server.url, token=TOKEN) as client:
        client.create_study("rungs", PROFILE)
        trial = client.ask("rungs")
        assert not any(_run(trial, 0.1))  # rung 0: 0.1
    study = load_study(open_storage(server.storage), "rungs")
    spec = study.trials[0].user_attrs["spec"]
    for value in (0.3, 0.25):  # two runs at the last rung, worse than the short proxy
        study.add_trial(create_trial(
            value=value, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
            user_attrs={"rung": 1, "fidelity": 0.33, "spec": spec}))
    with Client(server.url) as client:
        best = client.study("rungs")["best"]
    assert (best["value"], best["rung"], best["fidelity"]) == (0.25, 1, 0.33)
    assert best["trial"] == study.trials[-1].number


def test_suggest_answers_the_cli_json_byte_for_byte(server):
    args = ["--task", "scratch", "--arch", "cnn", "--epochs", "30", "--steps-per-epoch", "100"]
    cli = run_cli("suggest", *args, "--format", "json")
    assert cli.returncode == 0, cli.stderr
    with server.client(token=None) as http:  # read endpoints are open on loopback
        response = http.post("/v1/suggest", json={
            "task": "scratch", "arch": "cnn", "epochs": 30, "steps_per_epoch": 100})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text + "\n" == cli.stdout


def test_suggest_scales_a_transformer_pretraining_peak_by_model_params(server):
    args = ["--task", "pretrain", "--arch", "transformer", "--optimizer", "adamw",
            "--total-steps", "1000", "--model-params", "125M"]
    cli = run_cli("suggest", *args, "--format", "json")
    assert cli.returncode == 0, cli.stderr
    with server.client(token=None) as http:
        response = http.post("/v1/suggest", json={
            "task": "pretrain", "arch": "transformer", "optimizer": "adamw",
            "total_steps": 1000, "model_params": 125_000_000})
        bad = http.post("/v1/suggest", json={"task": "pretrain", "model_params": 0})
    assert response.status_code == 200
    assert response.json()["peak_lr"] == 4.1e-4
    assert response.text + "\n" == cli.stdout
    assert bad.status_code == 422 and "model_params" in bad.text


def test_curve_matches_torch_cosine_annealing(server):
    import torch

    total = 50
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0.0)
    expected = []
    for _ in range(total):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    with Client(server.url) as client:
        curve = client.curve("cosine", total, peak_lr=0.1)
        thinned = client.curve("cosine", total, peak_lr=0.1, points=6)
    assert curve["steps"] == list(range(total))
    assert curve["lr"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert thinned["steps"] == [0, 10, 20, 29, 39, 49]
    assert thinned["lr"] == pytest.approx([expected[s] for s in thinned["steps"]], abs=1e-12)


def test_schedules_list_every_family(server):
    from lradvisor.schedules import FAMILY_NAMES

    with Client(server.url) as client:
        names = [f["name"] for f in client.schedules()]
    assert names == list(FAMILY_NAMES)


def test_two_concurrent_clients_run_one_study_to_its_best(server):
    with Client(server.url, token=TOKEN) as setup:
        setup.create_study("loop", PROFILE)
    barrier = threading.Barrier(2)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def pipeline(level: float) -> None:
        try:
            with Client(server.url, token=TOKEN) as client:
                for _ in range(2):
                    barrier.wait(timeout=30)  # both ask at the same moment
                    trial = client.ask("loop")
                    numbers.append(trial.number)
                    # One shared curve: neither pipeline is ever behind the other, so no
                    # interleaving of the two can let the pruner stop a trial.
                    assert not any(_run(trial, level, curve_level=0.1))
        except BaseException as err:  # reported below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=pipeline, args=(lvl,)) for lvl in (0.1, 0.2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(numbers) == [0, 1, 2, 3]
    with Client(server.url) as client:
        view = client.study("loop")
        best = client.best("loop")
    assert view["trials"] == {"COMPLETE": 4}
    assert view["best"]["value"] == 0.1
    cli = run_cli("suggest", "--study", "loop", "--storage", server.storage, "--format", "json")
    assert cli.returncode == 0, cli.stderr
    import json

    assert best == json.loads(cli.stdout)


def test_an_sgd_proxy_is_asked_to_train_at_the_peak_its_length_wants(server):
    # The shipped [[horizon]] rule for SGD (b = 0.5): the study stores the full run's
    # peak; a first-rung proxy at 10% of the run is handed that peak times 0.1^-0.5.
    import json

    with Client(server.url, token=TOKEN) as client:
        client.create_study("sgd-proxy", {**PROFILE, "optimizer": "sgd"})
        trial = client.ask("sgd-proxy")
        trial.fail("not trained")
    attrs = optuna.load_study(study_name="sgd-proxy",
                              storage=server.storage).trials[trial.number].user_attrs
    full = json.loads(attrs["spec"])["peak_lr"]
    assert trial.total_steps == 100 and trial.spec.family == json.loads(attrs["spec"])["family"]
    assert trial.spec.peak_lr == pytest.approx(full * 0.1 ** -0.5)
    assert attrs["proxy_peak_lr"] == pytest.approx(trial.spec.peak_lr)


def test_report_answers_are_the_plateau_pruners(server):
    with Client(server.url, token=TOKEN) as client:
        client.create_study("prune", PROFILE)
        for _ in range(5):  # the pruner's startup trials
            _run(client.ask("prune"))
        bad = client.ask("prune")
        answers = _run(bad, level=5.0)  # flat at 5: hopeless against finals of 0.1
        assert answers[-1] is True and answers.count(True) == 1
        with pytest.raises(ServiceError) as refused:
            bad.report(bad.total_steps, 5.0)
        assert refused.value.status == 409
    study = optuna.load_study(study_name="prune", storage=server.storage)
    frozen = study.trials[bad.number]
    assert frozen.state == optuna.trial.TrialState.PRUNED
    pruner = PlateauPruner()
    steps = sorted(frozen.intermediate_values)
    expected = []
    for i in range(1, len(steps) + 1):
        prefix = copy.deepcopy(frozen)
        prefix.intermediate_values = {s: frozen.intermediate_values[s] for s in steps[:i]}
        prefix.state = optuna.trial.TrialState.RUNNING
        expected.append(pruner.prune(study, prefix))
    assert answers == expected


def test_a_diverged_report_prunes_at_once(server):
    with Client(server.url, token=TOKEN) as client:
        client.create_study("diverge", PROFILE)
        trial = client.ask("diverge")
        assert trial.report(0, 1.0) is False
        assert trial.report(5, math.nan) is True
    frozen = optuna.load_study(study_name="diverge", storage=server.storage).trials[0]
    assert frozen.state == optuna.trial.TrialState.PRUNED
    assert frozen.user_attrs["diverged"] is True


def test_write_endpoints_refuse_a_missing_or_wrong_token(server):
    with server.client(token=TOKEN) as http:
        created = http.post("/v1/studies", json={"name": "tok", "profile": PROFILE})
        assert created.status_code == 201
    for token in (None, "wrong-token-0123456789"):
        with server.client(token=token) as http:
            response = http.post("/v1/studies/tok/trials")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
    with server.client(token=TOKEN) as http:
        response = http.post("/v1/studies/tok/trials")
    assert response.status_code == 200
    assert response.json()["total_steps"] == 100  # the first rung: 10% of 1000 steps


def test_a_local_trial_cannot_be_driven_over_http(server):
    study = optuna.create_study(study_name="local", storage=server.storage)
    study.ask()
    with server.client() as http:
        response = http.post("/v1/studies/local/trials/0/report", json={"step": 1, "value": 1.0})
        ask = http.post("/v1/studies/local/trials")
    assert response.status_code == 409
    assert "not a remote trial" in response.json()["detail"]
    assert ask.status_code == 409  # no search space: not made by lradvisor


def test_unknown_study_trial_and_family_are_404(server):
    with server.client() as http:
        assert http.get("/v1/studies/nope").status_code == 404
        assert http.get("/v1/studies/nope/best").status_code == 404
        assert http.post("/v1/studies/nope/trials").status_code == 404
        http.post("/v1/studies", json={"name": "few", "profile": PROFILE})
        assert http.post("/v1/studies/few/trials/99/complete",
                         json={"value": 1.0}).status_code == 404
        assert http.get("/v1/schedules/nope/curve?total_steps=10").status_code == 404


def test_openapi_schema_and_docs_are_served(server):
    with server.client(token=None) as http:
        schema = http.get("/openapi.json")
        docs = http.get("/docs")
    assert schema.status_code == 200 and docs.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/v1/suggest", "/v1/schedules", "/v1/schedules/{family}/curve", "/v1/studies",
                 "/v1/studies/{name}", "/v1/studies/{name}/best", "/v1/studies/{name}/trials",
                 "/v1/studies/{name}/trials/{trial}/report",
                 "/v1/studies/{name}/trials/{trial}/complete",
                 "/v1/studies/{name}/trials/{trial}/fail"):
        assert path in paths


def test_a_maximizing_study_hands_out_plateau_with_mode_max(server):
    """The value a remote trial reports is the study's: in a study that maximises it,
    plateau's mode is ``max`` (it was ``min``, the guide's, cutting the LR on a rising
    accuracy). Fine-tuning's rules queue plateau second."""
    profile = {"task": "finetune", "arch": "cnn", "total_steps": 1000}
    with Client(server.url, token=TOKEN) as client:
        client.create_study("acc", profile, direction="maximize")
        client.create_study("loss", profile)
        asked = {name: [client.ask(name) for _ in range(3)] for name in ("acc", "loss")}
        for trials in asked.values():
            for trial in trials:
                trial.fail("not trained")
    modes = {name: {t.spec.params["mode"] for t in trials if t.spec.family == "plateau"}
             for name, trials in asked.items()}
    assert modes == {"acc": {"max"}, "loss": {"min"}}


def test_a_study_is_not_made_again_for_another_profile(server):
    """The same name for another profile (the run length and direction the same) was
    answered with the old study, whose specs the client then trained: now 409."""
    with Client(server.url, token=TOKEN) as client:
        client.create_study("prof", {"task": "scratch", "arch": "cnn", "total_steps": 1000})
        again = client.create_study("prof", {"task": "scratch", "arch": "cnn",
                                             "total_steps": 1000})
        assert again["name"] == "prof"
        with pytest.raises(ServiceError) as refused:
            client.create_study("prof", {"task": "finetune", "arch": "transformer",
                                         "optimizer": "adamw", "total_steps": 1000})
    assert refused.value.status == 409
    assert "exists for the profile 'task=scratch" in str(refused.value)
    assert "this asks for 'task=finetune" in str(refused.value)
