"""The engine: reading rules files, matching conditions, deterministic ranking, merging."""

from __future__ import annotations

import pytest

from lradvisor.errors import RulesError
from lradvisor.rules import TaskProfile, load_rules, match, merge_rules

RULES = """
[[rule]]
id = "a"
when = { task = "scratch" }
family = "cosine"
score = 50
reason = "A."

[[rule]]
id = "b"
when = { task = "scratch", arch = ["cnn", "mlp"] }
family = "step"
score = 50
reason = "B."

[[rule]]
id = "c"
when = { task = "scratch" }
family = "linear"
score = 50
reason = "C."

[[rule]]
id = "d"
when = { total_steps = { min = 100, max = 1000 } }
family = "constant"
score = 90
reason = "D."
"""


def ids(firings):
    return [f.rule.id for f in firings]


# -- conditions ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("profile", "fired"),
    [
        (TaskProfile("scratch", arch="cnn", total_steps=100), ["d", "b", "a", "c"]),
        (TaskProfile("scratch", arch="mlp", total_steps=1000), ["d", "b", "a", "c"]),
        (TaskProfile("scratch", arch="rnn", total_steps=1001), ["a", "c"]),
        (TaskProfile("scratch", total_steps=99), ["a", "c"]),  # arch not given: b cannot fire
        (TaskProfile("finetune", total_steps=500), ["d"]),
        (TaskProfile("finetune"), []),  # no total_steps: the range cannot hold
    ],
)
def test_conditions_equality_membership_range(profile, fired):
    assert ids(match(load_rules(RULES), profile)) == fired


def test_derived_facts_length_and_batch():
    rules = load_rules("""
[[rule]]
id = "open"
when = { length = "unknown", batch = "large" }
family = "plateau"
reason = "Open."
""")
    assert ids(match(rules, TaskProfile("finetune", batch_size=4096))) == ["open"]
    assert ids(match(rules, TaskProfile("finetune", batch_size=64))) == []
    assert ids(match(rules, TaskProfile("finetune", batch_size=4096, total_steps=10))) == []


def test_miss_names_the_failing_condition():
    rule = load_rules(RULES)[1]
    facts = TaskProfile("scratch", arch="rnn").facts()
    assert rule.miss(facts) == "arch is 'rnn', needs one of cnn, mlp"


# -- ranking ------------------------------------------------------------------------------
def test_ranking_score_then_specificity_then_order_and_the_trace_says_how():
    trace: list[str] = []
    firings = match(load_rules(RULES), TaskProfile("scratch", arch="cnn", total_steps=100), trace)
    assert ids(firings) == ["d", "b", "a", "c"]
    assert [f.rank for f in firings] == [0, 1, 2, 3]
    assert "below b on the same score: b is more specific" in firings[2].note
    assert "tied with a on score and specificity, a comes first in rule order" in firings[3].note
    assert any(line.startswith("rule c fired") and "tied with a" in line for line in trace)
    assert trace[-1] == "0 other rule(s) did not match the profile."


def test_same_input_same_order():
    profile = TaskProfile("scratch", arch="mlp", total_steps=500)
    runs = [(ids(match(load_rules(RULES), profile, t := [])), t) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_user_rules_come_first_on_a_full_tie():
    shipped = load_rules(RULES, source="shipped.toml")
    user = load_rules("""
[[rule]]
id = "mine"
when = { task = "scratch" }
family = "wsd"
score = 50
reason = "Mine."
""", source="mine.toml")
    trace: list[str] = []
    firings = match(merge_rules(shipped, user), TaskProfile("scratch", total_steps=10_000), trace)
    assert ids(firings) == ["mine", "a", "c"]
    assert "mine comes first in rule order (mine.toml before shipped.toml)" in firings[1].note


def test_user_rule_overrides_by_id_and_can_switch_off():
    shipped = load_rules(RULES, source="shipped.toml")
    user = load_rules("""
[[rule]]
id = "a"
when = { task = "scratch" }
family = "onecycle"
score = 99
reason = "Replaced."

[[rule]]
id = "d"
enabled = false
""", source="mine.toml")
    trace: list[str] = []
    merged = merge_rules(shipped, user, trace=trace)
    assert [r.id for r in merged] == ["a", "d", "b", "c"]
    firings = match(merged, TaskProfile("scratch", arch="cnn", total_steps=100))
    assert ids(firings) == ["a", "b", "c"] and firings[0].rule.family == "onecycle"
    assert "rule a from mine.toml replaces the one in shipped.toml." in trace
    assert "rule d from mine.toml switches off the one in shipped.toml." in trace


def test_override_of_another_kind_is_an_error():
    user = load_rules('[[lr]]\nid = "a"\npeak = 0.1\nrange = [0.01, 1]\nreason = "x"\n',
                      source="mine.toml")
    with pytest.raises(RulesError, match=r"mine.toml: lr 'a' would replace a rule"):
        merge_rules(load_rules(RULES), user)


def test_lr_adjust_and_horizon_tables_are_read():
    rules = load_rules("""
[[lr]]
id = "sgd"
when = { optimizer = "sgd" }
peak = 0.1
range = [0.01, 0.5]
reason = "SGD."

[[adjust]]
id = "warm"
params = { warmup_fraction = 0.05 }
reason = "Warm."

[[horizon]]
id = "sgd-length"
when = { optimizer = "sgd" }
exponent = 0.5
reason = "SGD."
""")
    lr, adjust, horizon = rules
    assert (lr.kind, lr.peak, lr.lr_range) == ("lr", 0.1, (0.01, 0.5))
    assert (adjust.kind, dict(adjust.params)) == ("adjust", {"warmup_fraction": 0.05})
    assert (horizon.kind, horizon.exponent) == ("horizon", 0.5)
    assert ids(match(rules, TaskProfile("quick", optimizer="sgd"), kind="lr")) == ["sgd"]
    assert ids(match(rules, TaskProfile("quick"), kind="adjust")) == ["warm"]
    sgd = TaskProfile("quick", optimizer="sgd")
    assert ids(match(rules, sgd, kind="horizon")) == ["sgd-length"]
    assert match(rules, TaskProfile("quick", optimizer="adam"), kind="horizon") == []


def test_load_rules_reads_a_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(RULES)
    assert [r.id for r in load_rules(path)] == ["a", "b", "c", "d"]
    assert load_rules(str(path))[0].source == str(path)


# -- malformed rules files: RulesError naming the file, the rule and the bad thing ---------
def rule(body: str) -> str:
    return f'[[rule]]\nid = "r1"\nreason = "x"\n{body}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]\nid = 1", r"<text>: not valid TOML"),
        ('[[rule]]\nreason = "x"\nfamily = "cosine"', r"\[\[rule\]\] #1: needs an 'id'"),
        ('[[rule]]\nid = "has space"\nfamily = "cosine"', r"needs an 'id'.*'has space'"),
        (rule('family = "cosine"\nwhen = { taks = "scratch" }'),
         r"#1 \('r1'\): unknown field 'taks' in when; allowed: task, arch"),
        (rule('family = "cosine"\nwhen = { task = "train" }'),
         r"when.task = 'train' is not allowed; allowed: scratch"),
        (rule('family = "cosine"\nwhen = { steps = "many" }'),
         r"when.steps = 'many' is not allowed; allowed: a number"),
        (rule('family = "cosine"\nwhen = { arch = { min = 1 } }'), r"when.arch = .*a range"),
        (rule('family = "cosine"\nwhen = { steps = { least = 1 } }'), r"when.steps = .*a range"),
        (rule('family = "cosinus"'), r"unknown family 'cosinus'; allowed: constant, step"),
        (rule('family = "cosine"\nparams = { gamma = 0.1 }'),
         r"unknown parameter 'gamma' for cosine; allowed: min_lr_ratio"),
        (rule('family = "cosine"\nparams = { min_lr_ratio = 2.0 }'),
         r"params.cosine.min_lr_ratio must be a number in \[0, 1\], but got 2.0"),
        (rule('family = "cosine"\nparams = { warmup_fraction = 0.1, warmup_steps = 10 }'),
         r"give warmup_fraction or warmup_steps, not both"),
        (rule('family = "step"\nparams = { gamma = { epochs = 3 } }'),
         r"params.gamma: \{epochs = N\} is for lengths only"),
        (rule('family = "step"\nparams = { step_fraction = { lr = 3 } }'),
         r"params.step_fraction: \{lr = X\} is for a multiple of the peak LR only"),
        (rule('family = "step"\nparams = { step_fraction = { epochs = -1 } }'),
         r"params.step_fraction = .*a value table is"),
        (rule('family = "cosine"\nprior = { min_lr_ratio = [0.1, 0.01] }'),
         r"prior.min_lr_ratio must be \[low, high\] with low <= high"),
        (rule('family = "cosine"\nprior = { gamma = [0.1, 0.5] }'),
         r"prior names unknown parameter 'gamma'"),
        (rule('family = "cosine"\nscore = "high"'),
         r"score must be a finite number, but got 'high'"),
        (rule('family = "cosine"\ncolour = "red"'), r"unknown key 'colour'; allowed: enabled"),
        ('[[rule]]\nid = "r1"\nfamily = "cosine"', r"\('r1'\): missing 'reason'"),
        (rule(""), r"\('r1'\): missing 'family'"),
        (rule('family = "cosine"\n') + rule('family = "step"'), r"#2 \('r1'\): duplicate id"),
        ('[[lr]]\nid = "l"\nreason = "x"\npeak = 0.1\nrange = [0.2, 0.5]',
         r"\[\[lr\]\] #1 \('l'\): needs 0 < low <= peak <= high, but got peak 0.1"),
        ('[[lr]]\nid = "l"\nreason = "x"\npeak = 0.1\nrange = 0.5',
         r"range must be \[low, high\] \(finite numbers\), but got 0.5"),
        ('[[lr]]\nid = "l"\nreason = "x"\npeak = 0.1\nrange = [0.01, 1]\n'
         'scale = { field = "colour", ref = 1, exponent = 1 }',
         r"scale.field must be one of batch_size, dataset_size, epochs, model_params, "
         r"steps, steps_per_epoch, total_steps, but got 'colour'"),
        ('[[lr]]\nid = "l"\nreason = "x"\npeak = 0.1\nrange = [0.01, 1]\n'
         'scale = { field = "model_params", ref = 0, exponent = 1 }',
         r"scale = \{field = NAME, ref = X > 0, exponent = E\} with \|E\| <= 4, but got"),
        ('[[lr]]\nid = "l"\nreason = "x"\npeak = 0.1\nrange = [0.01, 1]\n'
         'scale = { field = "model_params" }',
         r"scale = \{field = NAME, ref = X > 0, exponent = E\}, but got"),
        ('[[adjust]]\nid = "j"\nreason = "x"\nparams = { nonsense = 1 }',
         r"\[\[adjust\]\] #1 \('j'\): no family takes parameter 'nonsense'"),
        ('[[horizon]]\nid = "h"\nreason = "x"\nexponent = "half"',
         r"\[\[horizon\]\] #1 \('h'\): exponent must be a number in \[-2, 2\], but got 'half'"),
        ('[[horizon]]\nid = "h"\nreason = "x"\nexponent = 3',
         r"exponent must be a number in \[-2, 2\], but got 3"),
        ('[[horizon]]\nid = "h"\nreason = "x"', r"\('h'\): missing 'exponent'"),
        ('[[horizon]]\nid = "h"\nreason = "x"\nexponent = 0.5\npeak = 1',
         r"unknown key 'peak'; allowed: enabled, exponent, id, reason, score, when"),
        ('[[rules]]\nid = "x"', r"unknown table 'rules'; allowed: \[\[rule\]\]"),
        ('rule = 3\n', r"'rule' must be an array of tables"),
    ],
)
def test_malformed_rules_raise_naming_the_problem(text, message):
    with pytest.raises(RulesError, match=message):
        load_rules(text)


def test_missing_rules_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesError, match=r"rules file '.*nope.toml' cannot be read"):
        load_rules(missing)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(rule('family = "cosinus"'))
    with pytest.raises(RulesError, match=rf"^{path}: \[\[rule\]\] #1 \('r1'\): unknown family"):
        load_rules(path)
