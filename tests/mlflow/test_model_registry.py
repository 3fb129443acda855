"""The seed guide's Test 1: `pytest tests/mlflow/test_model_registry.py::test_register_and_promote -v`.

Checks what the guide lists: the model is registered correctly (auto-incremented versions, the
run's metrics), promoted automatically when the threshold is met (and not otherwise), and its
artifacts (model, preprocessing, metadata with the feature columns) are in the registry. Real
training on a small seeded dataset, a real SQLite store in tmp_path.

No __init__.py in this folder on purpose: a package named `mlflow` here would shadow MLflow.
"""

from __future__ import annotations

import json

import pytest

from core import artifacts
from core.features import FEATURE_COLUMNS
from core.registry import MLflowTracker, download_model_version, resolve_version
from core.train import TrainConfig, train_model
from tests.tiny_models import TINY_TRAINING

pytestmark = pytest.mark.slow


def test_register_and_promote(settings_factory, tmp_path):
    settings = settings_factory(with_store=True, promotion_threshold=0.5)
    first = train_model(TrainConfig(seed=1, version_label="v1", **TINY_TRAINING), settings)
    assert first.version == 1
    assert first.metrics["test_accuracy"] >= 0.5 and first.promoted
    tracker = MLflowTracker(settings=settings)
    assert tracker.current_version(settings.model_name) == 1

    # A second run that misses its threshold is registered (v2) but not promoted.
    second = train_model(TrainConfig(seed=2, threshold=0.999, **TINY_TRAINING), settings)
    assert second.version == 2 and not second.promoted
    assert tracker.current_version(settings.model_name) == 1
    table = tracker.compare_models(settings.model_name).set_index("version")
    assert table.loc[1, "stage"] == "Production"
    assert table.loc[2, "accuracy"] == pytest.approx(second.metrics["test_accuracy"])

    # The artifacts are in the registry, hash-checked, with the metadata serving needs.
    info = resolve_version(settings.model_name, stage="Production", settings=settings)
    assert (info.version, info.model_type) == (1, "xgboost")
    folder = download_model_version(info, tmp_path / "download", settings)
    for name in (
        artifacts.MANIFEST_FILE,
        artifacts.METADATA_FILE,
        artifacts.MODEL_FILES["xgboost"],
    ):
        assert (folder / name).is_file(), name
    metadata = json.loads((folder / artifacts.METADATA_FILE).read_text(encoding="utf-8"))
    assert metadata["feature_columns"] == FEATURE_COLUMNS
    assert metadata["metrics"]["test_accuracy"] == pytest.approx(first.metrics["test_accuracy"])
