"""Evaluation: classification metrics, the oracle, and the one entry point `evaluate_model`.

The oracle is the best accuracy any model can reach on sampled labels: every configuration has a
true win probability p (estimated by re-simulating it), and the oracle accuracy is
mean(max(p, 1 - p)). It is computed here only, with one random salt, so the dataset CLI and
training agree on the same data and seed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
import pandas as pd

from core.battle import simulate_arrays
from core.dataset import BattleDataset, DatasetError
from core.features import build_features

ORACLE_SAMPLE_SALT = 15485863  # picks which configurations are replayed
ORACLE_REPLAY_SALT = 104729  # drives the replays themselves


class Scorer(Protocol):
    """Anything with predict_proba: a loaded ModelBundle (n,) or a fitted estimator (n, 2)."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class ClassificationMetrics:
    """The seed's metrics on one set of battles, each in [0, 1] (log_loss in nats, >= 0).

    Fields: accuracy, precision, recall, f1, roc_auc (NaN when only one class is present),
    log_loss, brier.
    """

    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    log_loss: float
    brier: float

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """{prefix + name: value} for every field, e.g. prefix 'test_' -> test_accuracy."""
        return {f"{prefix}{item.name}": getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class Evaluation:
    """A model measured on held-out battles.

    Fields: `test` (metrics on the test rows), `train` (on the training rows given, or None),
    `oracle_accuracy` (mean max(p, 1 - p) over a sample of the test rows, or None when not
    measured), `holdout_accuracy` (on battles of held-out Pokémon, or None), `test_rows` (count).
    """

    test: ClassificationMetrics
    train: ClassificationMetrics | None = None
    oracle_accuracy: float | None = None
    holdout_accuracy: float | None = None
    test_rows: int = 0

    def metrics(self) -> dict[str, float]:
        """The MLflow metric names of the run: train_accuracy, test_*, overfitting, oracle_*."""
        out: dict[str, float] = {}
        if self.train is not None:
            out["train_accuracy"] = self.train.accuracy
        out.update(self.test.as_dict("test_"))
        if self.train is not None:
            out["overfitting"] = self.train.accuracy - self.test.accuracy
        if self.oracle_accuracy is not None:
            out["oracle_accuracy"] = self.oracle_accuracy
            out["oracle_gap"] = self.oracle_accuracy - self.test.accuracy
        if self.holdout_accuracy is not None:
            out["holdout_accuracy"] = self.holdout_accuracy
        return out


@dataclass(frozen=True)
class FeatureRows:
    """A dataset's features, stored once per distinct configuration when battles share them."""

    table: pd.DataFrame
    index: np.ndarray | None = None  # battle -> row of `table` (None: one row per battle)

    @classmethod
    def of(cls, data: BattleDataset) -> FeatureRows:
        """The features of a dataset's battles (computed once per distinct configuration)."""
        shared = data.configs is not None and data.config_index is not None
        if shared and len(data.configs) < len(data) // 2:
            return cls(build_features(data.configs, data.dex), data.config_index)
        return cls(build_features(data.arrays, data.dex))

    def rows(self, battles: np.ndarray) -> pd.DataFrame:
        """The feature rows of these battles, in order."""
        rows = self.table.iloc[battles if self.index is None else self.index[battles]]
        # A fresh index: repeated labels (battles sharing a configuration) slow XGBoost's fit.
        return rows.reset_index(drop=True)


def predict_probability(model: Scorer, features: pd.DataFrame) -> np.ndarray:
    """P(A wins) per row, shape (n,), from a ModelBundle or a fitted scikit-learn-style model."""
    probability = np.asarray(model.predict_proba(features))
    return probability[:, 1] if probability.ndim == 2 else probability


def classification_metrics(probability: np.ndarray, labels: np.ndarray) -> ClassificationMetrics:
    """Accuracy, precision, recall, F1 at 1/2, ROC-AUC, log loss and Brier of P(A wins)."""
    from sklearn import metrics

    predicted = (probability >= 0.5).astype(np.int8)
    both_classes = len(np.unique(labels)) == 2
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    return ClassificationMetrics(
        accuracy=float(metrics.accuracy_score(labels, predicted)),
        precision=float(metrics.precision_score(labels, predicted, zero_division=0)),
        recall=float(metrics.recall_score(labels, predicted, zero_division=0)),
        f1=float(metrics.f1_score(labels, predicted, zero_division=0)),
        roc_auc=float(metrics.roc_auc_score(labels, probability)) if both_classes else np.nan,
        log_loss=float(metrics.log_loss(labels, clipped, labels=[0, 1])),
        brier=float(metrics.brier_score_loss(labels, probability)),
    )


def oracle_probabilities(
    data: BattleDataset, replays: int = 400, seed: int = 0, chunk_battles: int = 1 << 20
) -> np.ndarray:
    """P(A wins) of each battle's configuration, shape (n,), from `replays` re-simulations.

    Raises DatasetError when replays < 1.
    """
    if replays < 1:
        raise DatasetError("replays must be at least 1.")
    rng = np.random.default_rng([seed, ORACLE_REPLAY_SALT])
    per_chunk = max(1, chunk_battles // replays)
    out = np.empty(len(data), dtype=np.float64)
    for start in range(0, len(data), per_chunk):
        rows = np.arange(start, min(start + per_chunk, len(data)))
        index = np.repeat(np.arange(rows.size), replays)
        wins = simulate_arrays(data.dex, data.arrays.take(rows), rng, index=index)
        out[rows] = wins.reshape(rows.size, replays).mean(axis=1)
    return out


def oracle_accuracy(
    data: BattleDataset,
    rows: np.ndarray | None = None,
    *,
    sample: int = 2000,
    replays: int = 400,
    seed: int = 0,
) -> float:
    """mean(max(p, 1 - p)) over a seeded sample of `rows` (all battles when None), in [0.5, 1].

    Raises DatasetError when there is nothing to sample or replays < 1.
    """
    rows = np.arange(len(data)) if rows is None else np.asarray(rows)
    if sample < 1 or rows.size == 0:
        raise DatasetError("The oracle needs at least one battle: use a sample of 1 or more.")
    rng = np.random.default_rng([seed, ORACLE_SAMPLE_SALT])
    chosen = np.sort(rng.choice(rows, size=min(sample, rows.size), replace=False))
    p = oracle_probabilities(data.take(chosen), replays=replays, seed=seed)
    return float(np.maximum(p, 1.0 - p).mean())


def evaluate_model(
    model: Scorer,
    data: BattleDataset,
    test_rows: np.ndarray,
    *,
    features: FeatureRows | None = None,
    train_rows: np.ndarray | None = None,
    holdout_rows: np.ndarray | None = None,
    oracle_sample: int = 0,
    oracle_replays: int = 400,
    seed: int = 0,
) -> Evaluation:
    """Measure a model on a dataset's test rows (plus train/holdout rows and the oracle if asked).

    `features` defaults to the dataset's own; `oracle_sample=0` skips the oracle. Raises
    DatasetError for an empty test set or replays < 1.
    """
    if len(test_rows) == 0:
        raise DatasetError("No test battles to evaluate on: use more battles.")
    features = features or FeatureRows.of(data)

    def measure(rows: np.ndarray) -> ClassificationMetrics:
        return classification_metrics(
            predict_probability(model, features.rows(rows)), data.winner[rows]
        )

    oracle = None
    if oracle_sample:
        oracle = oracle_accuracy(
            data, test_rows, sample=oracle_sample, replays=oracle_replays, seed=seed
        )
    has_holdout = holdout_rows is not None and len(holdout_rows) > 0
    return Evaluation(
        test=measure(test_rows),
        train=None if train_rows is None else measure(train_rows),
        oracle_accuracy=oracle,
        holdout_accuracy=measure(holdout_rows).accuracy if has_holdout else None,
        test_rows=len(test_rows),
    )
