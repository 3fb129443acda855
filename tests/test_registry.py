"""The registry against a real SQLite MLflow store: register, promote, compare, rollback, audit."""

from __future__ import annotations

import contextlib
import json
import pickle
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.ensemble import RandomForestClassifier

from core import artifacts, registry
from core.artifacts import UntrustedModelError
from core.config import PROJECT_ROOT, Settings
from core.registry import (
    METRIC_COLUMNS,
    MLflowTracker,
    NoModelError,
    PromotionConflict,
    RegistryError,
    load_model_from_registry,
)
from core.registry.versions import key_parameters

COLUMNS = [f"feature_{i}" for i in range(5)]


def make_data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A small seeded binary problem."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(COLUMNS))).astype(np.float32), columns=COLUMNS)
    y = ((X["feature_0"] - X["feature_1"]) > 0).astype(int).to_numpy()
    return X, y


def train_and_register(
    tracker: MLflowTracker,
    model_name: str,
    workdir: Path,
    accuracy: float = 0.9,
    model_type: str = "xgboost",
    seed: int = 0,
) -> tuple[int, object]:
    """Fit a tiny real model, log it with its metrics and register it: (version, estimator)."""
    X, y = make_data(seed=seed)
    if model_type == "xgboost":
        estimator = xgboost.XGBClassifier(n_estimators=5, max_depth=3, random_state=seed)
    else:
        estimator = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=seed)
    estimator.fit(X, y)
    folder = workdir / f"model-{uuid.uuid4().hex[:8]}"
    sha = artifacts.write_model_dir(estimator, model_type, {"feature_columns": COLUMNS}, folder)
    tracker.start_run(f"train_{model_type}_{seed}", tags={"version_label": f"v{seed}"})
    tracker.log_params({"n_estimators": 5, "seed": seed})
    tracker.log_metrics(
        {
            "test_accuracy": accuracy,
            "test_f1": accuracy - 0.01,
            "test_roc_auc": accuracy + 0.02,
            "oracle_accuracy": 0.95,
            "train_accuracy": accuracy + 0.03,
        }
    )
    tracker.log_model_dir(folder, sha)
    version = tracker.register_model(model_name, f"{model_type} - Accuracy: {accuracy:.4f}")
    tracker.end_run()
    return version, estimator


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Settings:
    """One real SQLite store for the module (each test uses its own experiment and model)."""
    root = tmp_path_factory.mktemp("registry-store")
    return Settings(
        tracking_uri=f"sqlite:///{root}/mlflow.db",
        artifacts_dir=root / "mlartifacts",
        models_dir=root / "models",
    )


@pytest.fixture
def model_name() -> str:
    """A model name of this test's own."""
    return f"bwp_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def tracker(store: Settings, model_name: str) -> MLflowTracker:
    """A tracker on the module's store, in an experiment of this test's own."""
    return MLflowTracker(experiment_name=f"exp_{model_name}", settings=store)


def snapshot(tracker: MLflowTracker, model_name: str) -> tuple:
    """What must not change when an operation is refused."""
    registered = tracker.client.get_registered_model(model_name)
    versions = tracker.compare_models(model_name)[["version", "stage"]].to_dict("records")
    return dict(registered.aliases), len(tracker.audit_log(model_name)), versions


def artifact_folder(source: str) -> Path:
    """The local folder behind a file:// version source."""
    return Path(urlparse(source).path)


def test_full_workflow(tracker, model_name, tmp_path, store):
    v1, estimator1 = train_and_register(tracker, model_name, tmp_path, accuracy=0.87, seed=1)
    assert v1 == 1
    info = registry.resolve_version(model_name, version=1, settings=store)
    assert info.description == "xgboost - Accuracy: 0.8700"
    assert info.source.endswith("/model")
    assert info.manifest_sha256 and info.model_type == "xgboost"
    uploaded = {p.name for p in artifact_folder(info.source).iterdir()}
    assert {"MLmodel", "model.ubj", "metadata.json", "manifest.json"} <= uploaded
    run = tracker.client.get_run(info.run_id)
    assert run.data.metrics["test_accuracy"] == 0.87
    assert run.data.tags["manifest_sha256"] == info.manifest_sha256

    first = tracker.promote_to_production(model_name, v1, reason="first model", user="ana")
    assert first.changed and first.previous_version is None

    v2, _ = train_and_register(tracker, model_name, tmp_path, accuracy=0.91, seed=2)
    assert v2 == 2
    frame = tracker.compare_models(model_name)
    assert list(frame["version"]) == [2, 1]
    assert dict(zip(frame["version"], frame["stage"], strict=True)) == {2: "none", 1: "Production"}
    assert frame.loc[frame["version"] == 2, "accuracy"].item() == pytest.approx(0.91)
    assert frame.loc[frame["version"] == 1, "f1_score"].item() == pytest.approx(0.86)
    assert set(frame["model_type"]) == {"xgboost"}
    for column in ("roc_auc", "oracle_accuracy", "created_at", "description", "run_id"):
        assert column in frame.columns
    # Metrics are floats; one that no version logged is NaN, not None in an object column.
    assert all(frame[column].dtype == float for column in METRIC_COLUMNS)
    assert frame["matchup_mae"].isna().all()  # train_and_register logs no matchup metrics

    tracker.promote_to_production(model_name, "2", reason="better accuracy", user="ben")
    frame = tracker.compare_models(model_name)
    assert dict(zip(frame["version"], frame["stage"], strict=True)) == {
        2: "Production",
        1: "Archived",
    }

    back = tracker.rollback(model_name, reason="v2 misbehaves", user="ana")
    assert back.version == 1 and back.previous_version == 2
    frame = tracker.compare_models(model_name)
    assert dict(zip(frame["version"], frame["stage"], strict=True)) == {
        2: "Archived",
        1: "Production",
    }

    audit = tracker.audit_log(model_name)
    assert list(audit["action"]) == ["promote", "promote", "rollback"]
    assert list(audit["from_version"].astype(object)) == [pd.NA, 1, 2]
    assert list(audit["to_version"]) == [1, 2, 1]
    assert list(audit["reason"]) == ["first model", "better accuracy", "v2 misbehaves"]
    assert list(audit["user"]) == ["ana", "ben", "ana"]
    assert audit["time"].is_monotonic_increasing

    bundle, served = load_model_from_registry(model_name, settings=store)
    assert served.version == 1 and served.stage == "Production"
    X, _ = make_data(50, seed=9)
    np.testing.assert_array_equal(bundle.predict_proba(X), estimator1.predict_proba(X)[:, 1])
    assert tracker.doctor(model_name) == []


def test_staging_alias_and_random_forest(tracker, model_name, tmp_path, store):
    version, estimator = train_and_register(
        tracker, model_name, tmp_path, model_type="random_forest", seed=3
    )
    tracker.promote_to_production(model_name, version, stage="Staging", reason="try it")
    frame = tracker.compare_models(model_name)
    assert frame["stage"].tolist() == ["Staging"]
    assert frame["model_type"].tolist() == ["random_forest"]
    with pytest.raises(NoModelError):
        load_model_from_registry(model_name, stage="Production", settings=store)
    bundle, info = load_model_from_registry(model_name, stage="Staging", settings=store)
    assert info.stage == "Staging" and bundle.model_type == "random_forest"
    X, _ = make_data(30)
    np.testing.assert_array_equal(bundle.predict_proba(X), estimator.predict_proba(X)[:, 1])


def test_no_production_model_gives_the_guides_ways_out_that_exist(
    tracker, model_name, tmp_path, store
):
    with pytest.raises(NoModelError) as unregistered:
        load_model_from_registry(model_name, settings=store)
    train_and_register(tracker, model_name, tmp_path)
    with pytest.raises(NoModelError) as no_alias:
        load_model_from_registry(model_name, settings=store)
    for error in (unregistered, no_alias):
        message = str(error.value)
        assert message.startswith("No model found in stage 'Production'")
        assert "python -m core.train" in message
        assert "MLFLOW_MODEL_STAGE=Staging" not in message  # nobody holds Staging
    assert "python -m core.registry promote" in str(no_alias.value)  # a version exists


@pytest.mark.parametrize("bad", ["abc", "-1", "1; drop", "0", "", "1.5", " ", "99"])
def test_promoting_a_bad_or_missing_version_changes_nothing(tracker, model_name, tmp_path, bad):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    tracker.promote_to_production(model_name, version)
    before = snapshot(tracker, model_name)
    with pytest.raises(RegistryError, match="python -m core.registry list"):
        tracker.promote_to_production(model_name, bad)
    assert snapshot(tracker, model_name) == before


def test_rollback_without_history_changes_nothing(tracker, model_name, tmp_path):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    with pytest.raises(RegistryError, match="nothing to roll back"):
        tracker.rollback(model_name)
    tracker.promote_to_production(model_name, version)
    before = snapshot(tracker, model_name)
    with pytest.raises(RegistryError, match="no earlier Production"):
        tracker.rollback(model_name, reason="oops")
    assert snapshot(tracker, model_name) == before


def test_rollback_to_a_deleted_version_changes_nothing(tracker, model_name, tmp_path):
    v1, _ = train_and_register(tracker, model_name, tmp_path, seed=1)
    v2, _ = train_and_register(tracker, model_name, tmp_path, seed=2)
    tracker.promote_to_production(model_name, v1)
    tracker.promote_to_production(model_name, v2)
    tracker.client.delete_model_version(model_name, str(v1))
    before = snapshot(tracker, model_name)
    with pytest.raises(RegistryError, match="no longer exists"):
        tracker.rollback(model_name)
    assert snapshot(tracker, model_name) == before


def test_unknown_model_is_a_clear_error(tracker, model_name):
    with pytest.raises(RegistryError, match="not registered yet"):
        tracker.promote_to_production(model_name, 1)
    assert tracker.compare_models(model_name).empty
    assert tracker.audit_log(model_name).empty


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reason": "x" * 10_000}, "keep it under"),
        ({"reason": "line\nbreak"}, "control characters"),
        ({"user": "\x1b[31mroot"}, "control characters"),
        ({"stage": "Archived"}, "Production or Staging"),
        ({"expected_current": "2; drop"}, "not a version number"),
    ],
)
def test_hostile_promotion_input_changes_nothing(tracker, model_name, tmp_path, kwargs, message):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    tracker.promote_to_production(model_name, version)
    before = snapshot(tracker, model_name)
    with pytest.raises(RegistryError, match=message):
        tracker.promote_to_production(model_name, version, **kwargs)
    assert snapshot(tracker, model_name) == before


@pytest.mark.parametrize("name", ["../etc", "a'b", "x" * 200, "", "name.lock", "bad name"])
def test_bad_model_names_are_refused(tracker, name):
    with pytest.raises(RegistryError, match="model name"):
        tracker.compare_models(name)


def test_stale_expectation_is_a_conflict_not_an_overwrite(tracker, model_name, tmp_path):
    for seed in (1, 2, 3):
        train_and_register(tracker, model_name, tmp_path, seed=seed)
    tracker.promote_to_production(model_name, 1, expected_current=None)
    tracker.promote_to_production(model_name, 2, expected_current=1, user="ana")
    with pytest.raises(PromotionConflict, match="Production is now v2"):
        tracker.promote_to_production(model_name, 3, expected_current=1, user="ben")
    assert tracker.current_version(model_name) == 2
    with pytest.raises(PromotionConflict, match="Production is now v2"):
        tracker.rollback(model_name, expected_current=3)
    assert tracker.current_version(model_name) == 2
    audit = tracker.audit_log(model_name)
    successes = audit[audit["status"] == "ok"]
    assert successes["to_version"].iloc[-1] == 2
    assert (audit["status"] == "conflict").sum() == 2
    # The right expectation goes through.
    tracker.rollback(model_name, expected_current=2)
    assert tracker.current_version(model_name) == 1


def test_promoting_the_current_version_is_a_no_op(tracker, model_name, tmp_path):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    tracker.promote_to_production(model_name, version)
    result = tracker.promote_to_production(model_name, version)
    assert result.changed is False
    assert len(tracker.audit_log(model_name)) == 1


def test_promote_best_model_respects_the_threshold(tracker, model_name, tmp_path):
    train_and_register(tracker, model_name, tmp_path, accuracy=0.80, seed=1)
    assert tracker.promote_best_model(model_name, threshold=0.85) is None
    assert tracker.current_version(model_name) is None
    train_and_register(tracker, model_name, tmp_path, accuracy=0.88, seed=2)
    train_and_register(tracker, model_name, tmp_path, accuracy=0.86, seed=3)
    result = tracker.promote_best_model(model_name, threshold=0.85)
    assert result is not None and result.version == 2
    assert tracker.current_version(model_name) == 2


def test_set_description(tracker, model_name, tmp_path):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    tracker.set_description(model_name, version, "xgboost - Accuracy: 0.9000 (checked)")
    assert tracker.compare_models(model_name)["description"].item().endswith("(checked)")


def test_register_refuses_incomplete_artifacts(tracker, model_name, tmp_path):
    tracker.start_run("no_model")
    with pytest.raises(RegistryError, match="log_model_dir"):
        tracker.register_model(model_name, "nothing uploaded")
    tracker.end_run("FAILED")

    X, y = make_data()
    folder = tmp_path / "model"
    estimator = xgboost.XGBClassifier(n_estimators=5).fit(X, y)
    sha = artifacts.write_model_dir(estimator, "xgboost", {"feature_columns": COLUMNS}, folder)
    run_id = tracker.start_run("half_uploaded")
    tracker.log_model_dir(folder, sha)
    run = tracker.client.get_run(run_id)
    uploaded = artifact_folder(run.info.artifact_uri) / "model"
    (uploaded / "manifest.json").unlink()  # as if the upload died before its last file
    with pytest.raises(RegistryError, match="incomplete"):
        tracker.register_model(model_name, "half")
    tracker.end_run("FAILED")
    assert tracker.compare_models(model_name).empty
    problems = tracker.doctor(model_name)
    assert any(run_id in problem and "no registered version" in problem for problem in problems)


def test_log_model_dir_refuses_a_mismatched_hash(tracker, tmp_path):
    X, y = make_data()
    folder = tmp_path / "model"
    estimator = xgboost.XGBClassifier(n_estimators=5).fit(X, y)
    artifacts.write_model_dir(estimator, "xgboost", {"feature_columns": COLUMNS}, folder)
    tracker.start_run("bad_hash")
    with pytest.raises(UntrustedModelError):
        tracker.log_model_dir(folder, "0" * 64)
    tracker.end_run("FAILED")


class MarkerPayload:
    """Unpickling this creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("tampering", ["flipped_byte", "pickle", "loader_module", "code_folder"])
def test_tampered_registered_artifacts_are_refused(tracker, model_name, tmp_path, store, tampering):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    tracker.promote_to_production(model_name, version)
    info = registry.resolve_version(model_name, settings=store)
    folder = artifact_folder(info.source)
    marker = tmp_path / "marker"
    if tampering == "flipped_byte":
        data = bytearray((folder / "model.ubj").read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / "model.ubj").write_bytes(bytes(data))
    elif tampering == "pickle":
        (folder / "model.ubj").write_bytes(pickle.dumps(MarkerPayload(marker)))
    elif tampering == "loader_module":
        text = (folder / "MLmodel").read_text()
        (folder / "MLmodel").write_text(text.replace("mlflow.xgboost", "evil.loader"))
    else:
        (folder / "code").mkdir()
        (folder / "code" / "payload.py").write_text(f"open({str(marker)!r}, 'w')\n")
    with pytest.raises(UntrustedModelError, match="untrusted model"):
        load_model_from_registry(model_name, settings=store)
    assert not marker.exists()
    problems = tracker.doctor(model_name)
    assert any(f"v{version}" in problem and "untrusted model" in problem for problem in problems)
    assert any("alias production points to" in problem for problem in problems)


def test_missing_artifacts_are_reported_by_doctor(tracker, model_name, tmp_path, store):
    version, _ = train_and_register(tracker, model_name, tmp_path)
    info = registry.resolve_version(model_name, version=version, settings=store)
    for file in artifact_folder(info.source).iterdir():
        file.unlink()
    problems = tracker.doctor(model_name)
    assert any(f"v{version}" in problem for problem in problems)


def test_alias_moved_outside_is_reported_by_doctor(tracker, model_name, tmp_path):
    for seed in (1, 2):
        train_and_register(tracker, model_name, tmp_path, seed=seed)
    tracker.promote_to_production(model_name, 1)
    tracker.client.set_registered_model_alias(model_name, "production", "2")
    problems = tracker.doctor(model_name)
    assert any("audit trail" in problem for problem in problems)


def test_promotion_lock_waits_then_breaks_a_stale_lock(tracker, model_name, tmp_path):
    train_and_register(tracker, model_name, tmp_path)
    lock_name = f"{model_name}.lock"
    tracker.client.create_registered_model(lock_name, tags={"owner": "crashed"})
    with pytest.raises(RegistryError, match="in progress"):
        with registry._promotion_lock(tracker.client, model_name, timeout=0.3, stale_after=60):
            pass
    time.sleep(0.2)
    with registry._promotion_lock(tracker.client, model_name, timeout=2, stale_after=0.1):
        assert tracker.client.get_registered_model(lock_name).tags["owner"] != "crashed"
    assert not tracker.client.search_registered_models(f"name='{lock_name}'")


@pytest.mark.slow
def test_racing_promoters_leave_exactly_one_production(store, model_name, tmp_path):
    trackers = [
        MLflowTracker(experiment_name=f"exp_{model_name}", settings=store) for _ in range(4)
    ]
    for seed in range(4):
        train_and_register(trackers[0], model_name, tmp_path, seed=seed)
    trackers[0].promote_to_production(model_name, 1)
    conflicts = 0
    for _ in range(5):
        current = trackers[0].current_version(model_name)
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def promote(index: int, expected: int, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                trackers[index].promote_to_production(
                    model_name, index + 1, expected_current=expected, user=f"user{index}"
                )
                outcomes.append("ok")
            except PromotionConflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=promote, args=(i, current)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        conflicts += outcomes.count("conflict")
        assert outcomes.count("ok") >= 1
        registered = trackers[0].client.get_registered_model(model_name)
        holder = int(registered.aliases["production"])
        audit = trackers[0].audit_log(model_name)
        assert audit[audit["status"] == "ok"]["to_version"].iloc[-1] == holder
        stages = trackers[0].compare_models(model_name)["stage"].tolist()
        assert stages.count("Production") == 1
    assert conflicts >= 5  # the promoter that kept the current version is a no-op, others conflict


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_store(tmp_path):
    code = (
        "import sys; from pathlib import Path; from core.config import Settings;"
        "from core.registry import MLflowTracker;"
        "root = Path(sys.argv[1]);"
        "s = Settings(tracking_uri=f'sqlite:///{root}/mlflow.db', artifacts_dir=root / 'art');"
        "t = MLflowTracker(settings=s); t.start_run('cold'); t.end_run()"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=180)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], errors
    settings = Settings(
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifacts_dir=tmp_path / "art"
    )
    tracker = MLflowTracker(settings=settings)
    runs = tracker.client.search_runs([tracker.experiment_id])
    assert len(runs) == 4
    assert Path(urlparse(runs[0].info.artifact_uri).path).is_relative_to(tmp_path / "art")


def test_cli(store, tracker, model_name, tmp_path, monkeypatch, capsys):
    train_and_register(tracker, model_name, tmp_path, seed=1)
    train_and_register(tracker, model_name, tmp_path, seed=2)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(store.artifacts_dir))
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"exp_{model_name}")
    monkeypatch.setenv("MLFLOW_MODEL_NAME", model_name)
    # promote/rollback export the local fallback: into this test's folder, not the project's models/
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(tmp_path / "models"))

    def run(*argv: str) -> tuple[int, str, str]:
        code = registry.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("promote", "abc")
    assert code == 2 and out == "" and err.count("\n") == 1 and "not a version number" in err
    code, _, err = run("rollback")
    assert code == 2 and "nothing to roll back" in err
    assert run("promote", "1", "--reason", "first", "--user", "ana")[0] == 0
    code, out, _ = run("promote", "2", "--reason", "second", "--expect", "1")
    assert code == 0 and "v2 is now Production (was v1)" in out
    code, _, err = run("promote", "1", "--expect", "1")
    assert code == 2 and "Production is now v2" in err
    code, out, _ = run("list")
    assert code == 0 and "Production" in out and "Archived" in out
    assert run("compare")[0] == 0
    assert run("rollback", "--reason", "bad")[0] == 0
    code, out, _ = run("audit")
    assert code == 0 and "rollback" in out and "bad" in out
    code, out, _ = run("doctor")
    assert code == 0 and "no inconsistencies" in out
    info = registry.resolve_version(model_name, version=2, settings=store)
    (artifact_folder(info.source) / "metadata.json").write_text(json.dumps({"evil": True}))
    code, out, _ = run("doctor")
    assert code == 1 and "v2" in out


def test_no_forbidden_mlflow_calls_in_the_code():
    # Spelled in pieces so that a grep of the repository finds these names nowhere.
    forbidden = ("transition_model_version" + "_stage", "get_latest" + "_versions")
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {name}"
        for folder in ("core", "app", "pages")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        for name in forbidden
        if name in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_rollbacks_walk_back_through_the_production_history(tracker, model_name, tmp_path):
    for seed in (1, 2, 3, 4):
        train_and_register(tracker, model_name, tmp_path, seed=seed)
        tracker.promote_to_production(model_name, seed, reason=f"release {seed}", user="ana")
    assert [row.version for row in tracker.earlier_holders(model_name)] == [3, 2, 1]
    assert tracker.earlier_holders(model_name)[0].reason == "release 3"
    steps = [tracker.rollback(model_name, reason=f"back {i}", user="ben") for i in range(3)]
    assert [(s.version, s.previous_version, s.action) for s in steps] == [
        (3, 4, "rollback"),
        (2, 3, "rollback"),
        (1, 2, "rollback"),
    ]
    with pytest.raises(RegistryError, match="no earlier Production"):
        tracker.rollback(model_name)  # never forward
    # Undoing a rollback is a promotion; then --to picks an earlier holder directly.
    tracker.promote(model_name, 4, reason="v4 fixed", expected_current=1)
    # The rollback path is v1; v2 and v3 were rolled back over but can still be chosen by --to.
    assert [(row.version, row.rolled_back_over) for row in tracker.earlier_holders(model_name)] == [
        (1, False), (2, True), (3, True),
    ]  # fmt: skip
    for version in (2, 3):
        tracker.promote(model_name, version)
    tracker.promote(model_name, 4, reason="again")
    with pytest.raises(RegistryError, match=r"has no version 5"):
        tracker.rollback(model_name, to=5)
    train_and_register(tracker, model_name, tmp_path, seed=5)  # v5: registered, never promoted
    with pytest.raises(
        RegistryError, match=r"never held Production. Versions that did: v3, v2, v1"
    ):
        tracker.rollback(model_name, to=5)
    result = tracker.rollback(model_name, to=2, reason="pick v2")
    assert (result.version, result.previous_version, result.changed) == (2, 4, True)
    # The history is now v1, v4, v2: the next rollback goes to v4, then v1 (v3 rolled back over).
    holders = tracker.earlier_holders(model_name)
    assert [row.version for row in holders if not row.rolled_back_over] == [4, 1]
    assert [row.version for row in holders if row.rolled_back_over] == [3]
    entries = tracker.audit(model_name)
    assert isinstance(entries[0], registry.AuditEntry)
    assert [(e.action, e.from_version, e.to_version) for e in entries if e.done][-5:] == [
        ("promote", 1, 4),
        ("promote", 4, 2),
        ("promote", 2, 3),
        ("promote", 3, 4),
        ("rollback", 4, 2),
    ]


def test_rollback_skips_versions_that_no_longer_exist(tracker, model_name, tmp_path):
    for seed in (1, 2, 3):
        train_and_register(tracker, model_name, tmp_path, seed=seed)
        tracker.promote_to_production(model_name, seed)
    tracker.client.delete_model_version(model_name, "2")
    assert [row.version for row in tracker.earlier_holders(model_name)] == [1]
    assert tracker.rollback(model_name).version == 1
    tracker.promote(model_name, 3)
    with pytest.raises(RegistryError, match="has no version 2"):
        tracker.rollback(model_name, to=2)  # deleted: no longer offered


def test_any_and_none_expectations(tracker, model_name, tmp_path):
    train_and_register(tracker, model_name, tmp_path, seed=1)
    train_and_register(tracker, model_name, tmp_path, seed=2)
    with pytest.raises(PromotionConflict):
        tracker.promote(model_name, 1, expected_current=2)  # v2 does not hold it: nobody does
    assert tracker.promote(model_name, 1, expected_current=None).changed
    with pytest.raises(PromotionConflict, match="Production is now v1"):
        tracker.promote(model_name, 2, expected_current=None)
    assert tracker.promote(model_name, 2, expected_current=registry.ANY).previous_version == 1


def test_rollback_cli_with_to(store, tracker, model_name, tmp_path, monkeypatch, capsys):
    for seed in (1, 2, 3, 4):
        train_and_register(tracker, model_name, tmp_path, seed=seed)
        tracker.promote_to_production(model_name, seed)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(store.artifacts_dir))
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"exp_{model_name}")
    monkeypatch.setenv("MLFLOW_MODEL_NAME", model_name)
    # rollback exports the local fallback: into this test's folder, not the project's models/
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(tmp_path / "models"))
    assert registry.main(["rollback", "--to", "2", "--reason", "cli"]) == 0
    assert "v2 is now Production (was v4)" in capsys.readouterr().out
    assert registry.main(["rollback", "--to", "9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "has no version 9" in err
    # v3 held Production before (then was rolled back over): --to may still choose it.
    assert registry.main(["rollback", "--to", "3", "--reason", "cli"]) == 0
    assert "v3 is now Production (was v2)" in capsys.readouterr().out
    assert tracker.current_version(model_name) == 3
    assert artifacts.read_installed(tmp_path / "models").model_version == "3"


def test_seed_guide_snippets_run_verbatim(tmp_path, monkeypatch, capsys):
    """The guide's Python, word for word, against a tmp SQLite store (imports adapted only).

    promote_to_production also exports the local fallback, as the CLI's promote does: after the
    guide's rollback to version 2, models/ holds version 2, and the guide's lines are all it prints.
    """
    store = Settings(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifacts_dir=tmp_path / "art",
                     models_dir=tmp_path / "models")  # fmt: skip
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(store.artifacts_dir))
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(store.models_dir))
    MLflowTracker(settings=store)  # create the store
    seed_tracker = MLflowTracker(experiment_name="battle_winner_production")
    for seed in (1, 2):
        train_and_register(seed_tracker, "battle_winner_predictor", tmp_path, seed=seed)
    # Scenario 1: register the active run's model, promote it above the threshold.
    tracker = MLflowTracker(experiment_name="battle_winner_production")
    X, y = make_data(seed=3)
    folder = tmp_path / "m3"
    sha = artifacts.write_model_dir(
        xgboost.XGBClassifier(n_estimators=3).fit(X, y), "xgboost", {"feature_columns": COLUMNS},
        folder,
    )  # fmt: skip
    tracker.start_run(run_name="train_model_v4")
    tracker.log_model_dir(folder, sha)
    model_name, accuracy, metrics = "xgboost", 0.9, {"test_accuracy": 0.9}
    # fmt: off
    version_number = tracker.register_model(
        model_name="battle_winner_predictor",
        description=f"{model_name} - Accuracy: {accuracy:.4f}"
    )
    if version_number and metrics['test_accuracy'] >= 0.85:
        tracker.promote_to_production("battle_winner_predictor", version_number)
        print("✅ Model promoted to Production")
    tracker.end_run()
    model_bundle = load_model_from_registry(
        model_name="battle_winner_predictor",
        stage="Production"  # or "Staging"
    )
    # fmt: on
    # Scenario 2: compare and promote by hand.
    tracker = MLflowTracker(experiment_name="battle_winner_production")
    tracker.start_run(run_name="model_comparison")
    df = tracker.compare_models("battle_winner_predictor")
    print(df)
    tracker.promote_to_production("battle_winner_predictor", version=2)
    tracker.end_run()
    # Scenario 3: go back to the previous version.
    tracker.promote_to_production("battle_winner_predictor", version=2)

    assert version_number == 3 and model_bundle[1].version == 3
    assert list(df["version"]) == [3, 2, 1] and df.loc[0, "stage"] == "Production"
    assert tracker.current_version("battle_winner_predictor") == 2
    assert artifacts.read_installed(store.models_dir).model_version == "2"
    artifacts.verify_model_dir(store.models_dir)  # every hash checked
    printed = capsys.readouterr().out
    assert printed.startswith("✅ Model promoted to Production\n") and "fallback" not in printed


@pytest.mark.parametrize(
    ("raised", "status"),
    [(None, "FINISHED"), (ValueError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")],
)
def test_run_logger_ends_the_run_by_how_the_block_ended(store, model_name, raised, status):
    """FINISHED when the block completes, FAILED on an error, KILLED on an interrupt (Cancel)."""
    from core.registry import Registry

    settings = Settings(**{**store.__dict__, "experiment_name": f"exp_{model_name}"})
    reg = Registry(settings)
    run_id = None
    with pytest.raises(type(raised)) if raised else contextlib.nullcontext():
        with reg.run("lifecycle") as run:
            run_id = run.run_id
            run.log_metrics({"x": 1.0})
            if raised:
                raise raised
    client = MLflowTracker(settings=settings).client
    assert client.get_run(run_id).info.status == status


def test_key_parameters_read_as_documented() -> None:
    """'150 trees · depth 4 · lr 0.1': trees first by count, the others by name."""
    params = {"n_estimators": "150", "max_depth": "4", "learning_rate": "0.1"}
    assert key_parameters(params) == "150 trees · depth 4 · lr 0.1"
    assert key_parameters({"n_estimators": "10", "max_depth": "None"}) == "10 trees"
    assert key_parameters({}) == ""
