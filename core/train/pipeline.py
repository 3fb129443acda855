"""The training pipeline: simulate, features, fit, evaluate, then hand the model to publish.

`train_model(config)` returns a frozen `TrainResult` (data only: the CLI prints the seed's
messages, the Train page formats its own).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core import artifacts
from core.config import Settings
from core.dataset import BattleDataset, generate_dataset, split_by_matchup
from core.evaluate import Evaluation, FeatureRows, evaluate_model
from core.features import FEATURE_COLUMNS
from core.train.config import TrainConfig
from core.train.hyperparameters import TrainingError, grid_combinations
from core.train.publish import Publication, log_and_register, open_run, promote_and_export
from core.train.rows import weighted_rows

logger = logging.getLogger(__name__)

STEPS: tuple[str, ...] = (
    "simulate", "features", "fit", "evaluate", "log", "register", "promote", "export",
)  # fmt: skip
TRAIN_METRICS_SAMPLE = 100_000  # training rows scored for train_accuracy (all when fewer)
Progress = Callable[[str, float, str], None]


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Fields: model_type, params (the hyperparameters fitted), metrics (MLflow metric name ->
    value: train_accuracy, test_*, overfitting, oracle_accuracy, ...), evaluation (the same,
    typed), publication (run, version, promotion and export; None when MLflow was not used),
    exported_to (models/ folder written, or None), seconds (step -> wall seconds).
    """

    model_type: str
    params: dict[str, Any]
    metrics: dict[str, float]
    evaluation: Evaluation | None = None
    publication: Publication | None = None
    exported_to: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        """The MLflow run id, or None without MLflow."""
        return self.publication.run_id if self.publication else None

    @property
    def run_url(self) -> str | None:
        """A link to the run in the MLflow UI, or None without MLflow."""
        return self.publication.run_url if self.publication else None

    @property
    def version(self) -> int | None:
        """The registered version, or None without MLflow."""
        return self.publication.version if self.publication else None

    @property
    def promoted(self) -> bool:
        """True when this version now holds Production."""
        return self.publication is not None and self.publication.promotion.promoted

    @property
    def promotion_message(self) -> str:
        """One sentence on the promotion decision ('' without MLflow)."""
        return self.publication.promotion.message if self.publication else ""


class _Stopwatch:
    """Wall seconds per step, and the progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.seconds: dict[str, float] = {}
        self._progress = progress
        self._clock = time.perf_counter()

    def report(self, step: str, message: str) -> None:
        logger.info("%s: %s", step, message)
        if self._progress is not None:
            self._progress(step, (STEPS.index(step) + 1) / len(STEPS), message)

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self._clock, 3)
        self._clock = now


def make_estimator(model_type: str, params: dict, seed: int) -> Any:
    """A fresh XGBClassifier or RandomForestClassifier with these hyperparameters."""
    if model_type == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(
            **params, tree_method="hist", n_jobs=2, random_state=seed, eval_metric="logloss"
        )
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**params, n_jobs=2, random_state=seed)


def data_hash(data: BattleDataset) -> str:
    """A short sha256 over the battles and labels: two runs on the same data share it."""
    digest = hashlib.sha256()
    arrays = data.arrays
    for array in (arrays.a, arrays.b, arrays.level_a, arrays.level_b, arrays.moves_a,
                  arrays.moves_b, arrays.random_b, data.winner):  # fmt: skip
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _grid_search(
    config: TrainConfig, features: FeatureRows, train_rows: np.ndarray, data: BattleDataset
) -> tuple[dict, list[dict]]:
    """Pick hyperparameters on a matchup-held-out validation part of the training rows."""
    inner = split_by_matchup(data.take(train_rows), test_fraction=0.25, seed=config.seed + 1)
    fit_rows, valid_rows = train_rows[inner["train"]], train_rows[inner["test"]]
    fit_x, valid_x = features.rows(fit_rows), features.rows(valid_rows)
    trials = []
    best: tuple[float, dict] = (-1.0, dict(config.params))
    for combination in grid_combinations(config.model_type, config.grid_type):
        params = {**config.params, **combination}
        estimator = make_estimator(config.model_type, params, config.seed)
        estimator.fit(fit_x, data.winner[fit_rows])
        accuracy = float((estimator.predict(valid_x) == data.winner[valid_rows]).mean())
        trials.append({**combination, "validation_accuracy": accuracy})
        if accuracy > best[0]:
            best = (accuracy, params)
    return best[1], trials


def _dataset_params(config: TrainConfig, data: BattleDataset) -> dict:
    return {
        "roster": config.roster,
        "n_battles": len(data),
        "seed": config.seed,
        "scenario": config.scenario,
        "level_min": config.level.low,
        "level_max": config.level.high,
        "test_fraction": config.test_fraction,
        "split": "by_matchup",
        "data_hash": data_hash(data),
        # The simulator's rules version: versions trained on older rules stay distinguishable.
        "rules_version": data.rules_version,
    }


def _fit(config: TrainConfig, data: BattleDataset, watch: _Stopwatch) -> tuple:
    """Features, split, (grid search), fit: (estimator, params, trials, features, split)."""
    watch.report("features", f"building {len(FEATURE_COLUMNS)} features")
    features = FeatureRows.of(data)
    split = split_by_matchup(data, config.test_fraction, config.seed, config.holdout_pokemon)
    train_rows, test_rows = split["train"], split["test"]
    if len(train_rows) < 10 or len(test_rows) < 10:
        raise TrainingError(
            f"Only {len(train_rows)} training and {len(test_rows)} test battles: use more battles."
        )
    watch.lap("features")
    params, trials = dict(config.params), []
    if config.use_gridsearch:
        combos = len(grid_combinations(config.model_type, config.grid_type))
        watch.report("fit", f"grid search over {combos} combinations")
        params, trials = _grid_search(config, features, train_rows, data)
    watch.report("fit", f"fitting {config.model_type} on {len(train_rows):,} battles")
    estimator = make_estimator(config.model_type, params, config.seed)
    # One weighted row per (configuration, outcome), plus the mirrors serving asks about.
    train_x, train_y, weight = weighted_rows(features, data.winner, train_rows)
    estimator.fit(train_x, train_y, sample_weight=weight)
    watch.lap("fit")
    return estimator, params, trials, features, split


def _evaluate(
    config: TrainConfig, estimator: Any, data: BattleDataset, features: FeatureRows, split: dict
) -> Evaluation:
    # Training accuracy on a seeded sample: scoring all rows again costs as much as a tenth of
    # the fit and moves the figure by less than its own noise.
    train_rows = split["train"]
    if len(train_rows) > TRAIN_METRICS_SAMPLE:
        rng = np.random.default_rng([config.seed, 17])
        train_rows = np.sort(rng.choice(train_rows, TRAIN_METRICS_SAMPLE, replace=False))
    evaluation = evaluate_model(
        estimator, data, split["test"], features=features, train_rows=train_rows,
        holdout_rows=split["holdout"], oracle_sample=config.oracle_sample,
        oracle_replays=config.oracle_replays, seed=config.seed,
    )  # fmt: skip
    if evaluation.report:
        from core.evaluate.stored import HELD_OUT_TEST, measured_on

        evaluation.report["measured_on"] = measured_on(
            HELD_OUT_TEST, len(split["test"]), config.seed, scenario=config.scenario,
            levels=(config.level.low, config.level.high),
        )  # fmt: skip
    return evaluation


def _write_model(config: TrainConfig, estimator: Any, metadata: dict, folder: Path) -> str:
    """The model folder (safe formats, manifest last); its manifest sha256."""
    return artifacts.write_model_dir(
        estimator, config.model_type, {**metadata, "feature_columns": FEATURE_COLUMNS}, folder
    )


def _train(
    config: TrainConfig, data: BattleDataset | None, watch: _Stopwatch
) -> tuple[Any, dict, Evaluation, dict]:
    """Simulate (unless `data` is given), fit and evaluate: (estimator, params, evaluation,
    metadata)."""
    if data is None:
        watch.report("simulate", f"simulating {config.n_battles:,} battles ({config.scenario})")
        data = generate_dataset(
            config.n_battles, config.seed, config.scenario, config.level, config.roster
        )
    watch.lap("simulate")
    estimator, params, trials, features, split = _fit(config, data, watch)
    watch.report("evaluate", "evaluating on held-out matchups and measuring the oracle")
    evaluation = _evaluate(config, estimator, data, features, split)
    watch.lap("evaluate")
    metadata = {
        "roster": config.roster,
        "version_label": config.version_label,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": params,
        "dataset": _dataset_params(config, data),
        "metrics": evaluation.metrics(),
        "grid_trials": trials,
    }
    return estimator, params, evaluation, metadata


def train_model(
    config: TrainConfig,
    settings: Settings | None = None,
    progress: Progress | None = None,
    data: BattleDataset | None = None,
) -> TrainResult:
    """Simulate, build features, fit, evaluate, then log, register, promote and export.

    With MLflow, the run is opened before any work and holds everything up to the registration:
    a Cancel (KeyboardInterrupt) ends it KILLED, an error FAILED. `data` replaces the simulation
    (e.g. a parquet dataset). Raises TrainingError (too few battles), DatasetError, and
    RegistryError when the tracking store fails (before any work when it is unreachable: the
    store is connected first).
    """
    settings = settings or Settings.from_env()
    tracker = None
    if config.use_mlflow:
        from core.registry import MLflowTracker

        tracker = MLflowTracker(settings=settings)
    watch = _Stopwatch(progress)
    run = open_run(tracker, config) if tracker is not None else contextlib.nullcontext()
    publication, exported = None, None
    with tempfile.TemporaryDirectory(prefix="predictiondex-model-") as scratch:
        model_dir = Path(scratch) / "model"
        with run:
            estimator, params, evaluation, metadata = _train(config, data, watch)
            manifest_sha = _write_model(config, estimator, metadata, model_dir)
            if tracker is not None:
                version = log_and_register(
                    run, config, settings, metadata, model_dir, manifest_sha, watch,
                    evaluation.report,
                )  # fmt: skip
                logged = (run.run_id, run.run_name)  # the run forgets its id once ended
        if tracker is not None:
            publication = promote_and_export(
                tracker, logged, version, config, settings, metadata, model_dir, manifest_sha, watch
            )
            exported = publication.exported_to
        else:
            if config.export_local:
                artifacts.install_local_model(model_dir, settings.models_dir, None, None)
                exported = str(settings.models_dir)
            watch.lap("export")
    metrics = metadata["metrics"]
    return TrainResult(
        config.model_type, params, metrics, evaluation, publication, exported, watch.seconds
    )
