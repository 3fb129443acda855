"""Classification metrics of P(A wins) against sampled labels, and feature rows shared by steps."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
import pandas as pd

from core.dataset import BattleDataset
from core.features import FEATURE_COLUMNS, build_features

SCORE_CHUNK = 1 << 14  # feature rows scored together by FeatureRows.probability


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
class FeatureRows:
    """A dataset's features, stored once per distinct configuration when battles share them."""

    table: pd.DataFrame
    index: np.ndarray | None = None  # battle -> row of `table` (None: one row per battle)

    @classmethod
    def of(cls, data: BattleDataset) -> FeatureRows:
        """The features of a dataset's battles (computed once per distinct configuration)."""
        shared = data.configs is not None and data.config_index is not None
        if shared and len(data.configs) < len(data):
            return cls(build_features(data.configs, data.dex), data.config_index)
        return cls(build_features(data.arrays, data.dex))

    def rows(self, battles: np.ndarray) -> pd.DataFrame:
        """The feature rows of these battles, in order."""
        rows = self.table.iloc[battles if self.index is None else self.index[battles]]
        # A fresh index: repeated labels (battles sharing a configuration) slow XGBoost's fit.
        return rows.reset_index(drop=True)

    def probability(self, model: Scorer, battles: np.ndarray) -> np.ndarray:
        """P(A wins) of these battles as `predict_probability` answers it, shape (n,).

        Each distinct configuration is scored once, SCORE_CHUNK rows at a time: the rows, their
        mirrors and the model's own copies stay a few MB instead of scaling with the battles.
        """
        battles = np.asarray(battles)
        if self.index is None:
            configs, inverse = battles, None
        else:
            configs, inverse = np.unique(self.index[battles], return_inverse=True)
        out = np.empty(len(configs))
        for start in range(0, len(configs), SCORE_CHUNK):
            part = self.table.iloc[configs[start : start + SCORE_CHUNK]].reset_index(drop=True)
            out[start : start + len(part)] = predict_probability(model, part)
        return out if inverse is None else out[inverse]


def predict_probability(model: Scorer, features: pd.DataFrame) -> np.ndarray:
    """P(A wins) per row, shape (n,), from a ModelBundle or a fitted scikit-learn-style model.

    A model with FEATURE_COLUMNS rows is scored as serving scores it (antisymmetric,
    `core.predict.scoring.served_probability`); anything else by its own predict_proba.
    """
    from core.artifacts import ModelBundle
    from core.predict.scoring import served_probability

    servable = isinstance(model, ModelBundle) or hasattr(model, "classes_")
    if servable and set(FEATURE_COLUMNS) <= set(features.columns):
        return served_probability(model, features)
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
