"""core.evaluate: hand-worked statistics, the paired oracle gap, calibration, champion/challenger."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from core.dataset import generate_dataset, split_by_matchup
from core.evaluate import (
    Interval,
    StatisticsError,
    bootstrap_mean,
    evaluate_model,
    matchup_calibration,
    mcnemar_exact,
    oracle_accuracy,
    paired_oracle_gap,
)
from core.evaluate.compare import compare_models, fresh_battles, verdict_of
from core.evaluate.figure import build_report_figure
from core.evaluate.matchups import held_out_pairs, pair_truth, served_probability
from core.evaluate.metrics import FeatureRows
from core.evaluate.report import write_report
from core.train.pipeline import make_estimator

# Deliberately weak: two stumps, each seeing 5% of the columns. (Two plain stumps are not weak
# once served probabilities are antisymmetric: one split on a difference feature is ~0.93.)
WEAK = {"n_estimators": 2, "max_depth": 1, "colsample_bytree": 0.05}


# --- exact McNemar and the bootstrap against small tables worked by hand ---------------------


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (1, 9, 22 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (0, 6, 2 / 64),  # 2 * (1/2)^6
        (5, 5, 1.0),
        (0, 0, 1.0),  # no discordant battle: nothing to test
        (3, 0, 0.25),  # 2 * (1/2)^3
    ],
)
def test_mcnemar_exact_matches_hand_worked_binomials(first, second, expected):
    assert mcnemar_exact(first, second) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact(second, first) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(StatisticsError):
        mcnemar_exact(-1, 3)


def test_bootstrap_of_paired_differences_matches_the_normal_table():
    # 600 battles only the candidate gets right, 400 only the baseline, 9,000 ties:
    # mean 0.02, variance 0.1 - 0.02^2 = 0.0996, standard error sqrt(0.0996 / 10,000).
    values = np.concatenate([np.ones(600), -np.ones(400), np.zeros(9000)])
    interval = bootstrap_mean(values, seed=1, resamples=4000)
    half_width = 1.959964 * math.sqrt(0.0996 / 10_000)
    assert interval.estimate == pytest.approx(0.02)
    assert interval.low == pytest.approx(0.02 - half_width, abs=6e-4)
    assert interval.high == pytest.approx(0.02 + half_width, abs=6e-4)


def test_bootstrap_of_continuous_values_and_constant_values():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 2.0, 2500)
    interval = bootstrap_mean(values, seed=3, resamples=2000)
    half_width = 1.959964 * values.std() / math.sqrt(values.size)
    assert interval.low == pytest.approx(values.mean() - half_width, abs=0.015)
    assert interval.high == pytest.approx(values.mean() + half_width, abs=0.015)
    assert bootstrap_mean(np.full(50, 0.25)) == Interval(0.25, 0.25, 0.25)
    with pytest.raises(StatisticsError):
        bootstrap_mean(np.array([]))


def test_interval_text_is_signed_with_a_true_minus():
    assert Interval(-0.0012, -0.0031, 0.0007).as_text() == "−0.0012 [−0.0031, +0.0007]"


@pytest.mark.parametrize(
    ("low", "high", "p_value", "verdict"),
    [
        (0.001, 0.004, 0.01, "better"),
        (-0.004, -0.001, 0.01, "worse"),
        (-0.001, 0.004, 0.20, "no significant difference"),
        (0.001, 0.004, 0.20, "no significant difference"),  # McNemar must agree
    ],
)
def test_verdict_table(low, high, p_value, verdict):
    assert verdict_of(Interval((low + high) / 2, low, high), p_value) == verdict


# --- the paired oracle gap -----------------------------------------------------------------


def test_paired_gap_on_a_hand_worked_table():
    p = np.array([0.9, 0.2, 0.5, 0.6])
    q = np.array([0.8, 0.7, 0.3, 0.4])
    gap = paired_oracle_gap(p, q)
    # oracle: .9 .8 .5 .6 -> 0.7; model: .9 .2 .5 .4 -> 0.5; excess per row 0 .6 0 .2
    assert gap.oracle_accuracy == pytest.approx(0.7)
    assert gap.expected_accuracy == pytest.approx(0.5)
    assert gap.excess_error.estimate == pytest.approx(0.2)
    assert 0.0 <= gap.excess_error.low <= 0.2 <= gap.excess_error.high <= 0.6


@pytest.fixture(scope="module")
def small_world():
    """A real seeded dataset, its matchup split and two real models: strong and weak."""
    data = generate_dataset(12_000, seed=11)
    split = split_by_matchup(data, 0.25, seed=11)
    features = FeatureRows.of(data)
    x, y = features.rows(split["train"]), data.winner[split["train"]]
    strong = make_estimator("xgboost", {"n_estimators": 60, "max_depth": 5}, 11).fit(x, y)
    weak = make_estimator("xgboost", WEAK, 11).fit(x, y)
    return data, split, features, strong, weak


def test_evaluate_model_reports_a_non_negative_gap_and_the_one_oracle(small_world):
    data, split, features, strong, weak = small_world
    for model in (strong, weak):
        evaluation = evaluate_model(model, data, split["test"], features=features,
                                    oracle_sample=300, oracle_replays=60, seed=4,
                                    matchup_pairs=40)  # fmt: skip
        metrics = evaluation.metrics()
        assert metrics["excess_error"] >= 0 and metrics["excess_error_low"] >= 0
        assert (
            metrics["excess_error_low"] <= metrics["excess_error"] <= metrics["excess_error_high"]
        )
        assert metrics["oracle_gap"] == metrics["excess_error"]
        # The same sample, salt and replays as the function the dataset CLI calls.
        expected = oracle_accuracy(data, split["test"], sample=300, replays=60, seed=4)
        assert metrics["oracle_accuracy"] == pytest.approx(expected, abs=1e-12)
        assert metrics["oracle_accuracy"] == pytest.approx(
            metrics["expected_accuracy"] + metrics["excess_error"]
        )
        for name in ("matchup_mae", "matchup_p95", "matchup_max", "matchup_wrong_side",
                     "antisymmetry_max"):  # fmt: skip
            assert 0.0 <= metrics[name] <= 1.0, name
        assert metrics["matchup_mae"] <= metrics["matchup_p95"] <= metrics["matchup_max"]
    report = evaluation.report
    assert sum(report["confusion"].values()) == len(split["test"])
    for name, rows in report["slices"].items():
        assert sum(row["battles"] for row in rows) == len(split["test"]), name
    assert {row["value"] for row in report["slices"]["form"]} <= {"Mega", "Alolan", "other"}
    assert sum(report["reliability"]["count"]) == len(split["test"])
    assert report["importance"] and report["roc"]["auc"] > 0.5


def test_the_weak_model_is_further_from_the_truth(small_world):
    data, split, features, strong, weak = small_world
    pairs = held_out_pairs(data, split["test"], 60, seed=2)
    good = matchup_calibration(strong, data.dex, pairs, replays=80, seed=2)
    bad = matchup_calibration(weak, data.dex, pairs, replays=80, seed=2)
    assert good.pairs == bad.pairs == 2 * len(pairs)
    assert good.matchup_mae < bad.matchup_mae


def test_calibration_aggregates_the_served_answers_by_hand(small_world):
    """The five numbers recomputed from serving's q and the replayed p, in the documented order
    (all pairs as (A,B), then the same pairs as (B,A))."""
    data, split, _, strong, _ = small_world
    pairs = held_out_pairs(data, split["test"], 30, seed=5)
    arrays, p = pair_truth(data.dex, pairs, replays=50, seed=5)
    q = served_probability(strong, arrays, data.dex)
    result = matchup_calibration(strong, data.dex, pairs, truth=(arrays, p))
    assert list(arrays.a[: len(pairs)]) == list(pairs[:, 0]) == list(arrays.b[len(pairs) :])
    error = np.abs(q - p)
    decided = np.abs(p - 0.5) > 0.05
    assert result.matchup_mae == pytest.approx(error.mean())
    assert result.matchup_p95 == pytest.approx(np.quantile(error, 0.95))
    assert result.matchup_max == pytest.approx(error.max())
    wrong = (decided & ((q > 0.5) != (p > 0.5))).sum() / decided.sum()
    assert result.matchup_wrong_side == pytest.approx(wrong)
    flipped = q[: len(pairs)] + q[len(pairs) :] - 1
    assert result.antisymmetry_max == pytest.approx(np.abs(flipped).max())


# --- champion / challenger -----------------------------------------------------------------


def test_compare_models_same_battles_verdicts(small_world):
    _, _, _, strong, weak = small_world
    fresh = fresh_battles(20_000, seed=99, splits=((11, 0.25),))
    assert fresh.heldout and fresh is not None
    assert fresh_battles(20_000, seed=99).data is fresh.data  # cached by seed
    same = compare_models(strong, strong, fresh)
    assert same.difference == Interval(0.0, 0.0, 0.0) and same.p_value == 1.0
    assert same.verdict == "no significant difference"
    worse = compare_models(weak, strong, fresh)
    assert worse.verdict == "worse" and worse.difference.high < 0 and worse.p_value < 0.05
    assert worse.accuracy - worse.accuracy_against == pytest.approx(worse.difference.estimate)
    assert worse.only_baseline_right > worse.only_candidate_right
    assert compare_models(strong, weak, fresh).verdict == "better"


def test_report_importance_of_a_random_forest(small_world):
    data, split, features, *_ = small_world
    x, y = features.rows(split["train"]), data.winner[split["train"]]
    forest = make_estimator("random_forest", {"n_estimators": 10, "max_depth": 6}, 1).fit(x, y)
    evaluation = evaluate_model(forest, data, split["test"], features=features, matchup_pairs=20,
                                oracle_replays=20)  # fmt: skip
    shares = [row["gain"] for row in evaluation.report["importance"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-9
    assert evaluation.matchups.pairs == 40


# --- the evaluation figure (evaluation.png, what the MLflow UI shows) -------------------------


def test_the_evaluation_figure_draws_the_report_of_a_real_evaluation(small_world, tmp_path):
    data, split, features, strong, _ = small_world
    report = evaluate_model(strong, data, split["test"], features=features, oracle_sample=200,
                            oracle_replays=20, matchup_pairs=0, seed=3).report  # fmt: skip
    paths = write_report(report, tmp_path / "evaluation")
    assert [path.name for path in paths] == ["evaluation.json", "evaluation.png"]
    assert json.loads(paths[0].read_text())["confusion"] == report["confusion"]
    with Image.open(paths[1]) as png:
        assert png.format == "PNG" and png.size == (880, 640)
    reliability, roc, confusion, importance = build_report_figure(report).axes
    # Reliability: the diagonal, then the observed rate and the true p at each bin's prediction.
    lines = {line.get_label(): line for line in reliability.get_lines()}
    bins = report["reliability"]
    for key, label in (("observed", "observed"), ("true_p", "true p")):
        shown = [(x, y) for x, y in zip(bins["predicted"], bins[key], strict=True) if y is not None]
        assert list(zip(lines[label].get_xdata(), lines[label].get_ydata(), strict=True)) == shown
    assert list(roc.get_lines()[0].get_xdata()) == report["roc"]["fpr"]
    assert f"{report['roc']['auc']:.4f}" in roc.get_title()
    cells = report["confusion"]
    shown = confusion.get_images()[0].get_array().tolist()
    assert shown == [[cells["tn"], cells["fp"]], [cells["fn"], cells["tp"]]]
    assert {text.get_text() for text in confusion.texts} == {
        f"{k}\n{v:,}" for k, v in cells.items()
    }
    top = report["importance"][:10]
    assert [bar.get_width() for bar in importance.patches] == [r["gain"] for r in top[::-1]]


def test_the_evaluation_figure_of_a_one_class_report_has_empty_panels(tmp_path):
    empty = [None] * 10
    report = {
        "reliability": {"predicted": empty, "observed": empty, "true_p": empty, "count": [0] * 10},
        "roc": {"fpr": [], "tpr": [], "auc": None},
        "confusion": {"tn": 0, "fp": 0, "fn": 0, "tp": 0},
        "importance": [],
    }
    (_, png_path) = write_report(report, tmp_path)
    with Image.open(png_path) as png:
        assert png.size == (880, 640)
    reliability, roc, _, importance = build_report_figure(report).axes
    assert len(reliability.get_lines()) == 1  # the diagonal only
    assert list(roc.get_lines()[0].get_xdata()) == [] and "AUC —" in roc.get_title()
    assert not importance.patches


# --- fresh battles never rebuild a training dataset (trial finding 1) ----------------------


def test_fresh_battles_never_rebuild_a_training_dataset():
    from core.dataset import DatasetError
    from core.evaluate.compare import fresh_seed
    from core.train import MAX_SEED, data_hash

    # The user's case in small: the same seed and count as a training run gave its very battles.
    fresh = fresh_battles(3000, seed=42)
    assert data_hash(fresh.data) != data_hash(generate_dataset(3000, 42))
    assert fresh.seed == 42 and fresh.data.seed == fresh_seed(42)
    # Above every seed a training accepts, for every seed an evaluation accepts.
    assert fresh_seed(0) > MAX_SEED and fresh_seed(MAX_SEED) > MAX_SEED
    assert len({fresh_seed(s) for s in (0, 1, MAX_SEED)}) == 3
    for bad in (-1, MAX_SEED + 1):
        with pytest.raises(DatasetError, match="--seed"):
            fresh_seed(bad)
    assert "seed 42, simulated apart from every training dataset" in fresh.describe(3)


# --- stored reports say what they were measured on (trial finding 2) -------------------------


@pytest.mark.slow
def test_an_ad_hoc_evaluation_never_overwrites_trainings_report(settings_factory):
    """The user's case: `core.evaluate 3 --against 3 --n-battles 1000` replaced v3's held-out
    report. It is now stored beside it, and each report says what it was measured on."""
    from core.evaluate.stored import (
        EVALUATION_PATH,
        FRESH_PATH,
        evaluate_version,
        measured_on_of,
        stored_report,
    )
    from core.registry import Registry
    from core.train import TrainConfig, train_model

    settings = settings_factory()
    result = train_model(
        TrainConfig(n_battles=12_000, seed=5, oracle_sample=200, oracle_replays=40), settings
    )
    registry = Registry(settings)
    run_id = registry.list_versions(settings.model_name)[-1].run_id
    before = registry.read_run_text(run_id, f"{EVALUATION_PATH}/evaluation.json")
    trained = json.loads(before)
    test_battles = sum(trained["confusion"].values())
    assert trained["measured_on"] == {"kind": "held-out test", "battles": test_battles, "seed": 5,
                                      "heldout": True, "scenario": "all", "level": "50"}  # fmt: skip
    metrics_before = registry.run_data(run_id)[1]

    evaluate_version(1, settings=settings, n_battles=12_000, seed=8, replays=20)
    assert registry.read_run_text(run_id, f"{EVALUATION_PATH}/evaluation.json") == before
    assert registry.run_data(run_id)[1] == metrics_before  # training's metrics stay too
    fresh = json.loads(registry.read_run_text(run_id, f"{FRESH_PATH}/evaluation.json"))
    on = fresh["measured_on"]
    assert on["kind"] == "fresh" and on["seed"] == 8 and on["simulated"] == 12_000
    assert on["battles"] == sum(fresh["confusion"].values()) and on["battles"] != test_battles
    # The Models page reads training's report; the ROC's AUC is the run's test_roc_auc again.
    assert stored_report(1, settings) == trained
    assert trained["roc"]["auc"] == pytest.approx(result.metrics["test_roc_auc"])
    # A report stored before measured_on existed: its battle count from the confusion cells.
    legacy = {k: v for k, v in trained.items() if k != "measured_on"}
    assert measured_on_of(legacy) == {"kind": None, "battles": test_battles}


# --- one default for every fresh-battle measurement; the CLI's defaults and aliases -----------


def test_every_fresh_battle_measurement_shares_one_default():
    """A new user got v2 vs v1 on 20,242 battles from training and the Models page, on 40,574
    from `core.evaluate`, and seed 42 from `core.train --mode evaluate` against 2026 from
    `core.evaluate production`: one constant (battles and seed) is now every default."""
    import inspect

    from core.evaluate.cli import build_parser as evaluate_parser
    from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED
    from core.evaluate.stored import compare_versions, evaluate_version
    from core.jobs.cli import build_parser as jobs_parser
    from core.train import TrainConfig
    from core.train.cli import build_parser as train_parser
    from core.train.cli import with_mode_defaults

    one = (DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED)
    cli = evaluate_parser().parse_args(["production"])
    assert (cli.n_battles, cli.seed) == one
    evaluate_mode = with_mode_defaults(train_parser().parse_args(["--mode", "evaluate"]))
    assert (evaluate_mode.n_battles, evaluate_mode.seed) == one
    training = with_mode_defaults(train_parser().parse_args([]))
    assert (training.n_battles, training.seed) == (200_000, 42)  # training's own data
    assert train_parser().parse_args([]).promotion_battles == DEFAULT_COMPARE_BATTLES
    assert TrainConfig().promotion_battles == DEFAULT_COMPARE_BATTLES
    assert jobs_parser().parse_args(["estimate"]).promotion_battles == DEFAULT_COMPARE_BATTLES
    for function in (compare_versions, evaluate_version):
        parameters = inspect.signature(function).parameters
        assert (parameters["n_battles"].default, parameters["seed"].default) == one


@pytest.mark.parametrize("module", ["core.evaluate", "core.train"])
def test_help_prints_the_fresh_battle_defaults(module):
    from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED
    from tests.cli import run_cli

    done = run_cli(module, ["--help"])
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert f"default: {DEFAULT_COMPARE_BATTLES:,}" in text, text
    assert f"default: {DEFAULT_COMPARE_SEED}" in text, text


def test_evaluate_cli_without_a_version_is_one_line_pointing_to_help(tmp_path):
    from tests.cli import run_cli

    done = run_cli("core.evaluate", [], cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "version" in lines[0] and "(see python -m core.evaluate --help)" in lines[0]


def test_paired_accuracy_says_what_it_measured_on_how_many_battles():
    from core.evaluate.compare import paired_accuracy

    labels = np.array([1, 0] * 500)
    q_base = np.where(labels == 1, 0.8, 0.2)
    q_base[:100] = 1 - q_base[:100]  # the baseline is wrong on the first 100 battles
    q_new = q_base.copy()
    q_new[:60] = 1 - q_new[:60]  # the candidate gets 60 of them right
    paired = paired_accuracy(q_new, q_base, labels)
    counts = (paired.only_candidate_right, paired.only_baseline_right, paired.battles)
    assert counts == (60, 0, 1000)
    assert paired.difference.estimate == pytest.approx(0.06) and paired.verdict == "better"
    text = paired.as_text("test battles")
    assert text.startswith("accuracy +0.0600 [") and " on 1,000 test battles, McNemar p = " in text
    assert text.endswith(f"p = {paired.p_value:.2g}")


@pytest.mark.slow
def test_evaluate_resolves_every_alias_the_registry_has(settings_factory):
    """`core.evaluate staging` was refused as 'not a version number' though the README lists
    the staging alias: a number or any alias the registry has is accepted."""
    from core.evaluate.stored import resolve
    from core.registry import Registry, RegistryError
    from core.train import TrainConfig, train_model
    from tests.cli import run_cli
    from tests.tiny_models import TINY_TRAINING

    settings = settings_factory(with_store=True, promotion_threshold=0.0)
    for seed in (1, 2):
        train_model(TrainConfig(**TINY_TRAINING, seed=seed, promotion_policy="threshold",
                                export_local=False), settings)  # fmt: skip
    registry = Registry(settings)
    name = settings.model_name
    registry.promote(name, 1, stage="Staging", reason="test", user="test")
    registry.client.set_registered_model_alias(name, "candidate", "2")
    assert [resolve(registry, text).version for text in
            ("staging", "Staging", " production ", "candidate", "CANDIDATE", "2", 1)] == [
        1, 1, 2, 2, 2, 2, 1]  # fmt: skip
    with pytest.raises(RegistryError) as raised:
        resolve(registry, "champion")
    message = str(raised.value)
    assert "'champion' is neither a version number nor an alias" in message
    assert "candidate, production, staging" in message
    done = run_cli("core.evaluate", ["staging", "--against", "candidate", "--n-battles", "1000",
                                     "--replays", "5"], settings)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["version"], answer["against"]) == (1, 2)
    done = run_cli("core.evaluate", ["champion", "--n-battles", "1000"], settings)
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert "neither a version number nor an alias" in done.stderr


def test_readme_states_the_one_fresh_battle_default():
    """The README said `--mode evaluate` scores 'the battles core.evaluate would draw', false
    with the defaults then (seed 42 vs 2026, 200,000 vs 100,000): it now names the one default."""
    from core.config import PROJECT_ROOT
    from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED

    text = " ".join((PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split())
    sentence = text.split("`--mode evaluate` takes")[1].split("Its first line")[0]
    assert f"{DEFAULT_COMPARE_BATTLES:,} fresh battles, `--seed` {DEFAULT_COMPARE_SEED}" in sentence
    assert "the battles `core.evaluate` would draw" in sentence
