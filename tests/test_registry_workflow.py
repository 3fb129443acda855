"""The seed guide's whole workflow with real training, on a SQLite store and on a real server.

train -> v1 registered with metrics and artifacts -> promoted -> a second run -> v2 ->
compare_models shows both with the right stages -> manual promote -> rollback restores the
previous Production -> the audit log lists each action with from/to/reason.
"""

import pytest

from core.config import Settings
from core.registry import MLflowTracker, load_model_from_registry
from core.train import TrainConfig, train_model

pytestmark = pytest.mark.slow
SMALL = dict(n_battles=3000, oracle_sample=100, oracle_replays=50, params={"n_estimators": 25})


def run_workflow(settings: Settings) -> None:
    first = train_model(TrainConfig(seed=1, version_label="v1", **SMALL), settings)
    assert first.version == 1 and first.promoted
    bundle, info = load_model_from_registry(settings.model_name, settings=settings)
    assert info.version == 1 and info.stage == "Production" and bundle.model_type == "xgboost"
    second = train_model(TrainConfig(seed=2, threshold=0.999, **SMALL), settings)
    assert second.version == 2 and not second.promoted

    tracker = MLflowTracker(settings=settings)
    table = tracker.compare_models(settings.model_name).set_index("version")
    assert list(table.index) == [2, 1]
    assert table.loc[1, "stage"] == "Production" and table.loc[2, "stage"] == "none"
    assert table.loc[2, "accuracy"] == pytest.approx(second.metrics["test_accuracy"])
    assert table.loc[1, "oracle_accuracy"] == pytest.approx(first.metrics["oracle_accuracy"])

    tracker.promote_to_production(settings.model_name, 2, reason="manual: seed scenario 2",
                                  user="analyst", expected_current=1)  # fmt: skip
    table = tracker.compare_models(settings.model_name).set_index("version")
    assert (table.loc[2, "stage"], table.loc[1, "stage"]) == ("Production", "Archived")

    tracker.rollback(settings.model_name, reason="seed scenario 3", user="analyst")
    assert tracker.current_version(settings.model_name) == 1
    _, info = load_model_from_registry(settings.model_name, settings=settings)
    assert info.version == 1

    audit = tracker.audit_log(settings.model_name)
    done = audit[audit["status"] == "ok"][["action", "from_version", "to_version", "reason"]]
    rows = [tuple(r) for r in done.astype(str).itertuples(index=False)]
    assert [r[0] for r in rows] == ["promote", "promote", "rollback"]
    assert [(r[1], r[2]) for r in rows][1:] == [("1", "2"), ("2", "1")]
    assert rows[1][3] == "manual: seed scenario 2" and rows[2][3] == "seed scenario 3"
    assert tracker.doctor(settings.model_name) == []


def test_workflow_on_sqlite(settings_factory):
    run_workflow(settings_factory())


@pytest.mark.server
def test_workflow_on_a_real_mlflow_server(mlflow_server, tmp_path):
    run_workflow(Settings(tracking_uri=mlflow_server.url, models_dir=tmp_path / "models"))
