"""The served probability: antisymmetric by construction, and fast (no pandas for XGBoost).

`antisymmetric_probability` is the one function every answer goes through (predict_winner,
predict_matrix, the batch, the API, the evaluation): with f the model's P(A wins) on a feature row
x of (A, B) and x' = `core.features.mirror_rows(x)` the row of (B, A), both scored in one call,

    q(A, B) = ½ + (f(x) − f(x')) / 2,

so q(A, B) + q(B, A) = 1 exactly (to float rounding, < 1e-15) and a mirror match is exactly ½.
An XGBoost binary classifier is scored with `Booster.inplace_predict` on float32 numpy rows
(no DMatrix, no DataFrame); any other model goes through `ModelBundle.predict_proba`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from core.artifacts import ModelBundle
from core.features import FEATURE_COLUMNS, mirror_rows

if TYPE_CHECKING:
    import pandas as pd


def antisymmetric_probability(
    predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray
) -> np.ndarray:
    """P(A wins) per row, shape (n,), antisymmetric: ½ + (f(x) − f(mirror(x))) / 2.

    `predict` maps float32 rows (m, len(FEATURE_COLUMNS)) in FEATURE_COLUMNS order to the
    model's P(A wins), shape (m,); it is called once, on the rows and their mirrors together.
    Raises core.features.FeatureError when rows do not have len(FEATURE_COLUMNS) columns.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    both = np.asarray(predict(np.concatenate([rows, mirror_rows(rows)])), dtype=np.float64)
    n = len(rows)
    return 0.5 + (both[:n] - both[n:]) / 2


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
        import pandas as pd

        return pd.DataFrame(np.atleast_2d(rows), columns=FEATURE_COLUMNS)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """P(A wins) per row, shape (n,), for rows of shape (n, len(FEATURE_COLUMNS)):
        antisymmetric (`antisymmetric_probability`)."""
        return antisymmetric_probability(self.model_probability, rows)

    def model_probability(self, rows: np.ndarray) -> np.ndarray:
        """The model's own P(label 1) per row, shape (n,), NOT antisymmetric (explanations)."""
        rows = np.atleast_2d(rows)
        if self._booster is None:
            return self.bundle.predict_proba(self.frame(rows))
        if self._columns is not None:
            rows = rows[:, self._columns]
        values = self._booster.inplace_predict(np.ascontiguousarray(rows, dtype=np.float32))
        return np.asarray(values, dtype=np.float64).reshape(len(rows))


def served_probability(model: Any, features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """P(A wins) per row, shape (n,), as serving answers it, for a ModelBundle or a fitted
    XGBClassifier / RandomForestClassifier and FEATURE_COLUMNS rows (table or array)."""
    import pandas as pd

    if not isinstance(model, ModelBundle):
        kind = "xgboost" if type(model).__name__.startswith("XGB") else "random_forest"
        model = ModelBundle(estimator=model, model_type=kind, feature_columns=list(FEATURE_COLUMNS))
    if isinstance(features, pd.DataFrame):
        features = features[FEATURE_COLUMNS].to_numpy(np.float32)
    return RowScorer(model).predict_proba(features)


def _binary_booster(bundle: ModelBundle):
    """The XGBoost booster when in-place prediction gives P(class 1) directly, else None."""
    return bundle.booster if bundle.scores_with_booster else None
