"""Training end to end on a real SQLite store: metrics, artifacts, registration, the gate."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core import artifacts
from core.battle import RULES_VERSION
from core.bootstrap import ensure_model
from core.config import Settings
from core.dataset import BattleDataset, LevelRange, generate_dataset, split_by_matchup
from core.evaluate import oracle_accuracy
from core.features import FEATURE_COLUMNS, build_features
from core.registry import MLflowTracker, RegistryError, load_model_from_registry
from core.train import (
    HYPERPARAMETERS,
    TrainConfig,
    TrainingError,
    field_limits,
    grid_combinations,
    hyperparameter_schema,
    train_model,
    validate_params,
)
from core.train.cli import result_lines
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
SMALL = dict(n_battles=4000, seed=3, oracle_sample=200, oracle_replays=100)
EXPECTED_METRICS = {
    "train_accuracy", "test_accuracy", "test_precision", "test_recall", "test_f1",
    "test_roc_auc", "overfitting", "oracle_accuracy", "test_log_loss", "test_brier",
}  # fmt: skip


def run_count(settings: Settings) -> int:
    client = mlflow.MlflowClient(settings.tracking_uri)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    return 0 if experiment is None else len(client.search_runs([experiment.experiment_id]))


@pytest.mark.slow
def test_train_register_promote_and_artifacts(settings_factory):
    settings = settings_factory()
    result = train_model(TrainConfig(version_label="v1", **SMALL), settings)
    assert result.version == 1 and result.promoted
    assert result.promotion_message == "Model promoted to Production"
    assert "✅ Registered as version 1 in Model Registry" in result_lines(result)
    assert EXPECTED_METRICS <= set(result.metrics)
    assert result.metrics["overfitting"] == pytest.approx(
        result.metrics["train_accuracy"] - result.metrics["test_accuracy"]
    )
    # What MLflow holds: params (hyperparameters and dataset), metrics, tags, artifacts.
    run = mlflow.MlflowClient(settings.tracking_uri).get_run(result.run_id)
    for name in ("n_estimators", "max_depth", "learning_rate", "data_n_battles", "data_seed",
                 "data_roster", "data_scenario", "data_level_min", "data_level_max",
                 "data_rules_version"):  # fmt: skip
        assert name in run.data.params, name
    assert EXPECTED_METRICS <= set(run.data.metrics)
    assert run.data.tags["model_type"] == "xgboost" and run.data.tags["version_label"] == "v1"
    assert len(run.data.tags["data_hash"]) == 16
    assert run.data.params["data_rules_version"] == RULES_VERSION  # old-rules versions stay visible
    # The registered version loads back and predicts exactly like the run's metrics say.
    bundle, info = load_model_from_registry(settings.model_name, settings=settings)
    assert info.version == 1 and bundle.feature_columns == FEATURE_COLUMNS
    data = generate_dataset(4000, seed=3)
    features = build_features(data.arrays, data.dex)
    probability = bundle.predict_proba(features)
    assert probability.shape == (4000,)
    # The local fallback is the same model: identical predictions, and no pickle anywhere.
    local = artifacts.load_model_dir(settings.models_dir)
    assert np.array_equal(local.predict_proba(features), probability)
    manifest = json.loads((settings.models_dir / "manifest.json").read_text())
    assert manifest["model_version"] == "1" and manifest["model_name"] == settings.model_name
    stored = list(Path(settings.artifacts_dir).rglob("*")) + list(settings.models_dir.rglob("*"))
    assert stored and not [p for p in stored if p.suffix in (".pkl", ".pickle", ".joblib")]
    metadata = json.loads((settings.models_dir / "metadata.json").read_text())
    assert metadata["feature_columns"] == FEATURE_COLUMNS and metadata["roster"] == "letsgo"
    assert metadata["metrics"]["test_accuracy"] == result.metrics["test_accuracy"]


@pytest.mark.slow
def test_gate_registers_without_promoting(settings_factory):
    settings = settings_factory()
    first = train_model(TrainConfig(**SMALL), settings)
    second = train_model(
        TrainConfig(
            model_type="random_forest", threshold=0.999, params={"n_estimators": 20}, **SMALL
        ),
        settings,
    )
    assert first.promoted and second.version == 2 and not second.promoted
    assert second.promotion_message == "Model registered but not promoted (accuracy < 0.999)"
    assert any(m.startswith("⚠️ Model registered but not promoted") for m in result_lines(second))
    tracker = MLflowTracker(settings=settings)
    assert tracker.current_version(settings.model_name) == 1
    table = tracker.compare_models(settings.model_name)
    assert list(table["version"]) == [2, 1]
    assert list(table["stage"]) == ["None", "Production"] or table.iloc[1]["stage"] == "Production"
    assert table.iloc[0]["model_type"] == "random_forest"
    # The fallback still holds version 1: a model that was not promoted is not exported.
    assert json.loads((settings.models_dir / "manifest.json").read_text())["model_version"] == "1"


@pytest.mark.slow
def test_random_forest_artifacts_round_trip(settings_factory):
    settings = settings_factory()
    result = train_model(
        TrainConfig(
            model_type="random_forest", params={"n_estimators": 15}, threshold=0.0, **SMALL
        ),
        settings,
    )
    bundle, _ = load_model_from_registry(settings.model_name, settings=settings)
    assert bundle.model_type == "random_forest" and result.promoted
    data = generate_dataset(500, seed=8)
    features = build_features(data.arrays, data.dex)
    local = artifacts.load_model_dir(settings.models_dir)
    assert np.allclose(local.predict_proba(features), bundle.predict_proba(features))


@pytest.mark.parametrize(
    ("model_type", "params", "message"),
    [
        ("xgboost", {"n_estimators": 0}, "out of range"),
        ("xgboost", {"n_estimators": -3}, "out of range"),
        ("xgboost", {"n_estimators": 10**7}, "out of range"),
        ("xgboost", {"max_depth": 0}, "out of range"),
        ("xgboost", {"max_depth": 10**4}, "out of range"),
        ("xgboost", {"learning_rate": 0}, "out of range"),
        ("xgboost", {"learning_rate": 1.5}, "out of range"),
        ("xgboost", {"learning_rate": "nan"}, "finite"),
        ("xgboost", {"n_estimators": "ten"}, "not a valid int"),
        ("xgboost", {"n_estimators": 2.5}, "not a valid int"),
        ("xgboost", {"colour": 3}, "Unknown hyperparameter"),
        ("random_forest", {"learning_rate": 0.1}, "Unknown hyperparameter"),
        ("random_forest", {"max_features": 0}, "out of range"),
        ("lightgbm", {}, "Unknown model"),
    ],
)
def test_invalid_hyperparameters_rejected_before_any_run(
    settings_factory, model_type, params, message
):
    settings = settings_factory()
    with pytest.raises(TrainingError, match=message):
        train_model(TrainConfig(model_type=model_type, params=params, **SMALL), settings)
    assert run_count(settings) == 0


def test_defaults_are_valid_and_grids_are_in_range():
    for model_type, specs in HYPERPARAMETERS.items():
        assert validate_params(model_type, {}) == {n: s.default for n, s in specs.items()}
        for grid_type in ("fast", "full"):
            combos = grid_combinations(model_type, grid_type)
            assert len(combos) >= 4
            for combo in combos:
                validate_params(model_type, combo)


@pytest.mark.slow
def test_grid_search_picks_from_the_grid(settings_factory):
    settings = settings_factory()
    result = train_model(
        TrainConfig(use_gridsearch=True, use_mlflow=False, params={"n_estimators": 20}, **SMALL),
        settings,
    )
    chosen = {k: result.params[k] for k in ("max_depth", "learning_rate")}
    assert chosen in grid_combinations("xgboost", "fast")
    assert result.version is None and (settings.models_dir / "model.ubj").is_file()


def test_unreachable_tracking_server_fails_clearly(settings_factory, free_port):
    settings = settings_factory(tracking_uri=f"http://127.0.0.1:{free_port}")
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "core.train", "--n-battles", "2000", "--oracle-sample", "0"],
        cwd=ROOT,
        env={
            **env,
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir),
        },  # fmt: skip
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert "127.0.0.1" in done.stderr
    assert not settings.models_dir.exists()


@pytest.mark.slow
def test_cli_seed_messages_and_no_mlflow(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))},
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PREDICTIONDEX_ARTIFACTS_DIR": str(tmp_path / "mlartifacts"),
        "PREDICTIONDEX_MODELS_DIR": str(tmp_path / "models"),
    }
    common = ["--n-battles", "3000", "--oracle-sample", "100", "--oracle-replays", "50",
              "--promotion-battles", "1000"]  # fmt: skip

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "core.train", *common, *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    done = cli("--no-mlflow", "--version", "local")
    assert done.returncode == 0, done.stderr
    assert "exported locally" in done.stdout and not (tmp_path / "mlflow.db").exists()
    done = cli("--version", "v2", "--param", "n_estimators=30")
    assert done.returncode == 0, done.stderr
    assert "✅ Registered as version 1 in Model Registry" in done.stdout
    assert "✅ Model promoted to Production" in done.stdout
    done = cli("--threshold", "0.999")
    assert "⚠️ Model registered but not promoted (accuracy < 0.999)" in done.stdout
    done = cli("--model", "compare", "--param", "n_estimators=30")
    assert done.returncode == 2 or "is better: registering it" in done.stdout
    done = cli("--param", "max_depth=0")
    assert done.returncode == 2 and "max_depth=0 is out of range" in done.stderr
    done = cli("--promotion-battles", "999")
    assert done.returncode == 2 and "promotion_battles=999 is out of range" in done.stderr


COMPARE_LINE = re.compile(
    r"🏆 (?P<model>xgboost|random_forest) is better: registering it \(accuracy "
    r"(?P<difference>[+−]\d\.\d{4}) \[(?P<low>[+−]\d\.\d{4}), (?P<high>[+−]\d\.\d{4})\] on "
    r"(?P<battles>[\d,]+) test battles, McNemar p = (?P<p>[0-9.e+-]+); "
    r"(?P<verdict>a significant difference|not a significant difference)\)"
)


@pytest.mark.slow
def test_compare_mode_registers_only_the_better_model(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))},
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PREDICTIONDEX_ARTIFACTS_DIR": str(tmp_path / "mlartifacts"),
        "PREDICTIONDEX_MODELS_DIR": str(tmp_path / "models"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "core.train", "--model", "compare", "--n-battles", "3000",
         "--oracle-sample", "100", "--oracle-replays", "50"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "is better: registering it" in done.stdout
    assert "✅ Registered as version 1 in Model Registry" in done.stdout
    settings = Settings.from_env(env)
    table = MLflowTracker(settings=settings).compare_models(settings.model_name)
    assert len(table) == 1
    # '🏆 xgboost is better' on +0.0017 said nothing of the noise: the paired comparison on the
    # same test battles (bootstrap interval, exact McNemar) says whether it is significant.
    line = next(x for x in done.stdout.splitlines() if x.startswith("🏆 "))
    found = COMPARE_LINE.fullmatch(line)
    assert found, line
    accuracy = dict(re.findall(r"^(xgboost|random_forest): test_accuracy=(0\.\d{4})$",
                               done.stdout, re.MULTILINE))  # fmt: skip
    winner, other = found["model"], ({"xgboost", "random_forest"} - {found["model"]}).pop()
    shown = float(found["difference"].replace("−", "-"))
    assert shown == pytest.approx(float(accuracy[winner]) - float(accuracy[other]), abs=2e-4)
    data = generate_dataset(3000, seed=42)
    assert int(found["battles"].replace(",", "")) == split_by_matchup(data, 0.2, 42)["test"].size
    low, high = (float(found[k].replace("−", "-")) for k in ("low", "high"))
    significant = found["verdict"] == "a significant difference"
    assert significant == (float(found["p"]) < 0.05 and (low > 0 or high < 0)), line


@pytest.mark.slow
def test_ensure_model_trains_once(settings_factory):
    settings = settings_factory()
    said: list[str] = []
    assert ensure_model(settings, said.append) == "trained"
    assert any("training a starter model" in line for line in said)
    assert MLflowTracker(settings=settings).current_version(settings.model_name) == 1
    assert ensure_model(settings, said.append) == "ready"
    # Fallback removed: exported again from the registry, not retrained.
    import shutil

    shutil.rmtree(settings.models_dir)
    assert ensure_model(settings, said.append) == "exported"
    assert (settings.models_dir / "manifest.json").is_file()
    assert len(MLflowTracker(settings=settings).compare_models(settings.model_name)) == 1


def test_ensure_model_raises_without_registry_or_fallback(settings_factory, free_port):
    settings = settings_factory(tracking_uri=f"http://127.0.0.1:{free_port}")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        with pytest.raises(RegistryError):
            ensure_model(settings, lambda line: None)
    finally:
        del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]


@pytest.mark.slow
def test_busy_promotion_lock_leaves_a_registered_version_not_promoted(settings_factory):
    settings = settings_factory()
    first = train_model(TrainConfig(**SMALL), settings)
    # Someone holds the promotion lock (kept in the store) for longer than a promoter waits.
    mlflow.MlflowClient(settings.tracking_uri).create_registered_model(
        f"{settings.model_name}.lock"
    )
    second = train_model(
        TrainConfig(seed=4, **{k: v for k, v in SMALL.items() if k != "seed"}), settings
    )
    assert second.version == 2 and not second.promoted
    assert second.promotion_message.startswith("Model registered but not promoted")
    tracker = MLflowTracker(settings=settings)
    assert tracker.current_version(settings.model_name) == first.version == 1
    bundle, info = load_model_from_registry(settings.model_name, version=2, settings=settings)
    assert info.version == 2 and bundle.feature_columns == FEATURE_COLUMNS


# --- TrainConfig: checked once, at construction, with the field's label and range ---------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"params": {"n_estimators": 0}}, r"Trees: n_estimators=0 is out of range: .*\[1, 5,000\]"),
        ({"params": {"n_estimators": 2.7}}, r"Trees: n_estimators='2.7' is not a valid int"),
        ({"params": {"n_estimators": True}}, r"n_estimators='True' must be a number"),
        ({"params": {"learning_rate": 0}}, r"Learning rate: learning_rate=0 .*\(0, 1\]"),
        ({"n_battles": 0}, r"Battles to simulate: n_battles=0 is out of range: .*10,000,000\]"),
        ({"n_battles": 1.5}, r"n_battles='1.5' is not a valid int"),
        ({"seed": -1}, r"Seed: seed=-1 is out of range"),
        ({"seed": 2**32}, r"seed=4294967296 is out of range"),
        ({"level": (60, 40)}, r"Level range 60-40 is empty"),
        ({"level": 101}, r"level=101 is out of range: use 1..100"),
        ({"roster": "johto"}, r"Unknown roster 'johto'"),
        ({"scenario": "best"}, r"Unknown scenario 'best'"),
        ({"grid_type": "huge"}, r"Grid: grid_type='huge' is not valid"),
        ({"threshold": 1.5}, r"Promotion threshold: threshold=1.5 is out of range"),
        ({"oracle_replays": 0}, r"Replays per battle: oracle_replays=0 is out of range"),
        ({"version_label": "x" * 101}, r"Version label: 101 characters long: keep it to 100"),
        ({"version_label": "../x"}, r"Version label '\.\./x' has '/' in it: a label is letters"),
        ({"colour": "red"}, r"Unknown setting 'colour'"),
    ],
)
def test_train_config_refuses_bad_values_at_construction(fields, message):
    with pytest.raises(TrainingError, match=message):
        TrainConfig(**fields)


def test_train_config_is_frozen_and_fills_defaults():
    assert TrainConfig().params == validate_params("xgboost", {})  # defaults validated too
    config = TrainConfig(model_type="random_forest", params={"n_estimators": "30"}, level="40-60")
    assert config.params == {**validate_params("random_forest", {}), "n_estimators": 30}
    assert config.level == LevelRange(40, 60) and not config.level.single
    with pytest.raises(Exception, match="frozen"):
        config.seed = 1  # type: ignore[misc]
    assert config.replace(seed=5).seed == 5 and config.replace(seed=5).params == config.params
    with pytest.raises(TrainingError, match="seed"):
        config.replace(seed=-5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(50, (50, 50)), ("50", (50, 50)), ("40-60", (40, 60)), ((1, 100), (1, 100)),
     (LevelRange(7, 9), (7, 9))],
)  # fmt: skip
def test_level_range_is_one_type(raw, expected):
    levels = LevelRange.of(raw)
    assert (levels.low, levels.high) == expected
    assert str(LevelRange.of(str(levels))) == str(levels)


def test_hyperparameter_schema_is_the_one_source():
    """Defaults, bounds and search ranges come from the pydantic fields, and agree."""
    for model_type in ("xgboost", "random_forest"):
        schema = hyperparameter_schema(model_type)
        assert schema == HYPERPARAMETERS[model_type]
        for spec in schema.values():
            assert spec.label and spec.help and spec.kind in (int, float)
            assert spec.check(spec.default) == spec.default
            assert spec.low <= spec.search_low < spec.search_high <= spec.high, spec.name
            assert spec.search_low > 0 or not spec.log, f"{spec.name}: a log scale needs low > 0"
            for value in (spec.search_low, spec.search_high):
                validate_params(model_type, {spec.name: value})
    with pytest.raises(TrainingError, match="Unknown model"):
        hyperparameter_schema("lightgbm")


def test_field_limits_read_the_model():
    limits = field_limits("n_battles")
    assert (limits.low, limits.high, limits.label) == (1, 10_000_000, "Battles to simulate")
    assert limits.step == 10_000 and limits.default == 60_000
    TrainConfig(n_battles=int(limits.high))  # the bound itself is valid
    with pytest.raises(TrainingError):
        TrainConfig(n_battles=int(limits.high) + 1)


@pytest.mark.slow
def test_training_oracle_is_the_evaluate_oracle(settings_factory):
    """Training reports the one oracle: evaluate.oracle_accuracy over its test rows, same seed."""
    settings = settings_factory()
    data = generate_dataset(3000, seed=5)
    config = TrainConfig(n_battles=3000, seed=5, oracle_sample=150, oracle_replays=60,
                         use_mlflow=False, export_local=False, params={"n_estimators": 10})  # fmt: skip
    result = train_model(config, settings, data=data)
    test_rows = split_by_matchup(data, config.test_fraction, config.seed)["test"]
    expected = oracle_accuracy(data, test_rows, sample=150, replays=60, seed=5)
    assert result.metrics["oracle_accuracy"] == expected
    assert result.evaluation.oracle_accuracy == expected and result.version is None
    assert not settings.models_dir.exists()


def test_training_does_not_import_serving():
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, core.train, core.evaluate; print(sorted(m for m in sys.modules"
         " if m.startswith(('core.predict', 'core.bootstrap', 'streamlit'))))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_ensure_cli_still_answers_through_core_train(settings_factory, free_port):
    """`python -m core.train ensure` reaches core.bootstrap: no store, no fallback -> error, 2."""
    settings = settings_factory(tracking_uri=f"http://127.0.0.1:{free_port}")
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
           "MLFLOW_TRACKING_URI": settings.tracking_uri,
           "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir)}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "core.train", "ensure"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and "127.0.0.1" in done.stderr


# --- what a new user tried (brief F2): limits, flags and files say what they do --------------


@pytest.mark.parametrize("battles", ["1", "5", "999", "2000001"])
def test_train_evaluate_mode_and_core_evaluate_refuse_the_same_battle_counts(
    settings_factory, battles
):
    settings = settings_factory()
    for module, argv in (
        ("core.train", ["--mode", "evaluate", "--n-battles", battles]),
        ("core.evaluate", ["production", "--n-battles", battles]),
    ):
        done = run_cli(module, argv, settings)
        assert done.returncode == 2 and done.stdout == "", (module, done.stdout)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
        assert "1,000..2,000,000" in done.stderr, (module, done.stderr)
    assert not (settings.artifacts_dir.exists() or settings.models_dir.exists())


@pytest.mark.parametrize(
    ("module", "argv"),
    [("core.train", ["--grid-type", "fast", "--no-mlflow"]),
     ("core.train", ["--grid-type=full", "--no-mlflow"]),
     ("core.jobs", ["estimate", "--grid-type", "full"]),
     ("core.jobs", ["train", "--grid-type", "fast"])],
)  # fmt: skip
def test_grid_type_without_gridsearch_is_refused_not_ignored(settings_factory, module, argv):
    done = run_cli(module, argv, settings_factory())
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--grid-type only applies to a grid search: add --use-gridsearch." in done.stderr


def test_dataset_mode_makes_the_folder_and_writes_a_readable_file(tmp_path, settings_factory):
    current = os.umask(0o022)
    os.umask(current)
    done = run_cli("core.train", ["--mode", "dataset", "--data", "data/new/b.parquet",
                                  "--n-battles", "1000", "--seed", "4"],
                   settings_factory(), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = tmp_path / "data" / "new" / "b.parquet"
    assert "written to data/new/b.parquet" in done.stdout
    assert written.stat().st_mode & 0o777 == 0o644 & ~current
    assert len(BattleDataset.from_frame(pd.read_parquet(written))) == 1000
    assert [p.name for p in written.parent.iterdir()] == ["b.parquet"]  # no temp file left
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    done = run_cli("core.train", ["--mode", "dataset", "--data", str(blocked / "b.parquet"),
                                  "--n-battles", "1000"], settings_factory())  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--data" in done.stderr and "--out" not in done.stderr


# --- trial finding 1: --mode evaluate draws battles that are really fresh ----------------------


def test_evaluate_mode_scores_fresh_battles_held_out_from_the_production_training(
    settings_factory,
):
    """The user's case in small: --mode evaluate with training's own seed and battle count
    rebuilt the training dataset and called it fresh. It now draws core.evaluate's battles."""
    from core.evaluate import evaluate_model
    from core.evaluate.compare import fresh_battles, fresh_seed
    from core.train import data_hash

    settings = settings_factory()
    result = train_model(TrainConfig(**{**SMALL, "n_battles": 12_000}), settings)
    run = mlflow.MlflowClient(settings.tracking_uri).get_run(result.run_id)
    done = run_cli("core.train", ["--mode", "evaluate", "--n-battles", "12000", "--seed", "3"],
                   settings)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The same battles core.evaluate scores: a seed no training uses, v1's held-out matchups.
    split = ((3, float(run.data.params["data_test_fraction"])),)
    fresh = fresh_battles(12_000, 3, splits=split)
    assert fresh.data.seed == fresh_seed(3) and fresh.heldout and fresh.rows.size < 12_000
    assert data_hash(fresh.data) != run.data.tags["data_hash"]
    head, *lines = done.stdout.strip().splitlines()
    assert head == (f"Production version 1 on {fresh.rows.size:,} fresh battles (seed 3, simulated "
                    "apart from every training dataset; matchups held out from v1's training), "
                    "scenario all, level 50:")  # fmt: skip
    bundle, _ = load_model_from_registry(settings.model_name, settings=settings)
    accuracy = evaluate_model(bundle, fresh.data, fresh.rows, matchup_pairs=0,
                              with_report=False).test.accuracy  # fmt: skip
    assert f"  accuracy: {accuracy:.4f}" in lines


# --- held-out Pokémon (DESIGN §4) from the CLI ---------------------------------------------------


def test_holdout_pokemon_names_are_checked_by_train_config():
    config = TrainConfig(holdout_pokemon=" pikachu , MEWTWO,Pikachu")
    assert config.holdout_pokemon == ("Pikachu", "Mewtwo")  # the roster's names, once each
    assert TrainConfig(holdout_pokemon=("Onix",)).holdout_pokemon == ("Onix",)
    with pytest.raises(TrainingError, match="Unknown Pokémon 'Pikachoo'.*Pikachu"):
        TrainConfig(holdout_pokemon="Pikachoo")
    with pytest.raises(TrainingError, match="Meltan"):
        TrainConfig(holdout_pokemon="Meltan", roster="kanto")  # not one of the 151


def test_cli_refuses_an_unknown_holdout_pokemon_before_any_work(tmp_path, settings_factory):
    done = run_cli("core.train", ["--no-mlflow", "--holdout-pokemon", "Pikachu,Mewtoo"],
                   settings_factory(), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Mewtoo" in lines[0] and "Mewtwo" in lines[0]  # the suggestion
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_trains_without_the_holdout_pokemon_and_shows_their_metrics(settings_factory):
    """DESIGN §4's held-out-Pokémon evaluation existed only as TrainConfig.holdout_pokemon."""
    settings = settings_factory()
    argv = ["--no-mlflow", "--n-battles", "6000", "--seed", "4", "--oracle-sample", "0",
            "--param", "n_estimators=30", "--holdout-pokemon", "pikachu, Charizard"]  # fmt: skip
    done = run_cli("core.train", argv, settings)
    assert done.returncode == 0, done.stderr
    data = generate_dataset(6000, seed=4)
    held = split_by_matchup(data, 0.2, 4, ("Pikachu", "Charizard"))["holdout"]
    assert held.size > 50
    found = re.search(r"^🧪 Held-out Pokémon \(Pikachu, Charizard\): holdout_accuracy=(0\.\d{4}) "
                      r"on ([\d,]+) battles with a Pokémon never seen in training$",
                      done.stdout, re.MULTILINE)  # fmt: skip
    assert found, done.stdout
    assert int(found[2].replace(",", "")) == held.size
    assert 0.5 < float(found[1]) <= 1.0
    metadata = json.loads((settings.models_dir / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["metrics"]["holdout_accuracy"] == pytest.approx(float(found[1]), abs=5e-5)
