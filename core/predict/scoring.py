"""The fast path: P(A wins) for one feature row, without pandas, ~ the booster's own cost.

An XGBoost binary classifier is scored with `Booster.inplace_predict` on a float32 numpy row
(no DMatrix, no DataFrame); any other model goes through `ModelBundle.predict_proba`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from core.artifacts import ModelBundle
from core.features import FEATURE_COLUMNS


class RowScorer:
    """Scores rows laid out in FEATURE_COLUMNS order with one model.

    Built once per loaded model: it maps FEATURE_COLUMNS to the model's own column order and
    picks the booster's in-place prediction when the model allows it.
    """

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        order = [FEATURE_COLUMNS.index(name) for name in bundle.feature_columns]
        identity = order == list(range(len(FEATURE_COLUMNS)))
        self._columns: np.ndarray | None = None if identity else np.asarray(order, dtype=np.intp)
        self._booster = _binary_booster(bundle)

    @property
    def is_fast(self) -> bool:
        """True when rows are scored by the booster in place (XGBoost, binary:logistic)."""
        return self._booster is not None

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The rows as a FEATURE_COLUMNS table (what the explanations need)."""
        return pd.DataFrame(np.atleast_2d(rows), columns=FEATURE_COLUMNS)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """P(label 1 = A wins) per row, shape (n,), for rows of shape (n, len(FEATURE_COLUMNS))."""
        rows = np.atleast_2d(rows)
        if self._booster is None:
            return self.bundle.predict_proba(self.frame(rows))
        if self._columns is not None:
            rows = rows[:, self._columns]
        values = self._booster.inplace_predict(np.ascontiguousarray(rows, dtype=np.float32))
        return np.asarray(values, dtype=np.float64).reshape(len(rows))


def _binary_booster(bundle: ModelBundle):
    """The XGBoost booster when in-place prediction gives P(class 1) directly, else None."""
    if bundle.model_type != "xgboost":
        return None
    estimator = bundle.estimator
    if list(getattr(estimator, "classes_", [0, 1])) != [0, 1]:
        return None
    booster = estimator.get_booster()
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    return booster if objective == "binary:logistic" else None
