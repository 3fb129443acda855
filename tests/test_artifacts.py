"""The model directory format: round trips, contributions, and every tampering case refused."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml

from core import artifacts
from core.artifacts import (
    MANIFEST_FILE,
    MODEL_FILES,
    UntrustedModelError,
    install_local_model,
    load_model_dir,
    sha256_file,
    verify_model_dir,
    write_model_dir,
)
from tests import tiny_models

COLUMNS = [f"feature_{i}" for i in range(6)]
MODEL_TYPES = list(tiny_models.MODEL_TYPES)
SIGNAL = {"feature_0": 1.0, "feature_1": 0.5, "feature_2": -1.0}


def make_data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A small seeded binary problem on COLUMNS (tests/tiny_models.py)."""
    return tiny_models.make_data(COLUMNS, n, seed, SIGNAL)


def make_estimator(model_type: str, X: pd.DataFrame, y: np.ndarray):
    """A tiny fitted model of the given type (tests/tiny_models.py)."""
    return tiny_models.make_estimator(model_type, X, y)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, tuple[object, Path, str]]:
    """Each model type fitted and written once: (estimator, folder, manifest sha256)."""
    X, y = make_data()
    root = tmp_path_factory.mktemp("saved")
    out = {}
    for model_type in MODEL_TYPES:
        estimator = make_estimator(model_type, X, y)
        folder = root / model_type
        sha = write_model_dir(
            estimator, model_type, {"feature_columns": COLUMNS, "roster": "letsgo"}, folder
        )
        out[model_type] = (estimator, folder, sha)
    return out


@pytest.fixture(params=MODEL_TYPES)
def model_copy(request, saved_models, tmp_path) -> tuple[str, Path, str]:
    """A private copy of a saved model folder that a test may tamper with."""
    _, folder, sha = saved_models[request.param]
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    return request.param, copy, sha


def reseal(folder: Path) -> None:
    """Rewrite the manifest as an attacker would, so only the structural checks can catch it."""
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"] = files
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def edit_mlmodel(folder: Path, edit) -> None:
    """Apply edit(dict) to the MLmodel YAML."""
    path = folder / "MLmodel"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))


def test_pip_requirements_are_the_exact_pins():
    pins = artifacts.pip_requirements()
    names = [pin.split("==")[0] for pin in pins]
    assert names == ["mlflow", "xgboost-cpu", "scikit-learn", "skops"]
    assert all("==" in pin for pin in pins)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_round_trip_gives_identical_predictions(saved_models, model_type):
    estimator, folder, sha = saved_models[model_type]
    X, _ = make_data(200, seed=1)
    bundle = load_model_dir(folder, expected_manifest_sha256=sha)
    assert bundle.model_type == model_type
    assert bundle.feature_columns == COLUMNS
    assert bundle.manifest_sha256 == sha
    assert bundle.metadata["roster"] == "letsgo"
    expected = estimator.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(bundle.predict_proba(X), expected)
    # Columns are reordered to the training order.
    shuffled = X[list(reversed(COLUMNS))]
    np.testing.assert_array_equal(bundle.predict_proba(shuffled), expected)
    files = {p.name for p in folder.iterdir()}
    assert MODEL_FILES[model_type] in files
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_contributions_sum_to_the_margin(saved_models, model_type):
    estimator, folder, sha = saved_models[model_type]
    X, _ = make_data(100, seed=2)
    bundle = load_model_dir(folder, sha)
    contributions = bundle.contributions(X)
    assert list(contributions.columns) == [*COLUMNS, "bias"]
    if model_type == "xgboost":
        margin = estimator.get_booster().predict(xgboost.DMatrix(X), output_margin=True)
        np.testing.assert_allclose(contributions.sum(axis=1), margin, atol=1e-5)
    else:
        np.testing.assert_allclose(contributions.sum(axis=1), bundle.predict_proba(X), atol=1e-9)
        # Features that never split carry no contribution.
        assert (contributions.abs().sum() > 0).sum() >= 2


def test_missing_feature_columns_say_what_to_do(saved_models):
    _, folder, sha = saved_models["xgboost"]
    X, _ = make_data(5)
    with pytest.raises(ValueError, match="build_features"):
        load_model_dir(folder, sha).predict_proba(X.drop(columns=["feature_3"]))


def test_write_refuses_a_non_empty_folder(tmp_path):
    X, y = make_data(50)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        write_model_dir(make_estimator("xgboost", X, y), "xgboost", {}, tmp_path / "busy")


def plant_code_folder(folder: Path, model_type: str) -> None:
    (folder / "code").mkdir()
    (folder / "code" / "evil.py").write_text("open('/tmp/owned', 'w')\n")

    def edit(data):
        for flavor in data["flavors"].values():
            if "model_class" in flavor or "pickled_model" in flavor:
                flavor["model_class"] = "evil.Model"
                flavor["code"] = "code"
        data["flavors"]["python_function"]["code"] = "code"

    edit_mlmodel(folder, edit)


def plant_loader_module(folder: Path, model_type: str) -> None:
    def edit(data):
        data["flavors"]["python_function"]["loader_module"] = "evil_loader"

    edit_mlmodel(folder, edit)


def plant_flipped_byte(folder: Path, model_type: str) -> None:
    path = folder / MODEL_FILES[model_type]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def plant_dotdot_entry(folder: Path, model_type: str) -> None:
    outside = folder.parent / "outside.txt"
    outside.write_text("secret")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"]["../outside.txt"] = sha256_file(outside)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def plant_extra_file(folder: Path, model_type: str) -> None:
    (folder / "sitecustomize.py").write_text("print('hello')\n")


TAMPERINGS = {
    "code_folder_and_model_class": plant_code_folder,
    "loader_module": plant_loader_module,
    "flipped_byte": plant_flipped_byte,
    "dotdot_manifest_entry": plant_dotdot_entry,
    "extra_file": plant_extra_file,
}


@pytest.mark.parametrize("resealed", [False, True], ids=["as_is", "manifest_rewritten"])
@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_tampering_is_refused(model_copy, tampering, resealed):
    model_type, folder, sha = model_copy
    TAMPERINGS[tampering](folder, model_type)
    if resealed and tampering not in ("dotdot_manifest_entry", "flipped_byte"):
        reseal(folder)
    with pytest.raises(UntrustedModelError, match="^untrusted model: "):
        load_model_dir(folder, expected_manifest_sha256=sha)
    if resealed or tampering == "dotdot_manifest_entry":
        # Without the recorded hash the structural checks alone must still refuse it.
        with pytest.raises(UntrustedModelError, match="^untrusted model: "):
            load_model_dir(folder)


class MarkerPayload:
    """Unpickling this creates a marker file: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name_kind", ["same_name", "pkl_name"])
def test_pickle_in_place_of_the_model_never_runs(model_copy, tmp_path, name_kind):
    model_type, folder, sha = model_copy
    marker = tmp_path / "marker"
    payload = pickle.dumps(MarkerPayload(marker), protocol=4)
    model_file = folder / MODEL_FILES[model_type]
    if name_kind == "same_name":
        model_file.write_bytes(payload)
    else:
        model_file.unlink()
        (folder / "model.pkl").write_bytes(payload)
        metadata = json.loads((folder / "metadata.json").read_text())
        metadata["model_file"] = "model.pkl"
        metadata.pop("model_sha256")
        (folder / "metadata.json").write_text(json.dumps(metadata))
    reseal(folder)
    for expected in (sha, None):
        with pytest.raises(UntrustedModelError, match="^untrusted model: .*pickle"):
            load_model_dir(folder, expected_manifest_sha256=expected)
    assert not marker.exists()


def test_model_file_of_the_wrong_type_is_refused(saved_models, tmp_path):
    _, xgb_folder, _ = saved_models["xgboost"]
    _, rf_folder, _ = saved_models["random_forest"]
    folder = tmp_path / "model"
    shutil.copytree(xgb_folder, folder)
    shutil.copy(rf_folder / "model.skops", folder / "model.ubj")
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata.pop("model_sha256")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    reseal(folder)
    with pytest.raises(UntrustedModelError, match="not an XGBoost"):
        verify_model_dir(folder)


def test_symlink_leaving_the_folder_is_refused(model_copy, tmp_path):
    model_type, folder, _ = model_copy
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UntrustedModelError, match="symbolic link"):
        verify_model_dir(folder)


def test_missing_manifest_is_refused(model_copy):
    _, folder, _ = model_copy
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(UntrustedModelError, match="manifest.json is missing"):
        load_model_dir(folder)


def test_install_local_model_is_atomic_and_records_the_version(saved_models, tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "README.md").write_text("# the local fallback\n")
    (models_dir / "stale.txt").write_text("left from an old layout")
    X, _ = make_data(20)
    for model_type, version in (("xgboost", 3), ("random_forest", 4)):
        _, folder, _ = saved_models[model_type]
        install_local_model(folder, models_dir, "battle_winner_predictor", version)
        manifest = json.loads((models_dir / MANIFEST_FILE).read_text())
        assert manifest["model_name"] == "battle_winner_predictor"
        assert manifest["model_version"] == str(version)
        bundle = load_model_dir(models_dir)
        assert bundle.model_type == model_type
        np.testing.assert_array_equal(
            bundle.predict_proba(X), load_model_dir(folder).predict_proba(X)
        )
    assert (models_dir / "README.md").read_text() == "# the local fallback\n"
    assert not (models_dir / "stale.txt").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".models.")]
    assert leftovers in ([], [".models.lock"])


def test_install_refuses_an_untrusted_source(model_copy, tmp_path):
    model_type, folder, _ = model_copy
    plant_extra_file(folder, model_type)
    models_dir = tmp_path / "models"
    with pytest.raises(UntrustedModelError):
        install_local_model(folder, models_dir, "m", 1)
    assert not models_dir.exists()
