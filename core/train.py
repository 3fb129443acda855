"""Training, evaluation, grid search, MLflow logging, registration and auto-promotion.

The seed guide's workflow, for real: simulate battles, build features, fit XGBoost or a
RandomForest, evaluate on matchups never seen in training next to the oracle accuracy, log
everything to MLflow, register a new version and promote it to Production when test_accuracy
clears the threshold; the Production model is also exported as the local fallback in `models/`.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.errors import PredictionDexError
from core import artifacts
from core.battle import check_level
from core.config import ConfigError, Settings, setup_logging
from core.dataset import (
    SCENARIO_CHOICES,
    BattleDataset,
    DatasetError,
    check_battle_count,
    generate_dataset,
    oracle_probabilities,
    parse_level,
    split_by_matchup,
    write_parquet_atomically,
)
from core.features import FEATURE_COLUMNS, build_features
from core.pokedex import ROSTERS, PokedexError

logger = logging.getLogger(__name__)

ModelType = Literal["xgboost", "random_forest"]
MODEL_TYPES: tuple[str, ...] = ("xgboost", "random_forest")
STEPS: tuple[str, ...] = (
    "simulate",
    "features",
    "fit",
    "evaluate",
    "log",
    "register",
    "promote",
    "export",
)
STARTER_BATTLES = 60_000
TRAIN_METRICS_SAMPLE = 100_000  # training rows scored for train_accuracy (all when fewer)
DEFAULT_BATTLES = 200_000
Progress = Callable[[str, float, str], None]


class TrainingError(PredictionDexError, ValueError):
    """Invalid training input or a failed step; the message says what to do."""


@dataclass(frozen=True)
class Hyperparameter:
    """One tunable hyperparameter: its type, default and valid range (inclusive unless noted)."""

    name: str
    kind: type
    default: float | int
    low: float
    high: float
    low_inclusive: bool = True
    help: str = ""

    def check(self, raw: object) -> float | int:
        """The value converted and range-checked, or a TrainingError that says what to use."""
        if isinstance(raw, bool):
            raise TrainingError(f"{self.name} must be a number, not {raw!r}.")
        try:
            value = self.kind(raw)
            if self.kind is int and float(raw) != float(value):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            shown = str(raw)[:20]
            raise TrainingError(
                f"{self.name}={shown!r} is not a valid {self.kind.__name__}: {self.range_text()}."
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainingError(f"{self.name} must be finite: {self.range_text()}.")
        too_low = value < self.low or (value == self.low and not self.low_inclusive)
        if too_low or value > self.high:
            raise TrainingError(f"{self.name}={value} is out of range: {self.range_text()}.")
        return value

    def range_text(self) -> str:
        """Human-readable valid range."""
        left = "[" if self.low_inclusive else "("
        return f"use a value in {left}{self.low:g}, {self.high:g}]"


HYPERPARAMETERS: dict[str, dict[str, Hyperparameter]] = {
    "xgboost": {
        p.name: p
        for p in (
            Hyperparameter("n_estimators", int, 150, 1, 5000, help="boosting rounds"),
            Hyperparameter("max_depth", int, 6, 1, 20, help="depth of each tree"),
            Hyperparameter("learning_rate", float, 0.2, 0.0, 1.0, False, "shrinkage per round"),
            Hyperparameter("subsample", float, 1.0, 0.0, 1.0, False, "row share per tree"),
            Hyperparameter("colsample_bytree", float, 1.0, 0.0, 1.0, False, "column share"),
            Hyperparameter("min_child_weight", float, 1.0, 0.0, 1000.0, help="leaf weight"),
            Hyperparameter("reg_lambda", float, 1.0, 0.0, 1000.0, help="L2 regularisation"),
        )
    },
    "random_forest": {
        p.name: p
        for p in (
            Hyperparameter("n_estimators", int, 100, 1, 2000, help="trees"),
            Hyperparameter("max_depth", int, 16, 1, 100, help="depth of each tree"),
            Hyperparameter("min_samples_leaf", int, 5, 1, 10000, help="rows per leaf"),
            Hyperparameter("max_features", float, 0.5, 0.0, 1.0, False, "feature share per split"),
        )
    },
}
GRIDS: dict[str, dict[str, dict[str, list]]] = {
    "xgboost": {
        "fast": {"max_depth": [4, 6], "learning_rate": [0.1, 0.3]},
        "full": {
            "max_depth": [4, 6, 8],
            "learning_rate": [0.05, 0.1, 0.3],
            "n_estimators": [100, 200],
        },
    },
    "random_forest": {
        "fast": {"max_depth": [12, 20], "min_samples_leaf": [2, 10]},
        "full": {
            "max_depth": [10, 16, 24],
            "min_samples_leaf": [1, 5, 20],
            "max_features": [0.3, 0.6],
        },
    },
}


def grid_combinations(model_type: str, grid_type: str) -> list[dict]:
    """Every hyperparameter combination of a grid."""
    grid = GRIDS[model_type][grid_type]
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def validate_params(model_type: str, params: dict[str, object]) -> dict[str, float | int]:
    """Defaults overlaid with checked user values; unknown names are errors."""
    if model_type not in HYPERPARAMETERS:
        raise TrainingError(f"Unknown model {model_type!r}: use one of {', '.join(MODEL_TYPES)}.")
    specs = HYPERPARAMETERS[model_type]
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise TrainingError(
            f"Unknown hyperparameter(s) for {model_type}: {', '.join(map(repr, unknown))[:200]}."
            f" Valid: {', '.join(specs)}."
        )
    checked = {name: spec.default for name, spec in specs.items()}
    for name, raw in params.items():
        checked[name] = specs[name].check(raw)
    return checked


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run."""

    model_type: ModelType = "xgboost"
    params: dict[str, Any] = field(default_factory=dict)
    n_battles: int = DEFAULT_BATTLES
    seed: int = 42
    scenario: str = "all"
    level: int | tuple[int, int] = 50
    roster: str = "letsgo"
    use_gridsearch: bool = False
    grid_type: str = "fast"
    version_label: str = ""
    threshold: float | None = None
    use_mlflow: bool = True
    test_fraction: float = 0.2
    oracle_sample: int = 2000
    oracle_replays: int = 400
    holdout_pokemon: tuple[str, ...] = ()
    export_local: bool = True

    def checked(self) -> TrainConfig:
        """The config with validated parameters; raises TrainingError before anything runs."""
        params = validate_params(self.model_type, dict(self.params))
        check_battle_count(self.n_battles)
        seed_ok = isinstance(self.seed, int) and not isinstance(self.seed, bool)
        if not seed_ok or not 0 <= self.seed < 2**32:
            raise TrainingError(f"seed={str(self.seed)[:20]} is out of range: use 0..{2**32 - 1}.")
        for level in self.level if isinstance(self.level, tuple) else (self.level,):
            check_level(level)
        if self.roster not in ROSTERS:
            raise TrainingError(f"Unknown roster {str(self.roster)[:40]!r}: use one of {ROSTERS}.")
        if self.scenario not in SCENARIO_CHOICES:
            raise TrainingError(f"Unknown scenario {self.scenario!r}: use {SCENARIO_CHOICES}.")
        if self.grid_type not in ("fast", "full"):
            raise TrainingError("grid_type must be 'fast' or 'full'.")
        if self.threshold is not None and not 0.0 <= float(self.threshold) <= 1.0:
            raise TrainingError(f"threshold={self.threshold} is out of range: use 0..1.")
        if not 0 <= self.oracle_sample <= 100_000 or not 1 <= self.oracle_replays <= 10_000:
            raise TrainingError("oracle_sample must be 0..100000 and oracle_replays 1..10000.")
        if len(self.version_label) > 100:
            raise TrainingError("version label is too long: keep it under 100 characters.")
        fields = asdict(self)
        fields.update(params=params)
        return TrainConfig(**fields)


@dataclass
class TrainResult:
    """What a training run produced."""

    model_type: str
    params: dict
    metrics: dict[str, float]
    run_id: str | None = None
    run_url: str | None = None
    version: int | None = None
    promoted: bool = False
    promotion_message: str = ""
    exported_to: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def make_estimator(model_type: str, params: dict, seed: int) -> Any:
    """A fresh XGBClassifier or RandomForestClassifier with these hyperparameters."""
    if model_type == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(
            **params,
            tree_method="hist",
            n_jobs=2,
            random_state=seed,
            eval_metric="logloss",
        )
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**params, n_jobs=2, random_state=seed)


def evaluate(
    bundle_or_estimator: Any, features: pd.DataFrame, labels: np.ndarray
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC-AUC, log loss and Brier score."""
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    if hasattr(bundle_or_estimator, "predict_proba") and hasattr(
        bundle_or_estimator, "feature_columns"
    ):
        probability = bundle_or_estimator.predict_proba(features)
    else:
        probability = bundle_or_estimator.predict_proba(features)[:, 1]
    predicted = (probability >= 0.5).astype(np.int8)
    both_classes = len(np.unique(labels)) == 2
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probability)) if both_classes else float("nan"),
        "log_loss": float(log_loss(labels, np.clip(probability, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(brier_score_loss(labels, probability)),
    }


def data_hash(data: BattleDataset) -> str:
    """A short sha256 over the battles and labels: two runs on the same data share it."""
    digest = hashlib.sha256()
    for array in (
        data.arrays.a,
        data.arrays.b,
        data.arrays.level_a,
        data.arrays.level_b,
        data.arrays.moves_a,
        data.arrays.moves_b,
        data.arrays.random_b,
        data.winner,
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class FeatureRows:
    """A dataset's features, stored once per distinct configuration when battles share them."""

    table: pd.DataFrame
    index: np.ndarray | None = None  # battle -> row of `table` (None: one row per battle)

    def rows(self, battles: np.ndarray) -> pd.DataFrame:
        """The feature rows of these battles, in order."""
        rows = self.table.iloc[battles if self.index is None else self.index[battles]]
        # A fresh index: repeated labels (battles sharing a configuration) slow XGBoost's fit.
        return rows.reset_index(drop=True)


def dataset_features(data: BattleDataset) -> FeatureRows:
    """The features of a dataset's battles (computed once per distinct configuration)."""
    shared = data.configs is not None and data.config_index is not None
    if shared and len(data.configs) < len(data) // 2:
        return FeatureRows(build_features(data.configs, data.dex), data.config_index)
    return FeatureRows(build_features(data.arrays, data.dex))


def _grid_search(
    config: TrainConfig, features: FeatureRows, train_rows: np.ndarray, data: BattleDataset
) -> tuple[dict, list[dict]]:
    """Pick hyperparameters on a matchup-held-out validation part of the training rows."""
    inner = split_by_matchup(data.take(train_rows), test_fraction=0.25, seed=config.seed + 1)
    fit_rows, valid_rows = train_rows[inner["train"]], train_rows[inner["test"]]
    fit_x, valid_x = features.rows(fit_rows), features.rows(valid_rows)
    trials = []
    best: tuple[float, dict] | None = None
    for combination in grid_combinations(config.model_type, config.grid_type):
        params = {**config.params, **combination}
        estimator = make_estimator(config.model_type, params, config.seed)
        estimator.fit(fit_x, data.winner[fit_rows])
        accuracy = float((estimator.predict(valid_x) == data.winner[valid_rows]).mean())
        trials.append({**combination, "validation_accuracy": accuracy})
        if best is None or accuracy > best[0]:
            best = (accuracy, params)
    assert best is not None
    return best[1], trials


def _report(progress: Progress | None, step: str, message: str) -> None:
    logger.info("%s: %s", step, message)
    if progress is not None:
        progress(step, (STEPS.index(step) + 1) / len(STEPS), message)


def train_model(
    config: TrainConfig,
    settings: Settings | None = None,
    progress: Progress | None = None,
    data: BattleDataset | None = None,
) -> TrainResult:
    """Run the whole pipeline: simulate, features, fit, evaluate, log, register, promote, export."""
    config = config.checked()
    settings = settings or Settings.from_env()
    threshold = settings.promotion_threshold if config.threshold is None else config.threshold
    tracker = None
    if config.use_mlflow:
        from core.registry import MLflowTracker

        # Connect first: an unreachable store fails the training before any work is done.
        tracker = MLflowTracker(settings=settings)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    if data is None:
        _report(
            progress, "simulate", f"simulating {config.n_battles:,} battles ({config.scenario})"
        )
        data = generate_dataset(
            config.n_battles, config.seed, config.scenario, config.level, config.roster
        )
    lap("simulate")
    _report(progress, "features", f"building {len(FEATURE_COLUMNS)} features")
    features = dataset_features(data)
    split = split_by_matchup(data, config.test_fraction, config.seed, config.holdout_pokemon)
    train_rows, test_rows = split["train"], split["test"]
    if len(train_rows) < 10 or len(test_rows) < 10:
        raise TrainingError(
            f"Only {len(train_rows)} training and {len(test_rows)} test battles: use more battles."
        )
    lap("features")
    params = dict(config.params)
    trials: list[dict] = []
    if config.use_gridsearch:
        combos = len(grid_combinations(config.model_type, config.grid_type))
        _report(progress, "fit", f"grid search over {combos} combinations")
        params, trials = _grid_search(config, features, train_rows, data)
    _report(progress, "fit", f"fitting {config.model_type} on {len(train_rows):,} battles")
    estimator = make_estimator(config.model_type, params, config.seed)
    estimator.fit(features.rows(train_rows), data.winner[train_rows])
    lap("fit")
    _report(progress, "evaluate", "evaluating on held-out matchups and measuring the oracle")
    # Training accuracy on a seeded sample: scoring all rows again costs as much as a tenth of
    # the fit and moves the figure by less than its own noise.
    sample = train_rows
    if len(train_rows) > TRAIN_METRICS_SAMPLE:
        rng = np.random.default_rng([config.seed, 17])
        sample = np.sort(rng.choice(train_rows, TRAIN_METRICS_SAMPLE, replace=False))
    train_metrics = evaluate(estimator, features.rows(sample), data.winner[sample])
    test_metrics = evaluate(estimator, features.rows(test_rows), data.winner[test_rows])
    metrics = {"train_accuracy": train_metrics["accuracy"]}
    metrics.update({f"test_{k}": v for k, v in test_metrics.items()})
    metrics["overfitting"] = train_metrics["accuracy"] - test_metrics["accuracy"]
    if config.oracle_sample:
        rng = np.random.default_rng([config.seed, 31])
        sample = np.sort(rng.choice(test_rows, min(config.oracle_sample, len(test_rows)), False))
        p = oracle_probabilities(data.take(sample), config.oracle_replays, config.seed)
        metrics["oracle_accuracy"] = float(np.maximum(p, 1 - p).mean())
        metrics["oracle_gap"] = metrics["oracle_accuracy"] - metrics["test_accuracy"]
    if len(split["holdout"]):
        rows = split["holdout"]
        metrics["holdout_accuracy"] = evaluate(estimator, features.rows(rows), data.winner[rows])[
            "accuracy"
        ]
    lap("evaluate")
    result = TrainResult(config.model_type, params, metrics, seconds=seconds)
    result.messages.append(
        f"✅ Model trained: test_accuracy={metrics['test_accuracy']:.4f}"
        + (f" (oracle {metrics['oracle_accuracy']:.4f})" if "oracle_accuracy" in metrics else "")
    )
    metadata = {
        "roster": config.roster,
        "version_label": config.version_label,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": params,
        "dataset": _dataset_params(config, data),
        "metrics": metrics,
        "grid_trials": trials,
    }
    with tempfile.TemporaryDirectory(prefix="predictiondex-model-") as scratch:
        model_dir = Path(scratch) / "model"
        manifest_sha = artifacts.write_model_dir(
            estimator,
            config.model_type,
            {**metadata, "feature_columns": FEATURE_COLUMNS},
            model_dir,
        )
        if tracker is None:
            if config.export_local:
                artifacts.install_local_model(model_dir, settings.models_dir, None, None)
                result.exported_to = str(settings.models_dir)
                result.messages.append(f"✅ Model exported locally to {settings.models_dir}")
            lap("export")
            return result
        _log_and_register(tracker, config, settings, data, metadata, model_dir, manifest_sha,
                          threshold, result, progress, lap)  # fmt: skip
    return result


def _dataset_params(config: TrainConfig, data: BattleDataset) -> dict:
    low, high = config.level if isinstance(config.level, tuple) else (config.level, config.level)
    return {
        "roster": config.roster,
        "n_battles": len(data),
        "seed": config.seed,
        "scenario": config.scenario,
        "level_min": low,
        "level_max": high,
        "test_fraction": config.test_fraction,
        "split": "by_matchup",
        "data_hash": data_hash(data),
    }


def _log_and_register(
    tracker: Any,
    config: TrainConfig,
    settings: Settings,
    data: BattleDataset,
    metadata: dict,
    model_dir: Path,
    manifest_sha: str,
    threshold: float,
    result: TrainResult,
    progress: Progress | None,
    lap: Callable[[str], None],
) -> None:
    """Log the run, register a version with complete artifacts, promote and export."""
    from core.registry import RegistryError

    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    run_name = f"train_{config.model_type}_{config.version_label or 'run'}_{stamp}"
    _report(progress, "log", f"logging run {run_name} to MLflow")
    dataset = metadata["dataset"]
    run_id = tracker.start_run(
        run_name,
        tags={
            "model_type": config.model_type,
            "version_label": config.version_label,
            "data_hash": dataset["data_hash"],
            "scenario": config.scenario,
        },
    )
    result.run_id = run_id
    try:
        tracker.log_params({**result.params, **{f"data_{k}": v for k, v in dataset.items()}})
        tracker.log_params({"use_gridsearch": config.use_gridsearch, "grid_type": config.grid_type})
        tracker.log_metrics(result.metrics)
        tracker.log_model_dir(model_dir, manifest_sha)
        lap("log")
        _report(progress, "register", f"registering a new version of {settings.model_name}")
        description = f"{config.model_type} - Accuracy: {result.metrics['test_accuracy']:.4f}"
        result.version = tracker.register_model(settings.model_name, description)
        lap("register")
        tracker.end_run("FINISHED")
    except BaseException:
        tracker.end_run("FAILED")
        raise
    result.run_url = tracker.run_url(run_id)
    result.messages.append(f"✅ Logged to MLflow (run: {run_name})")
    result.messages.append(f"✅ Registered as version {result.version} in Model Registry")
    accuracy = result.metrics["test_accuracy"]
    if accuracy >= threshold:
        result.messages.append(f"🎯 Model meets quality threshold (accuracy >= {threshold:.2f})")
        _report(progress, "promote", f"promoting version {result.version} to Production")
        try:
            tracker.promote_to_production(
                settings.model_name,
                result.version,
                reason=f"auto-promotion: test_accuracy {accuracy:.4f} >= {threshold:.2f}",
                user="training",
            )
            result.promoted = True
            result.promotion_message = "Model promoted to Production"
        except RegistryError as error:
            # The version is registered and complete; a lost race or a busy lock only means
            # someone else decides Production now. Promote it by hand if it should serve.
            result.promotion_message = f"Model registered but not promoted: {error}"
    else:
        _report(progress, "promote", "below the threshold: not promoted")
        result.promotion_message = f"Model registered but not promoted (accuracy < {threshold:.2f})"
    result.messages.append(("✅ " if result.promoted else "⚠️ ") + result.promotion_message)
    lap("promote")
    if result.promoted and config.export_local:
        _report(progress, "export", f"exporting version {result.version} as the local fallback")
        artifacts.install_local_model(
            model_dir, settings.models_dir, settings.model_name, result.version
        )
        result.exported_to = str(settings.models_dir)
        result.messages.append(f"✅ Local fallback updated in {settings.models_dir}")
    lap("export")


def ensure_model(settings: Settings | None = None, echo: Callable[[str], None] = print) -> str:
    """Make sure a model can answer: train a starter when there is no Production and no fallback."""
    settings = settings or Settings.from_env()
    from core.registry import MLflowTracker, RegistryError

    has_local = (settings.models_dir / artifacts.MANIFEST_FILE).is_file()
    production = None
    try:
        tracker = MLflowTracker(settings=settings)
        production = tracker.current_version(settings.model_name, settings.model_stage)
    except RegistryError as error:
        if has_local:
            echo(f"Registry not reachable ({error}); the local fallback will serve.")
            return "local"
        raise
    if production is not None and has_local:
        echo(f"Production is version {production} and the local fallback exists: nothing to do.")
        return "ready"
    if production is not None:
        from core.predict import export_local_model

        echo(f"Exporting Production version {production} as the local fallback ...")
        export_local_model(production, settings)
        return "exported"
    if has_local:
        echo("A local fallback exists but the registry has no Production model: serving local.")
        return "local"
    echo(f"No model yet: training a starter model on {STARTER_BATTLES:,} battles (seconds) ...")
    result = train_model(
        TrainConfig(n_battles=STARTER_BATTLES, version_label="starter", oracle_sample=500),
        settings,
    )
    for line in result.messages:
        echo(line)
    if not result.promoted:
        raise TrainingError(
            "The starter model was not promoted; promote a version with"
            " `python -m core.registry promote N` or lower PROMOTION_THRESHOLD."
        )
    return "trained"


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise TrainingError(f"--param {pair[:40]!r} must look like KEY=VALUE.")
        key, value = pair.split("=", 1)
        params[key.strip()] = value.strip()
    return params


def build_parser() -> argparse.ArgumentParser:
    """The CLI of the seed guide (train_model.py and run_machine_learning.py flags)."""
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__)
    parser.add_argument("--model", choices=[*MODEL_TYPES, "compare"], default="xgboost")
    parser.add_argument("--mode", choices=["all", "dataset", "train", "evaluate"], default="all")
    parser.add_argument("--use-gridsearch", action="store_true")
    parser.add_argument("--grid-type", choices=["fast", "full"], default="fast")
    parser.add_argument("--version", default="", help="a label for this model version (v2, ...)")
    parser.add_argument("--no-mlflow", action="store_true", help="train and export locally only")
    parser.add_argument("--n-battles", type=int, default=DEFAULT_BATTLES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scenario", choices=SCENARIO_CHOICES, default="all")
    parser.add_argument("--level", default="50", help="a level (50) or a range (40-60)")
    parser.add_argument("--roster", default="letsgo")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--data", type=Path, help="parquet dataset to read (train) or write")
    parser.add_argument("--oracle-sample", type=int, default=2000)
    parser.add_argument("--oracle-replays", type=int, default=400)
    return parser


def _run_cli(args: argparse.Namespace, settings: Settings) -> int:
    level = parse_level(args.level)
    if args.mode == "dataset":
        out = args.data or Path("data/battles.parquet")
        data = generate_dataset(args.n_battles, args.seed, args.scenario, level, args.roster)
        write_parquet_atomically(data.to_frame(), out)
        print(f"✅ Dataset of {len(data):,} battles written to {out}")
        return 0
    if args.mode == "evaluate":
        return _evaluate_cli(args, settings, level)
    data = None
    if args.mode == "train" and args.data:
        if not args.data.is_file():
            raise TrainingError(f"{args.data} does not exist: run --mode dataset first.")
        data = BattleDataset.from_frame(pd.read_parquet(args.data))
    params = _parse_params(args.param)
    model_types = list(MODEL_TYPES) if args.model == "compare" else [args.model]
    base = dict(
        n_battles=args.n_battles if data is None else len(data),
        seed=args.seed,
        scenario=args.scenario,
        level=level,
        roster=args.roster,
        use_gridsearch=args.use_gridsearch,
        grid_type=args.grid_type,
        version_label=args.version,
        threshold=args.threshold,
        oracle_sample=args.oracle_sample,
        oracle_replays=args.oracle_replays,
    )
    configs = [
        TrainConfig(
            model_type=m,
            params=params if len(model_types) == 1 else {},
            use_mlflow=not args.no_mlflow,
            **base,
        ).checked()
        for m in model_types
    ]
    if len(configs) == 1:
        result = train_model(configs[0], settings, data=data)
        for line in result.messages:
            print(line)
        return 0
    return _compare_cli(configs, settings, data)


def replace_mlflow(config: TrainConfig) -> TrainConfig:
    """The same config without MLflow."""
    fields = asdict(config)
    fields.update(use_mlflow=False)
    return TrainConfig(**fields)


def _compare_cli(configs: list[TrainConfig], settings: Settings, data: Any) -> int:
    """--model compare: train both locally, then log and register only the better one."""
    if data is None:
        first = configs[0]
        data = generate_dataset(
            first.n_battles, first.seed, first.scenario, first.level, first.roster
        )
    local = [
        train_model(replace_mlflow(c), settings, data=data) for c in configs
    ]  # no export either
    for config, result in zip(configs, local, strict=True):
        print(f"{config.model_type}: test_accuracy={result.metrics['test_accuracy']:.4f}")
    best = max(range(len(configs)), key=lambda i: local[i].metrics["test_accuracy"])
    print(f"🏆 {configs[best].model_type} is better: registering it")
    result = train_model(configs[best], settings, data=data)
    for line in result.messages:
        print(line)
    return 0


def _evaluate_cli(args: argparse.Namespace, settings: Settings, level: Any) -> int:
    from core.registry import load_model_from_registry

    bundle, info = load_model_from_registry(
        settings.model_name, settings.model_stage, settings=settings
    )
    data = generate_dataset(args.n_battles, args.seed, args.scenario, level, args.roster)
    metrics = evaluate(bundle, build_features(data.arrays, data.dex), data.winner)
    print(f"{settings.model_stage} version {info.version} on {len(data):,} fresh battles:")
    for name, value in metrics.items():
        print(f"  {name}: {value:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: `python -m core.train [...]` or `python -m core.train ensure`."""
    argv = sys.argv[1:] if argv is None else argv
    setup_logging(logging.WARNING)
    from core.registry import RegistryError

    try:
        settings = Settings.from_env()
        if argv[:1] == ["ensure"]:
            ensure_model(settings)
            return 0
        args = build_parser().parse_args(argv)
        return _run_cli(args, settings)
    except (TrainingError, DatasetError, PokedexError, ConfigError, RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
