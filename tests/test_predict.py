"""Serving against a real SQLite store: registry first, local fallback, hot reload, safe loading.

Models are tiny real XGBoost/RandomForest classifiers on FEATURE_COLUMNS, written with
artifacts.write_model_dir and registered with the real MLflowTracker. Nothing is mocked.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml
from sklearn.ensemble import RandomForestClassifier

from core import artifacts, battle, registry
from core.config import PROJECT_ROOT, Settings
from core.features import FEATURE_COLUMNS, mirror_rows
from core.pokedex import PokedexError, load_pokedex
from core.predict import (
    Contribution,
    ExportResult,
    FallbackReason,
    LocalModelError,
    Prediction,
    PredictionModel,
    export_local_model,
)
from core.predict.answers import TOP_CONTRIBUTIONS
from core.predict.policy import load_local_first
from core.predict.scoring import RowScorer
from core.registry import MLflowTracker, NoModelError

MODEL_NAME = "battle_winner_predictor"
FALLBACK_LINE = "MLflow not available, using local files"


# ---------------------------------------------------------------------------------------------
# Tiny real models


def make_estimator(model_type: str = "xgboost", seed: int = 0, flip: bool = False):
    """A small classifier on random FEATURE_COLUMNS data; `flip` inverts what it learned."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(size=(300, len(FEATURE_COLUMNS))).astype(np.float32), columns=FEATURE_COLUMNS
    )
    y = (X["expected_damage_share_difference"] > 0).astype(int).to_numpy()
    if flip:
        y = 1 - y
    if model_type == "xgboost":
        estimator = xgboost.XGBClassifier(n_estimators=5, max_depth=3, random_state=seed)
    else:
        estimator = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=seed)
    return estimator.fit(X, y)


def write_model(folder: Path, model_type: str = "xgboost", seed: int = 0, flip: bool = False):
    """A model directory in our format; returns its manifest sha256."""
    metadata = {"feature_columns": FEATURE_COLUMNS, "roster": "letsgo", "training": {"seed": seed}}
    return artifacts.write_model_dir(
        make_estimator(model_type, seed, flip), model_type, metadata, folder
    )


def install_local(settings: Settings, workdir: Path, version: str = "0", **kwargs) -> None:
    """Put a model into settings.models_dir as the local fallback."""
    folder = workdir / f"local-{uuid.uuid4().hex[:8]}"
    write_model(folder, **kwargs)
    artifacts.install_local_model(folder, settings.models_dir, MODEL_NAME, version)


def register(tracker: MLflowTracker, workdir: Path, **kwargs) -> int:
    """Log a model directory in a run of its own and register it: the new version number."""
    folder = workdir / f"model-{uuid.uuid4().hex[:8]}"
    sha = write_model(folder, **kwargs)
    tracker.start_run(f"test_{uuid.uuid4().hex[:6]}")
    tracker.log_metrics({"test_accuracy": 0.9})
    tracker.log_model_dir(folder, sha)
    version = tracker.register_model(tracker.settings.model_name, "test model")
    tracker.end_run()
    return version


def version_folder(settings: Settings, version: int) -> Path:
    """The on-disk artifact folder of a registered version (embedded store: file:// source)."""
    info = registry.resolve_version(settings.model_name, version=version, settings=settings)
    return Path(unquote(urlparse(info.source).path))


@pytest.fixture
def settings(settings_factory) -> Settings:
    """An embedded store in tmp_path, a short TTL and the default model name."""
    return settings_factory(registry_ttl_seconds=0.3)


@pytest.fixture
def tracker(settings: Settings) -> MLflowTracker:
    """A real tracker on the test's store."""
    return MLflowTracker(settings=settings)


def predict(model: PredictionModel) -> Prediction:
    """One prediction for a fixed matchup."""
    return model.predict_winner("Pikachu", "Charizard")


def wait_past_ttl(settings: Settings) -> None:
    """Sleep until the resolved alias is stale."""
    time.sleep(settings.registry_ttl_seconds + 0.05)


def served_version_becomes(model: PredictionModel, version: int | str, within: float) -> str:
    """Predict until `version` serves or `within` seconds pass; returns the last version served."""
    deadline = time.monotonic() + within
    served = predict(model).model_version
    while served != str(version) and time.monotonic() < deadline:
        time.sleep(0.05)
        served = predict(model).model_version
    return served


# ---------------------------------------------------------------------------------------------
# Which model serves


def test_registry_disabled_serves_local(settings_factory, tmp_path, caplog):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, version="7")
    caplog.set_level(logging.INFO, logger="core.predict")
    prediction = predict(PredictionModel(settings))
    assert prediction.source == "local"
    assert prediction.model_version == "7"
    assert prediction.model_name == MODEL_NAME
    assert "USE_MLFLOW_REGISTRY is false" in caplog.text
    assert not Path(settings.sqlite_path).exists(), "serving local must not create a store"


def test_registry_disabled_through_the_environment(tmp_path):
    env = {
        "USE_MLFLOW_REGISTRY": "false",
        "PREDICTIONDEX_MODELS_DIR": str(tmp_path / "models"),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # never contacted
    }
    settings = Settings.from_env(env)
    install_local(settings, tmp_path, version="3")
    prediction = predict(PredictionModel(settings))
    assert (prediction.source, prediction.model_version) == ("local", "3")


def test_production_serves_from_the_registry(settings, tracker, tmp_path):
    install_local(settings, tmp_path, version="0")
    version = register(tracker, tmp_path, seed=1)
    tracker.promote_to_production(MODEL_NAME, version)
    model = PredictionModel(settings)
    prediction = predict(model)
    assert (prediction.source, prediction.model_version) == ("registry", str(version))
    status = model.status()
    assert (status.source, status.model_version, status.fallback) == (
        "registry",
        str(version),
        None,
    )
    assert model.fallback_reason is None


def test_no_production_alias_falls_back_to_local(settings, tracker, tmp_path, caplog):
    install_local(settings, tmp_path, version="5")
    register(tracker, tmp_path)  # registered, never promoted
    model = PredictionModel(settings)
    with caplog.at_level(logging.WARNING, logger="core.predict"):
        prediction = predict(model)
    assert (prediction.source, prediction.model_version) == ("local", "5")
    assert FALLBACK_LINE in caplog.text
    assert "No model found in stage 'Production'" in caplog.text
    assert model.fallback == FallbackReason("no_model", f"for {MODEL_NAME}", "Production")
    assert (
        model.status().fallback_reason == f"No model found in stage 'Production' for {MODEL_NAME}"
    )


def test_staging_stage_serves_the_staging_alias(settings, tracker, tmp_path):
    v1 = register(tracker, tmp_path, seed=1)
    v2 = register(tracker, tmp_path, seed=2)
    tracker.promote_to_production(MODEL_NAME, v1)
    tracker.promote_to_production(MODEL_NAME, v2, stage="Staging")
    staging = PredictionModel(replace(settings, model_stage="Staging"))
    assert predict(staging).model_version == str(v2)
    assert predict(PredictionModel(settings)).model_version == str(v1)


def test_no_production_and_no_local_gives_the_three_ways_out(settings, tracker, tmp_path):
    register(tracker, tmp_path)
    with pytest.raises(NoModelError) as raised:
        predict(PredictionModel(settings))
    message = str(raised.value)
    assert message.startswith("No model found in stage 'Production'")
    assert "python -m core.train" in message  # 1. train
    assert "python -m core.registry promote" in message  # 2. promote by hand
    assert "MLFLOW_MODEL_STAGE=Staging" not in message  # 3. only when Staging has a holder


def test_empty_store_and_no_local(settings_factory):
    settings = settings_factory(use_registry=False)
    with pytest.raises(NoModelError, match="No model found in stage 'Production'"):
        PredictionModel(settings).load()


def test_missing_store_is_not_created_by_serving(settings, tmp_path):
    install_local(settings, tmp_path, version="1")
    prediction = predict(PredictionModel(settings))
    assert prediction.source == "local"
    assert not Path(settings.sqlite_path).exists()


# ---------------------------------------------------------------------------------------------
# Hot reload


def test_promotion_and_rollback_are_served_after_the_ttl(settings, tracker, tmp_path):
    v1 = register(tracker, tmp_path, seed=1)
    v2 = register(tracker, tmp_path, seed=2, flip=True)
    tracker.promote_to_production(MODEL_NAME, v1)
    ttl = 2.0
    model = PredictionModel(replace(settings, registry_ttl_seconds=ttl))
    first = predict(model)
    resolved_at = time.monotonic()  # the alias was resolved before this instant
    bundle_v1 = model.served.bundle
    assert first.model_version == str(v1)

    tracker.promote_to_production(MODEL_NAME, v2)
    trusted = predict(model).model_version
    if time.monotonic() - resolved_at < ttl:  # a slow promotion may have outlived the TTL
        assert trusted == str(v1), "the alias is trusted until the TTL"
    assert served_version_becomes(model, v2, within=ttl + 10) == str(v2)
    assert predict(model).p_a_wins != pytest.approx(first.p_a_wins)

    tracker.rollback(MODEL_NAME, reason="test")
    assert served_version_becomes(model, v1, within=ttl + 10) == str(v1)
    assert model.served.bundle is bundle_v1, "versions are cached by number, not reloaded"


@pytest.mark.slow
def test_promotion_by_another_process_is_served_without_restart(settings, tracker, tmp_path):
    v1 = register(tracker, tmp_path, seed=1)
    v2 = register(tracker, tmp_path, seed=2)
    tracker.promote_to_production(MODEL_NAME, v1)
    model = PredictionModel(replace(settings, registry_ttl_seconds=0.5))
    assert predict(model).model_version == str(v1)

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))},
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PREDICTIONDEX_ARTIFACTS_DIR": str(settings.artifacts_dir),
        # The promotion exports the new Production here (never into the project's models/).
        "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir),
        "MLFLOW_MODEL_NAME": MODEL_NAME,
    }
    done = subprocess.run(
        [sys.executable, "-m", "core.registry", "promote", str(v2), "--reason", "other process"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"v{v2} is now Production" in done.stdout
    assert f"local fallback updated to v{v2}" in done.stdout
    assert served_version_becomes(model, v2, within=0.5 + 10) == str(v2)


def test_concurrent_predictions_during_a_promotion(settings, tracker, tmp_path):
    v1 = register(tracker, tmp_path, seed=1)
    v2 = register(tracker, tmp_path, seed=2)
    tracker.promote_to_production(MODEL_NAME, v1)
    model = PredictionModel(replace(settings, registry_ttl_seconds=0.1))
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                seen.add(predict(model).model_version)
            except BaseException as error:  # collected, asserted below
                errors.append(error)
                return

    def wait_until_seen(version: int, within: float) -> None:
        deadline = time.monotonic() + within
        while str(version) not in seen and not errors and time.monotonic() < deadline:
            time.sleep(0.02)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_until_seen(v1, within=30)
    tracker.promote_to_production(MODEL_NAME, v2)
    wait_until_seen(v2, within=30)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert seen == {str(v1), str(v2)}
    assert predict(model).model_version == str(v2)


def test_local_fallback_is_reloaded_when_models_dir_changes(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False, registry_ttl_seconds=0.2)
    install_local(settings, tmp_path, version="1")
    model = PredictionModel(settings)
    assert predict(model).model_version == "1"
    install_local(settings, tmp_path, version="2", seed=3)
    assert served_version_becomes(model, "2", within=10) == "2"


# ---------------------------------------------------------------------------------------------
# Tampering: nothing we did not write runs, the last good model keeps serving


def _payload_pickle(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Payload(), protocol=4)


def _rewrite_manifest(folder: Path) -> None:
    """What a careful attacker does: recompute every hash so the manifest looks consistent."""
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in ("manifest.json", "README.md"):
            files[name] = artifacts.sha256_file(path)
    manifest["files"] = files
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _edit_mlmodel(folder: Path, edit) -> None:
    path = folder / "MLmodel"
    mlmodel = yaml.safe_load(path.read_text())
    edit(mlmodel)
    path.write_text(yaml.safe_dump(mlmodel))


def tamper(kind: str, folder: Path, marker: Path, rewrite_manifest: bool) -> None:
    """Plant one kind of hostile change in a model folder; every payload would create `marker`."""
    code = f"open({str(marker)!r}, 'w').close()\n"
    if kind == "code_folder":
        (folder / "code").mkdir()
        (folder / "code" / "evil.py").write_text(code)

        def edit(mlmodel):
            mlmodel["flavors"]["xgboost"]["code"] = "code"
            mlmodel["flavors"]["xgboost"]["model_class"] = "evil.EvilModel"
            mlmodel["flavors"]["python_function"]["code"] = "code"

        _edit_mlmodel(folder, edit)
    elif kind == "loader_module":
        (folder / "evil_loader.py").write_text(code)
        _edit_mlmodel(
            folder,
            lambda m: m["flavors"]["python_function"].update(loader_module="evil_loader"),
        )
    elif kind == "pickle_model":
        (folder / "model.ubj").write_bytes(_payload_pickle(marker))
    elif kind == "flipped_byte":
        data = bytearray((folder / "model.ubj").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "model.ubj").write_bytes(bytes(data))
    elif kind == "dotdot_path":
        (folder.parent / "outside.py").write_text(code)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"]["../outside.py"] = artifacts.sha256_file(folder.parent / "outside.py")
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return  # the manifest itself is the tampering
    else:
        raise ValueError(kind)
    if rewrite_manifest:
        _rewrite_manifest(folder)


TAMPERING = ["code_folder", "loader_module", "pickle_model", "flipped_byte", "dotdot_path"]


@pytest.mark.parametrize("rewrite_manifest", [False, True], ids=["naive", "rehashed"])
@pytest.mark.parametrize("kind", TAMPERING)
def test_tampered_registry_version_is_refused(
    kind, rewrite_manifest, settings, tracker, tmp_path, caplog
):
    marker = tmp_path / "payload-ran"
    good = register(tracker, tmp_path, seed=1)
    bad = register(tracker, tmp_path, seed=2)
    tracker.promote_to_production(MODEL_NAME, good)
    model = PredictionModel(settings)
    assert predict(model).model_version == str(good)

    tamper(kind, version_folder(settings, bad), marker, rewrite_manifest)
    tracker.promote_to_production(MODEL_NAME, bad)
    wait_past_ttl(settings)
    with caplog.at_level(logging.ERROR, logger="core.predict"):
        prediction = predict(model)
        wait_past_ttl(settings)
        again = predict(model)  # the refusal is remembered, not retried every TTL
    assert (prediction.source, prediction.model_version) == ("registry", str(good))
    assert again.model_version == str(good)
    assert "untrusted model" in model.last_error
    assert f"v{bad} refused" in model.last_error
    assert caplog.text.count("refusing") == 1
    assert not marker.exists()


@pytest.mark.parametrize("kind", TAMPERING)
def test_tampered_first_registry_version_falls_back_to_local(kind, settings, tracker, tmp_path):
    marker = tmp_path / "payload-ran"
    install_local(settings, tmp_path, version="0")
    bad = register(tracker, tmp_path, seed=2)
    tamper(kind, version_folder(settings, bad), marker, rewrite_manifest=False)
    tracker.promote_to_production(MODEL_NAME, bad)
    model = PredictionModel(settings)
    prediction = predict(model)
    assert (prediction.source, prediction.model_version) == ("local", "0")
    assert "untrusted model" in model.last_error
    assert not marker.exists()


@pytest.mark.parametrize("rewrite_manifest", [False, True], ids=["naive", "rehashed"])
@pytest.mark.parametrize("kind", TAMPERING)
def test_tampered_local_model_is_refused(kind, rewrite_manifest, settings_factory, tmp_path):
    marker = tmp_path / "payload-ran"
    settings = settings_factory(use_registry=False, registry_ttl_seconds=0.2)
    install_local(settings, tmp_path, version="1")
    model = PredictionModel(settings)
    assert predict(model).model_version == "1"

    tamper(kind, Path(settings.models_dir), marker, rewrite_manifest)
    time.sleep(0.25)
    prediction = predict(model)
    assert (prediction.source, prediction.model_version) == ("local", "1"), "last good serves"
    assert "untrusted model" in model.last_error

    with pytest.raises(LocalModelError, match="untrusted model"):
        PredictionModel(settings).load()  # a fresh process has no good model to keep
    assert not marker.exists()


def test_corrupted_local_model_is_a_clear_error(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path)
    (Path(settings.models_dir) / "metadata.json").write_text("{not json")
    with pytest.raises(LocalModelError) as raised:
        PredictionModel(settings).load()
    message = str(raised.value)
    assert "cannot be served" in message and "python -m core.predict export" in message
    assert "Traceback" not in message


def test_partial_local_model_is_a_clear_error(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path)
    (Path(settings.models_dir) / "manifest.json").unlink()
    with pytest.raises(LocalModelError, match="manifest.json is missing"):
        PredictionModel(settings).load()


# ---------------------------------------------------------------------------------------------
# Predictions


@pytest.fixture
def local_model(settings_factory, tmp_path) -> PredictionModel:
    """A loaded local XGBoost model (registry disabled)."""
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, version="4")
    return PredictionModel(settings)


def test_prediction_fields(local_model):
    prediction = local_model.predict_winner(
        "pikachu", "CHARIZARD", level_a=60, level_b=40, explain=True
    )
    assert (prediction.pokemon_a, prediction.pokemon_b) == ("pikachu", "charizard")
    assert (prediction.name_a, prediction.name_b) == ("Pikachu", "Charizard")
    assert 0.0 <= prediction.p_a_wins <= 1.0
    expected_winner = "pikachu" if prediction.p_a_wins >= 0.5 else "charizard"
    assert prediction.winner_id == expected_winner
    assert prediction.model_type == "xgboost"
    assert (prediction.level_a, prediction.level_b) == (60, 40)
    assert 1 <= len(prediction.moves_a) <= 4 and 1 <= len(prediction.moves_b) <= 4
    assert prediction.simulated_p_a_wins is None
    contributions = prediction.contributions
    assert contributions and all(isinstance(c, Contribution) for c in contributions)
    sizes = [abs(c.contribution) for c in contributions]
    assert sizes == sorted(sizes, reverse=True)
    assert all(c.feature in FEATURE_COLUMNS for c in contributions)
    data = json.loads(json.dumps(prediction.to_dict()))
    assert set(data["contributions"][0]) == {"feature", "value", "contribution"}


def test_explanations_only_when_asked(local_model):
    plain = local_model.predict_winner("Mewtwo", "Magikarp")
    explained = local_model.predict_winner("Mewtwo", "Magikarp", explain=True)
    assert plain.contributions == () and len(explained.contributions) == TOP_CONTRIBUTIONS
    assert plain.p_a_wins == explained.p_a_wins


@pytest.mark.parametrize("model_type", ["xgboost", "random_forest"])
def test_fast_scorer_matches_the_bundle(tmp_path, model_type):
    folder = tmp_path / "model"
    write_model(folder, model_type=model_type, seed=5)
    bundle = artifacts.load_model_dir(folder)
    scorer = RowScorer(bundle)
    assert scorer.is_fast == (model_type == "xgboost")
    rows = np.random.default_rng(1).normal(size=(50, len(FEATURE_COLUMNS))).astype(np.float32)
    expected = bundle.predict_proba(pd.DataFrame(rows, columns=FEATURE_COLUMNS))
    # The model's own probability: the fast path gives the bundle's answer.
    np.testing.assert_allclose(scorer.model_probability(rows), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        scorer.model_probability(rows[:1]), expected[:1], rtol=1e-6, atol=1e-7
    )
    # The served probability is its antisymmetric form (issue 13): ½ + (f(x) − f(mirror(x)))/2.
    mirrored = bundle.predict_proba(pd.DataFrame(mirror_rows(rows), columns=FEATURE_COLUMNS))
    served = 0.5 + (expected - mirrored) / 2
    np.testing.assert_allclose(scorer.predict_proba(rows), served, rtol=1e-6, atol=1e-7)


def test_fast_scorer_follows_the_model_column_order(tmp_path):
    rng = np.random.default_rng(2)
    shuffled = list(rng.permutation(FEATURE_COLUMNS))
    X = pd.DataFrame(rng.normal(size=(300, len(shuffled))).astype(np.float32), columns=shuffled)
    y = (X["speed_ratio"] > 0).astype(int).to_numpy()
    estimator = xgboost.XGBClassifier(n_estimators=5, max_depth=3).fit(X, y)
    artifacts.write_model_dir(estimator, "xgboost", {"feature_columns": shuffled}, tmp_path / "m")
    bundle = artifacts.load_model_dir(tmp_path / "m")
    rows = rng.normal(size=(20, len(FEATURE_COLUMNS))).astype(np.float32)
    expected = bundle.predict_proba(pd.DataFrame(rows, columns=FEATURE_COLUMNS))
    np.testing.assert_allclose(RowScorer(bundle).model_probability(rows), expected, rtol=1e-6)


def test_contributions_explain_the_margin(local_model):
    prediction = local_model.predict_winner("Mewtwo", "Magikarp", explain=True)
    bundle = local_model.served.bundle
    from core import features
    from core.predict.scoring import served_probability

    dex = load_pokedex()
    matchup = battle.resolve_matchup("Mewtwo", "Magikarp", dex=dex)
    X = features.build_features(matchup.to_frame(), dex)
    # The answer is the antisymmetric form of the model's probability (issue 13).
    assert served_probability(bundle, X)[0] == pytest.approx(prediction.p_a_wins)
    full = bundle.contributions(X).iloc[0]
    top = prediction.contributions[0]
    assert full.drop("bias").abs().max() == pytest.approx(abs(top.contribution))
    assert X.iloc[0][top.feature] == pytest.approx(top.value)


def test_given_moves_and_simulation(local_model):
    prediction = local_model.predict_winner(
        "Pikachu", "Squirtle", moves_a=["Thunderbolt", "quick-attack"], moves_b="Water Gun",
        simulate=300,
    )  # fmt: skip
    assert prediction.moves_a == ["thunderbolt", "quickattack"]
    assert prediction.moves_b == ["watergun"]
    assert prediction.simulated_battles == 300
    reference = battle.win_probability(
        "pikachu", "squirtle", moves_a=prediction.moves_a, moves_b=prediction.moves_b, n=300
    )
    assert prediction.simulated_p_a_wins == reference.p_a_wins  # the same seeded battles


def test_random_forest_model_predicts(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, model_type="random_forest")
    prediction = PredictionModel(settings).predict_winner("Pikachu", "Onix", explain=True)
    assert prediction.model_type == "random_forest"
    assert prediction.contributions


def test_unknown_pokemon_lists_closest_matches(local_model):
    with pytest.raises(PokedexError, match="Closest matches: .*Pikachu"):
        local_model.predict_winner("Pikachuu", "Charizard")


def test_move_it_cannot_learn_lists_what_it_can(local_model):
    with pytest.raises(PokedexError, match="cannot learn Surf.*It can learn: .*Thunderbolt"):
        local_model.predict_winner("Pikachu", "Charizard", moves_a=["Surf"])


@pytest.mark.parametrize(
    "kwargs",
    [{"level_a": 0}, {"level_b": 101}, {"level_a": "ten"}, {"simulate": -5}],
)
def test_bad_inputs_are_clear_errors(local_model, kwargs):
    with pytest.raises(PokedexError):
        local_model.predict_winner("Pikachu", "Charizard", **kwargs)


def test_matrix_of_a_few(local_model):
    names = ["Pikachu", "Charizard", "Blastoise", "pikachu"]
    matrix = local_model.predict_matrix(names)
    assert list(matrix.index) == ["pikachu", "charizard", "blastoise"]
    assert list(matrix.columns) == list(matrix.index)
    assert np.isnan(np.diag(matrix.to_numpy())).all()
    one = local_model.predict_winner("Charizard", "Blastoise")
    assert matrix.loc["charizard", "blastoise"] == pytest.approx(one.p_a_wins, abs=1e-6)


def test_matrix_of_the_letsgo_roster(local_model):
    dex = load_pokedex("letsgo")
    started = time.perf_counter()
    matrix = local_model.predict_matrix(dex.pokemon_ids)
    elapsed = time.perf_counter() - started
    size = len(dex.pokemon_ids)
    assert matrix.shape == (size, size)
    assert matrix.notna().to_numpy().sum() == size * (size - 1)
    assert elapsed < 10  # the benchmark holds the 2 s target; this only catches a blow-up


# ---------------------------------------------------------------------------------------------
# Export and CLI


def test_export_writes_the_production_version(settings, tracker, tmp_path):
    version = register(tracker, tmp_path, seed=4)
    tracker.promote_to_production(MODEL_NAME, version)
    result = export_local_model(settings=settings)
    assert result == ExportResult(MODEL_NAME, str(version), str(settings.models_dir), "xgboost")
    manifest = json.loads((Path(settings.models_dir) / "manifest.json").read_text())
    assert (manifest["model_name"], manifest["model_version"]) == (MODEL_NAME, str(version))
    registry_model = PredictionModel(settings)
    local = PredictionModel(replace(settings, use_registry=False))
    a, b = predict(registry_model), predict(local)
    assert (a.source, b.source) == ("registry", "local")
    assert a.model_version == b.model_version == str(version)
    assert a.p_a_wins == pytest.approx(b.p_a_wins)


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m core.predict ...` in a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))}
    return subprocess.run(
        [sys.executable, "-m", "core.predict", *args],
        cwd=PROJECT_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_prints_one_json_object(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, version="9")
    env = {"USE_MLFLOW_REGISTRY": "false", "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir)}
    done = run_cli(
        ["--a", "Pikachu", "--b", "Onix", "--moves-a", "thunderbolt", "--simulate", "200"], env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"winner", "p_a_wins", "model_version", "source"} <= set(result)
    assert (result["source"], result["model_version"]) == ("local", "9")
    assert result["moves_a"] == ["thunderbolt"]
    assert result["simulated_p_a_wins"] is not None
    assert result["fallback_reason"] == "USE_MLFLOW_REGISTRY is false"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--a", "Pikachuu", "--b", "Onix"], "Closest matches"),
        (["--a", "Pikachu", "--b", "Onix", "--moves-a", "surf"], "It can learn"),
        (["--a", "Pikachu", "--b", "Onix", "--level-a", "500"], "out of range"),
        (["--a", "Pikachu", "--b", "Onix", "CORRUPT"], "unrecognized arguments"),
    ],
)
def test_cli_errors_are_one_line(settings_factory, tmp_path, args, needle):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path)
    env = {"USE_MLFLOW_REGISTRY": "false", "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir)}
    done = run_cli(args, env)
    assert done.returncode == 2
    assert needle in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


@pytest.mark.slow
def test_cli_corrupted_local_model_and_no_model(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    env = {"USE_MLFLOW_REGISTRY": "false", "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir)}
    done = run_cli(["--a", "Pikachu", "--b", "Onix"], env)
    assert done.returncode == 2
    assert "No model found in stage 'Production'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    install_local(settings, tmp_path)
    (Path(settings.models_dir) / "model.ubj").write_bytes(b"{garbage")
    done = run_cli(["--a", "Pikachu", "--b", "Onix"], env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "untrusted model" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_cli_export(settings, tracker, tmp_path):
    v1 = register(tracker, tmp_path, seed=1)
    v2 = register(tracker, tmp_path, seed=2)
    tracker.promote_to_production(MODEL_NAME, v2)
    env = {
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PREDICTIONDEX_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir),
    }
    done = run_cli(["export", "--version", str(v1)], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model_version"] == str(v1)
    manifest = json.loads((Path(settings.models_dir) / "manifest.json").read_text())
    assert manifest["model_version"] == str(v1)

    done = run_cli(["export", "--version", "99"], env)
    assert done.returncode == 2 and "does not exist" in done.stderr


@pytest.mark.slow
def test_local_fallback_answers_without_importing_mlflow(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, version="2")
    code = (
        "import sys, json\n"
        "from core.predict import PredictionModel\n"
        "from core.config import Settings\n"
        "answer = PredictionModel(Settings.from_env()).predict_winner('Pikachu', 'Onix')\n"
        "print(json.dumps([answer.source, answer.model_version, 'mlflow' in sys.modules]))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))}
    env = {"USE_MLFLOW_REGISTRY": "false", "PREDICTIONDEX_MODELS_DIR": str(settings.models_dir)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["local", "2", False]


@pytest.mark.slow
def test_a_fresh_server_answers_from_local_first_then_from_the_registry(
    settings, tracker, tmp_path
):
    version = register(tracker, tmp_path, seed=1)
    tracker.promote_to_production(MODEL_NAME, version)  # exports v1 to the local fallback
    install_local(settings, tmp_path, version="0")  # ... which then holds another version
    code = (
        "import json, sys, threading, time\n"
        "from core.predict import PredictionModel\n"
        "from core.predict.policy import load_local_first\n"
        "from core.config import Settings\n"
        "model = PredictionModel(Settings.from_env())\n"
        # The registry's load waits until the first answer is taken: it now takes ~50 ms
        # (core.registry.embedded: no mlflow import), less than one poll of a loaded machine.
        "answered = threading.Event()\n"
        "fetch = model.registry.fetch\n"
        "model.registry.fetch = lambda current: (answered.wait(60), fetch(current))[1]\n"
        "loader = threading.Thread(target=load_local_first, args=(model,))\n"
        "loader.start()\n"
        "deadline = time.monotonic() + 60\n"
        "while model.served is None and time.monotonic() < deadline:\n"
        "    time.sleep(0.005)\n"
        "first = model.predict_winner('Pikachu', 'Onix')\n"
        "kind = model.fallback.kind if model.fallback else None\n"
        "answered.set()\n"
        "loader.join(60)\n"
        "last = model.predict_winner('Pikachu', 'Onix')\n"
        "print(json.dumps([first.source, first.model_version, kind, last.source,\n"
        "                  last.model_version, model.fallback is None]))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**base, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    # The local fallback answers first ("starting"), then the registry's version serves.
    assert json.loads(done.stdout) == ["local", "0", "starting", "registry", str(version), True]


def test_local_first_without_a_local_model_is_the_registry(settings, tracker, tmp_path):
    version = register(tracker, tmp_path, seed=1)
    tracker.promote_to_production(MODEL_NAME, version)
    served = load_local_first(PredictionModel(settings))
    assert (served.source, served.model_version) == ("registry", str(version))


def test_local_first_with_the_registry_off_is_local(settings_factory, tmp_path):
    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, version="4")
    model = PredictionModel(settings)
    served = load_local_first(model)
    assert (served.source, served.model_version, model.fallback.kind) == ("local", "4", "disabled")


def test_local_first_says_when_the_registry_version_is_refused(settings, tracker, tmp_path):
    install_local(settings, tmp_path, version="0")
    bad = register(tracker, tmp_path, seed=2)
    tamper(TAMPERING[0], version_folder(settings, bad), tmp_path / "payload-ran", False)
    tracker.promote_to_production(MODEL_NAME, bad)
    model = PredictionModel(settings)
    served = load_local_first(model)
    assert (served.source, served.model_version) == ("local", "0")
    assert model.fallback.kind == "untrusted" and f"v{bad} refused" in model.fallback.detail
    assert not (tmp_path / "payload-ran").exists()


def test_cli_calls_a_mirror_even_and_names_no_winner(
    settings_factory, tmp_path, monkeypatch, capsys
):
    """P(A wins) exactly ½ (a mirror is ½ by construction) names nobody: winner "even",
    winner_id null; any other answer names its winner as before."""
    from core.predict.cli import main

    settings = settings_factory(use_registry=False)
    install_local(settings, tmp_path, version="9")
    monkeypatch.setenv("USE_MLFLOW_REGISTRY", "false")
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(settings.models_dir))
    assert main(["--a", "Pikachu", "--b", "pikachu"]) == 0
    mirror = json.loads(capsys.readouterr().out)
    assert mirror["p_a_wins"] == 0.5
    assert (mirror["winner"], mirror["winner_id"]) == ("even", None)
    assert main(["--a", "Mewtwo", "--b", "Magikarp"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["p_a_wins"] != 0.5
    expected = ("Mewtwo", "mewtwo") if answer["p_a_wins"] > 0.5 else ("Magikarp", "magikarp")
    assert (answer["winner"], answer["winner_id"]) == expected
