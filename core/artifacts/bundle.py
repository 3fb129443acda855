"""A verified model directory loaded for predictions (XGBoost UBJ or skops), never through pickle."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.artifacts.files import (
    MANIFEST_FILE,
    MODEL_FILES,
    SKOPS_TRUSTED_TYPES,
    ModelType,
    UntrustedModelError,
    _xgb_module,
    sha256_file,
    verify_model_dir,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Loading


class ModelBundle:
    """A loaded, verified model with the feature columns it was trained on.

    Attributes: `model_type` ("xgboost" or "random_forest"), `feature_columns` (the training
    order), `metadata` (metadata.json), `manifest_sha256`, `booster` (XGBoost: the
    `xgboost.Booster` that scores; None for a forest) and `estimator` (the scikit-learn-style
    model: the forest, or the XGBClassifier given at construction).

    An XGBoost model loaded from a folder is its Booster only (the file's own format, no
    scikit-learn needed, see load_model_dir); its `estimator` is an XGBClassifier made from that
    booster the first time someone asks for it (training-side tools; serving never does).
    """

    def __init__(
        self,
        estimator: Any,
        model_type: ModelType,
        feature_columns: list[str],
        metadata: dict | None = None,
        manifest_sha256: str = "",
        *,
        booster: Any = None,
    ) -> None:
        if estimator is None and (model_type != "xgboost" or booster is None):
            raise ValueError("a ModelBundle needs an estimator (or an XGBoost booster)")
        if booster is None and model_type == "xgboost":
            booster = estimator.get_booster()
        self._estimator = estimator
        self.booster = booster
        self.model_type: ModelType = model_type
        self.feature_columns = list(feature_columns)
        self.metadata = {} if metadata is None else metadata
        self.manifest_sha256 = manifest_sha256
        self._binary: bool | None = None

    def __repr__(self) -> str:
        return f"ModelBundle({self.model_type}, {len(self.feature_columns)} features)"

    @property
    def estimator(self) -> Any:
        """The scikit-learn-style model (an XGBClassifier is built from the booster once)."""
        if self._estimator is None:
            classifier = _xgb_module().XGBClassifier()
            classifier.load_model(bytearray(self.booster.save_raw("ubj")))
            self._estimator = classifier
        return self._estimator

    @property
    def scores_with_booster(self) -> bool:
        """True for an XGBoost binary:logistic model: its booster's prediction is P(class 1)."""
        if self._binary is None:
            self._binary = self.booster is not None and _is_binary_logistic(self.booster)
        return self._binary

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_columns if c not in X.columns]
        if missing:
            raise ValueError(
                f"missing feature columns {missing[:5]}{'…' if len(missing) > 5 else ''}: "
                "build the features with core.features.build_features()."
            )
        return X[self.feature_columns].astype(np.float32)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(label 1 = A wins) per row, shape (n,)."""
        matrix = self._matrix(X)
        if self.model_type == "xgboost":
            # A plain array: XGBoost's pandas path costs ~3 ms a call (the 5 ms serving budget).
            if self.scores_with_booster:
                values = self.booster.inplace_predict(np.ascontiguousarray(matrix.to_numpy()))
                return np.asarray(values, dtype=np.float64).reshape(len(matrix))
            matrix = matrix.to_numpy()
        proba = self.estimator.predict_proba(matrix)
        classes = list(getattr(self.estimator, "classes_", [0, 1]))
        return np.asarray(proba[:, classes.index(1)], dtype=np.float64)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions + "bias"; rows sum to the margin (XGBoost) or P(A wins) (RF)."""
        import pandas as pd

        matrix = self._matrix(X)
        columns = [*self.feature_columns, "bias"]
        if self.model_type == "xgboost":
            xgboost = _xgb_module()
            dmatrix = xgboost.DMatrix(matrix.to_numpy(), feature_names=self.feature_columns)
            values = self.booster.predict(dmatrix, pred_contribs=True)
        else:
            values = _forest_contributions(self.estimator, matrix.to_numpy())
        return pd.DataFrame(values, columns=columns, index=X.index)


def _is_binary_logistic(booster: Any) -> bool:
    """True when the booster's prediction is P(class 1) itself (objective binary:logistic)."""
    return json.loads(booster.save_config())["learner"]["objective"]["name"] == "binary:logistic"


def _forest_contributions(forest: Any, X: np.ndarray) -> np.ndarray:
    """Tree-path decomposition of a RandomForestClassifier's P(class 1), averaged over trees."""
    from scipy import sparse

    class_index = list(forest.classes_).index(1)
    n_rows, n_features = X.shape
    total = np.zeros((n_rows, n_features + 1))
    for tree in forest.estimators_:
        structure = tree.tree_
        value = structure.value[:, 0, :]
        probability = value[:, class_index] / value.sum(axis=1)
        n_nodes = structure.node_count
        parent = np.full(n_nodes, -1)
        for side in (structure.children_left, structure.children_right):
            nodes = np.flatnonzero(side >= 0)
            parent[side[nodes]] = nodes
        children = np.flatnonzero(parent >= 0)
        # Entering a child moves the probability by (child - parent), credited to the split feature.
        delta = sparse.csr_matrix(
            (
                probability[children] - probability[parent[children]],
                (children, structure.feature[parent[children]]),
            ),
            shape=(n_nodes, n_features),
        )
        path = tree.decision_path(X)
        total[:, :n_features] += (path @ delta).toarray()
        total[:, n_features] += probability[0]
    return total / len(forest.estimators_)


def import_loader(model_type: str | None) -> None:
    """Import the library load_model_dir uses for `model_type` (xgboost, or skops with
    scikit-learn): seconds of CPU the first time in a process, nothing later.

    Serving calls this before its deadline on a registry download starts. A missing or unknown
    type imports nothing (load_model_dir reports the model's real type).
    """
    if model_type == "xgboost":
        _xgb_module()
    elif model_type == "random_forest":
        import skops.io  # noqa: F401


def load_model_dir(path: Path, expected_manifest_sha256: str | None = None) -> ModelBundle:
    """Verify then load a model directory with XGBoost's or skops' own safe loader."""
    root = Path(path)
    metadata = verify_model_dir(root, expected_manifest_sha256)
    model_type: ModelType = metadata["model_type"]
    model_path = root / MODEL_FILES[model_type]
    try:
        if model_type == "xgboost":
            # The Booster, not XGBClassifier: XGBClassifier.load_model imports scikit-learn
            # (~2 CPU s), which a fresh API process must not pay before its first answer.
            estimator = None
            booster = _xgb_module().Booster(model_file=str(model_path))
            n_features = booster.num_features()
        else:
            import skops.io

            booster = None
            estimator = skops.io.load(model_path, trusted=SKOPS_TRUSTED_TYPES)
            if type(estimator).__name__ != "RandomForestClassifier":
                raise UntrustedModelError(f"{model_path.name} holds a {type(estimator).__name__}")
            n_features = estimator.n_features_in_
    except UntrustedModelError:
        raise
    except Exception as error:  # a corrupt file that still matches its hash
        raise UntrustedModelError(
            f"{model_path.name} could not be loaded safely ({error})"
        ) from None
    if n_features != len(metadata["feature_columns"]):
        raise UntrustedModelError(
            f"the model expects {n_features} features, metadata lists "
            f"{len(metadata['feature_columns'])}"
        )
    return ModelBundle(
        estimator=estimator,
        model_type=model_type,
        feature_columns=list(metadata["feature_columns"]),
        metadata=metadata,
        manifest_sha256=sha256_file(root / MANIFEST_FILE),
        booster=booster,
    )
