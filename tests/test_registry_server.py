"""The registry workflow end to end against a real `mlflow server` process on 127.0.0.1."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core import registry
from core.artifacts import UntrustedModelError
from core.config import Settings
from core.registry import MLflowTracker, PromotionConflict, RegistryError
from tests.test_registry import make_data, train_and_register

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_workflow_against_a_real_server(mlflow_server, tmp_path):
    settings = Settings(
        tracking_uri=mlflow_server.url,
        artifacts_dir=tmp_path / "unused",
        models_dir=tmp_path / "models",
    )
    tracker = MLflowTracker(settings=settings)
    name = "battle_winner_predictor"

    v1, estimator1 = train_and_register(tracker, name, tmp_path, accuracy=0.87, seed=1)
    tracker.promote_to_production(name, v1, reason="first", user="ana")
    v2, _ = train_and_register(tracker, name, tmp_path, accuracy=0.91, seed=2)
    assert (v1, v2) == (1, 2)
    frame = tracker.compare_models(name)
    assert dict(zip(frame["version"], frame["stage"], strict=True)) == {2: "none", 1: "Production"}
    assert frame["accuracy"].tolist() == pytest.approx([0.91, 0.87])

    tracker.promote_to_production(name, v2, reason="better", user="ben", expected_current=v1)
    with pytest.raises(PromotionConflict, match="Production is now v2"):
        tracker.promote_to_production(name, v1, expected_current=v1)
    with pytest.raises(RegistryError, match="does not exist"):
        tracker.promote_to_production(name, 42)

    tracker.rollback(name, reason="v2 misbehaves", user="ana")
    frame = tracker.compare_models(name)
    assert dict(zip(frame["version"], frame["stage"], strict=True)) == {
        2: "Archived",
        1: "Production",
    }
    audit = tracker.audit_log(name)
    successes = audit[audit["status"] == "ok"]
    assert list(successes["action"]) == ["promote", "promote", "rollback"]
    assert list(successes["to_version"]) == [1, 2, 1]
    assert list(successes["reason"]) == ["first", "better", "v2 misbehaves"]

    bundle, info = registry.load_model_from_registry(name, settings=settings)
    assert info.version == 1 and info.source.startswith("mlflow-artifacts:")
    X, _ = make_data(40, seed=5)
    np.testing.assert_array_equal(bundle.predict_proba(X), estimator1.predict_proba(X)[:, 1])
    assert tracker.doctor(name) == []

    # Racing promoters through the server: exactly one wins, the others get a conflict.
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def promote(version: int) -> None:
        racer = MLflowTracker(settings=settings)
        barrier.wait()
        try:
            racer.promote_to_production(name, version, expected_current=1)
            outcomes.append("ok")
        except PromotionConflict:
            outcomes.append("conflict")

    v3, _ = train_and_register(tracker, name, tmp_path, seed=3)
    threads = [threading.Thread(target=promote, args=(v,)) for v in (v2, v3, v2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "ok"]
    assert tracker.compare_models(name)["stage"].tolist().count("Production") == 1

    # Tampering on the server's artifact store is refused on load and reported by doctor.
    holder = tracker.current_version(name)
    info = registry.resolve_version(name, version=holder, settings=settings)
    model_files = list(mlflow_server.artifacts_dir.rglob(f"{info.run_id}/**/model.ubj"))
    assert len(model_files) == 1
    data = bytearray(model_files[0].read_bytes())
    data[len(data) // 2] ^= 0x01
    model_files[0].write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError, match="untrusted model"):
        registry.load_model_from_registry(name, settings=settings)
    assert any(f"v{holder}" in problem for problem in tracker.doctor(name))
