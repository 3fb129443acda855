"""The promotion policy on a real store: six versions trained for real, decisions audited, the
evaluation CLI on the same store, and the policy setting read from the environment."""

import json
import re

import numpy as np
import pytest

from core.config import PROJECT_ROOT, ConfigError, Settings
from core.dataset import generate_dataset
from core.evaluate.cli import KEYS
from core.registry import Registry
from core.train import TrainConfig, train_model
from core.train.cli import result_lines
from tests.cli import run_cli
from tests.stores import embedded_settings

STRONG = {"n_estimators": 80, "max_depth": 5}
# Two stumps, each seeing 5% of the columns: weak whether or not serving is antisymmetric.
WEAK = {"n_estimators": 2, "max_depth": 1, "colsample_bytree": 0.05}
SMALL = dict(n_battles=12_000, seed=8, oracle_sample=200, oracle_replays=40,
             promotion_battles=20_000)  # fmt: skip
NOT_BETTER = re.compile(
    r"^not promoted: v(\d+) is not better than Production v(\d+): accuracy "
    r"[+−]\d\.\d{4} \[[+−]\d\.\d{4}, [+−]\d\.\d{4}\] on [\d,]+ fresh battles, "
    r"McNemar p = [0-9.e-]+$"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory, store_template):
    """Six versions, each decided by a policy, on one real SQLite store (trained once)."""
    root = tmp_path_factory.mktemp("policy")
    settings = embedded_settings(root, store_template, promotion_threshold=0.6)
    data = generate_dataset(SMALL["n_battles"], seed=SMALL["seed"])
    other = generate_dataset(SMALL["n_battles"], seed=9)

    def train(params, policy, source=data, seed=8):
        config = TrainConfig(**{**SMALL, "seed": seed}, params=params, promotion_policy=policy,
                             export_local=False)  # fmt: skip
        return train_model(config, settings, data=source)

    results = [
        train(STRONG, "beats_production"),  # v1: no Production yet -> the threshold alone
        train(WEAK, "beats_production"),  # v2: worse than v1 -> not promoted
        train(STRONG, "beats_production"),  # v3: the same model as v1 -> no difference
        train(STRONG, "manual", other, seed=9),  # v4: manual never promotes
        train(WEAK, "threshold"),  # v5: the seed's rule promotes the weak model
        train(STRONG, "beats_production", other, seed=9),  # v6: beats weak v5
    ]
    return settings, results


@pytest.mark.slow
def test_each_policy_decides_as_the_issue_says(store):
    settings, results = store
    outcomes = [r.publication.promotion.outcome for r in results]
    assert outcomes == ["promoted", "not_better", "not_better", "manual", "promoted", "promoted"]
    first, weak, same, manual, seed_rule, better = (r.publication.promotion for r in results)
    assert first.against is None and first.evidence is None
    assert weak.evidence.verdict == "worse" and weak.against == 1
    assert NOT_BETTER.match(weak.message), weak.message
    assert same.evidence.verdict == "no significant difference"
    assert same.evidence.difference.estimate == 0.0 and same.evidence.p_value == 1.0
    assert manual.message == "Model registered but not promoted (promotion policy: manual)"
    assert seed_rule.message == "Model promoted to Production"  # the seed's words
    assert better.evidence.verdict == "better" and better.against == 5
    # "promoted" says how strong the evidence was: not a "beat" when it is a coin flip.
    assert better.message == "Model promoted to Production: significantly better than v5"
    assert Registry(settings).current_version(settings.model_name) == 6
    lines = result_lines(results[1])
    assert "⚠️ " + weak.message in lines


def said_on(comparison) -> str:
    """What every evidence line and audit reason must say: the metric and the battle count."""
    return f"accuracy {comparison.difference.as_text()} on {comparison.battles:,} fresh battles"


@pytest.mark.slow
def test_the_evidence_line_names_the_metric_and_the_fresh_battles(store):
    """'📊 v2 vs Production v1: +0.0003 […], p = 0.71' said neither 'accuracy' nor on how many
    fresh battles; the seed guide's lines stay word for word beside it."""
    _, results = store
    better = results[5].publication.promotion
    assert better.evidence.battles > 0
    expected = (f"📊 v6 vs Production v5: {said_on(better.evidence)}, McNemar p = "
                f"{better.evidence.p_value:.2g} (better)")  # fmt: skip
    lines = result_lines(results[5])
    assert expected in lines, lines
    assert "✅ Registered as version 6 in Model Registry" in lines
    assert "🎯 Model meets quality threshold (accuracy >= 0.6)" in lines
    weak = results[1].publication.promotion
    assert said_on(weak.evidence) in weak.message


@pytest.mark.slow
def test_decisions_are_in_the_tags_and_the_audit_with_their_numbers(store):
    settings, results = store
    registry = Registry(settings)
    tags = {v.version: v.tags for v in registry.list_versions(settings.model_name)}
    weak = results[1].publication.promotion
    assert tags[2]["promotion.decision"] == "not_better"
    assert tags[2]["promotion.policy"] == "beats_production" and tags[2]["promotion.against"] == "1"
    assert float(tags[2]["promotion.difference"]) == pytest.approx(
        weak.evidence.difference.estimate
    )
    assert float(tags[2]["promotion.ci_high"]) < 0 and float(tags[2]["promotion.p_value"]) < 0.05
    assert tags[4]["promotion.decision"] == "manual" and tags[5]["promotion.policy"] == "threshold"
    entries = registry.audit(settings.model_name)
    by_version = {}
    for entry in entries:
        by_version.setdefault(entry.to_version, []).append(entry)
    assert [e.status for e in by_version[2]] == ["not_promoted"]
    assert said_on(weak.evidence) in by_version[2][0].reason
    assert f"McNemar p = {weak.evidence.p_value:.2g}" in by_version[2][0].reason
    assert tags[2]["promotion.metric"] == "accuracy"
    assert int(tags[2]["promotion.battles"]) == weak.evidence.battles
    assert by_version[4][0].status == "not_promoted" and "manual" in by_version[4][0].reason
    promoted = by_version[6][0]
    assert promoted.done and "beats_production" in promoted.reason and "p = " in promoted.reason
    assert said_on(results[5].publication.promotion.evidence) in promoted.reason
    assert by_version[5][0].reason.startswith("auto-promotion: test_accuracy")
    # Decisions that moved nothing do not enter the history of holders: rollback from v6
    # goes to v5, then v1.
    assert [h.version for h in registry.earlier_holders(settings.model_name)] == [5, 1]


@pytest.mark.slow
def test_excess_error_is_never_negative_in_a_six_version_store(store):
    settings, results = store
    registry = Registry(settings)
    versions = registry.list_versions(settings.model_name)
    assert len(versions) == 6
    for info in versions:
        _, metrics = registry.run_data(info.run_id)
        assert metrics["excess_error"] >= 0 and metrics["excess_error_low"] >= 0, info.version
        assert metrics["oracle_accuracy"] == pytest.approx(
            metrics["expected_accuracy"] + metrics["excess_error"]
        )
        text = registry.read_run_text(info.run_id, "evaluation/evaluation.json")
        assert set(json.loads(text)) >= {"reliability", "roc", "confusion", "importance", "slices"}


@pytest.mark.slow
def test_evaluate_cli_prints_every_key_and_stores_the_evaluation(store):
    settings, _ = store
    done = run_cli("core.evaluate", ["2", "--against", "production", "--n-battles", "20000",
                                     "--replays", "30"], settings)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(KEYS) <= set(answer)
    assert answer["version"] == 2 and answer["against"] == 6 and answer["verdict"] == "worse"
    assert answer["ci_low"] <= answer["difference"] <= answer["ci_high"] < 0
    assert answer["excess_error"] >= 0
    assert answer["accuracy"] - answer["accuracy_against"] == pytest.approx(answer["difference"])


@pytest.mark.slow
def test_evaluate_cli_compares_production_with_the_previous_holder_and_explains_its_battles(store):
    settings, _ = store
    done = run_cli("core.evaluate", ["production", "--n-battles", "20000", "--replays", "30"],
                   settings)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    notes = " ".join(answer["notes"])
    # v6 holds Production; v5 held it before (the audit's history): not v6 against itself.
    assert answer["version"] == 6 and answer["against"] == 5, notes
    assert answer["p_value"] is not None and answer["difference"] != 0
    assert "compared with the previous Production (v5)" in notes
    assert answer["battles_simulated"] == 20_000
    assert answer["heldout"] and 2_000 <= answer["battles"] < 20_000
    assert f"{answer['battles']:,} of the 20,000 fresh battles were used" in notes
    assert "held out from v6's training" in notes
    assert answer["compared_battles"] > 0 and f"{answer['compared_battles']:,}" in notes
    assert "by chance" in notes and "expected_accuracy" in notes  # the oracle is an estimate
    assert answer["expected_accuracy"] <= answer["oracle_accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["3", "--against", "3"], ["6", "--against", "production"]])
def test_evaluate_cli_skips_comparing_a_version_with_itself_and_says_so(store, argv):
    settings, _ = store
    done = run_cli("core.evaluate", [*argv, "--n-battles", "5000", "--replays", "30"], settings)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["against"] is None and answer["compared_battles"] is None
    assert answer["difference"] is None and answer["p_value"] is None and answer["verdict"] is None
    assert answer["notes"][0] == f"--against names v{argv[0]} itself: comparison skipped."
    assert 0.5 < answer["accuracy"] <= 1 and answer["battles_simulated"] == 5000


@pytest.mark.slow
def test_evaluate_cli_gives_the_promotions_numbers_for_the_same_pair(store):
    """Training's promotion and `core.evaluate N --against M` drew different battles by default
    (20,242 vs 40,574 for one pair): with the same count and the default seed they now compare
    the same pair on the same battles, so they print the same numbers."""
    settings, results = store
    evidence = results[5].publication.promotion.evidence  # v6 against v5, at promotion time
    done = run_cli("core.evaluate", ["6", "--against", "5", "--n-battles",
                                     str(SMALL["promotion_battles"]), "--replays", "5"],
                   settings)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["compared_battles"] == evidence.battles
    assert answer["difference"] == pytest.approx(evidence.difference.estimate)
    assert (answer["ci_low"], answer["ci_high"]) == pytest.approx(
        (evidence.difference.low, evidence.difference.high)
    )
    assert answer["p_value"] == pytest.approx(evidence.p_value)


def test_the_promotion_compares_on_the_one_fresh_battle_default():
    import inspect

    from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED
    from core.train.policy import decide_promotion

    parameters = inspect.signature(decide_promotion).parameters
    assert parameters["compare_battles"].default == DEFAULT_COMPARE_BATTLES
    assert parameters["compare_seed"].default == DEFAULT_COMPARE_SEED


def test_readme_states_the_exact_beats_production_rule():
    text = " ".join((PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "also beat Production" not in text and "best any model can reach" not in text
    for rule in ("not significantly worse", "higher point estimate", "McNemar p < 0.05"):
        assert rule in text, rule
    table_row = text.split("| `PREDICTIONDEX_PROMOTION_POLICY`")[1].split("| `PREDICTIONDEX_USER`")[
        0
    ]
    assert "not significantly negative" in table_row and "higher point estimate" in table_row


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [["99"], ["1", "--replays", "0"], ["1", "--against", "abc"], ["1", "--n-battles", "5"]],
)
def test_evaluate_cli_bad_input_is_one_error_line_and_writes_nothing(store, argv):
    settings, _ = store
    registry = Registry(settings)
    before = registry.run_data(registry.list_versions(settings.model_name)[-1].run_id)
    audit_before = len(registry.audit(settings.model_name))
    done = run_cli("core.evaluate", argv, settings)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert registry.run_data(registry.list_versions(settings.model_name)[-1].run_id) == before
    assert len(registry.audit(settings.model_name)) == audit_before


def test_evaluate_cli_on_an_unreachable_store_is_one_error_line(tmp_path, free_port):
    settings = Settings(tracking_uri=f"http://127.0.0.1:{free_port}")
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    done = run_cli("core.evaluate", ["1"], settings, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("raw", "policy"),
    [(None, "beats_production"), ("", "beats_production"), ("threshold", "threshold"),
     (" Manual ", "manual"), ("beats-production", "beats_production")],
)  # fmt: skip
def test_policy_setting_is_read_from_the_environment(raw, policy):
    env = {} if raw is None else {"PREDICTIONDEX_PROMOTION_POLICY": raw}
    assert Settings.from_env(env).promotion_policy == policy


def test_an_unknown_policy_says_what_to_set():
    with pytest.raises(ConfigError, match="threshold, beats_production or manual"):
        Settings.from_env({"PREDICTIONDEX_PROMOTION_POLICY": "always"})


def test_train_cli_refuses_an_unknown_policy_flag(tmp_path):
    done = run_cli("core.train", ["--promotion-policy", "always", "--no-mlflow"])
    assert done.returncode == 2 and "--promotion-policy" in done.stderr
    assert np.isfinite(0.0)
