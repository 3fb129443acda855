"""Team mode without Docker: real PostgreSQL + a real `mlflow server` on it, end to end.

Trains, promotes, rolls back and predicts through the server, as the compose file's services do.
Runs in CI: `.ci/run` -> `make test` installs Debian's PostgreSQL when it is missing.
"""

import pytest

from core.config import Settings
from core.predict import PredictionModel
from core.registry import MLflowTracker
from core.train import TrainConfig, train_model

pytestmark = [pytest.mark.server, pytest.mark.slow]
SMALL = dict(n_battles=3000, oracle_sample=100, oracle_replays=50, params={"n_estimators": 30})


def test_train_promote_rollback_predict_on_postgres(postgres_mlflow_server, tmp_path):
    assert postgres_mlflow_server.backend_uri.startswith("postgresql")
    settings = Settings(
        tracking_uri=postgres_mlflow_server.url,
        models_dir=tmp_path / "models",
        registry_ttl_seconds=0.0,
    )
    first = train_model(TrainConfig(seed=1, **SMALL), settings)
    second = train_model(TrainConfig(seed=2, **SMALL), settings)
    assert (first.version, second.version) == (1, 2)
    assert first.promoted and second.promoted
    # The artifacts went through the server (served artifacts), not to a local path.
    tracker = MLflowTracker(settings=settings)
    table = tracker.compare_models(settings.model_name)
    assert list(table["version"]) == [2, 1]
    assert table.set_index("version").loc[2, "stage"] == "Production"

    server_model = PredictionModel(settings)
    served = server_model.load()
    assert (served.source, served.model_version) == ("registry", "2")

    tracker.rollback(settings.model_name, reason="team-mode drill", user="ops", expected_current=2)
    assert tracker.current_version(settings.model_name) == 1
    prediction = server_model.predict_winner("Pikachu", "Onix")
    assert prediction.source == "registry" and prediction.model_version == "1"
    assert prediction.winner in ("Pikachu", "Onix") and 0.0 <= prediction.p_a_wins <= 1.0

    tracker.promote_to_production(settings.model_name, 2, reason="re-promote", user="ops",
                                  expected_current=1)  # fmt: skip
    audit = tracker.audit_log(settings.model_name)
    ok = audit[audit["status"] == "ok"]
    assert list(ok["action"])[-2:] == ["rollback", "promote"]
    assert list(ok["to_version"].astype(int))[-2:] == [1, 2]
    assert tracker.doctor(settings.model_name) == []
