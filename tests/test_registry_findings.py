"""A new user's registry findings, on a real SQLite store: rollback after an alias moved outside
PredictionDex, one wording of the audit trail, stage labels, doctor's hints, NoModelError's ways
out."""

from __future__ import annotations

import pytest
import xgboost

from core import artifacts, registry
from core.config import Settings
from core.predict.export import sync_local_fallback
from core.registry import MLflowTracker, NoModelError, RegistryError, load_model_from_registry
from tests.test_registry import COLUMNS, make_data, train_and_register

POLICY_REASON = "not promoted: v3 is not better than Production v2: log loss 0.41 vs 0.40"


@pytest.fixture
def settings(settings_factory) -> Settings:
    """A fresh store of this test's own (the configured model name, so doctor checks models/)."""
    return settings_factory(with_store=True)


@pytest.fixture
def tracker(settings: Settings) -> MLflowTracker:
    return MLflowTracker(settings=settings)


def register(tracker: MLflowTracker, tmp_path, count: int) -> list[int]:
    name = tracker.settings.model_name
    return [train_and_register(tracker, name, tmp_path, seed=seed)[0] for seed in range(count)]


def run_cli(settings: Settings, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    code = registry.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rollback_after_the_alias_went_back_outside_steps_below_its_last_entry(tracker, tmp_path):
    name = tracker.settings.model_name
    register(tracker, tmp_path, 3)
    for version in (1, 2, 3):
        tracker.promote(name, version, reason=f"v{version}")
    tracker.rollback(name, reason="v3 is bad")  # 3 -> 2
    tracker.client.set_registered_model_alias(name, "production", "3")  # outside PredictionDex
    result = tracker.rollback(name, reason="again")
    assert (result.previous_version, result.version) == (3, 2)


def test_rollback_from_a_holder_the_trail_never_saw_names_the_way_out(tracker, tmp_path):
    name = tracker.settings.model_name
    register(tracker, tmp_path, 3)
    tracker.promote(name, 1, reason="first")
    tracker.promote(name, 2, reason="second")
    tracker.record_decision(name, 3, reason=POLICY_REASON, user="training")
    tracker.rollback(name, reason="v2 is bad")  # 2 -> 1
    tracker.client.set_registered_model_alias(name, "production", "3")  # MlflowClient, outside
    with pytest.raises(RegistryError) as refused:
        tracker.rollback(name, reason="undo")
    message = str(refused.value)
    assert "first in the audit trail" not in message
    assert "never saw v3 hold Production" in message and "not promoted decision" in message
    assert "the trail's last Production holder is v1" in message
    assert "python -m core.registry rollback --to 1" in message
    assert tracker.current_version(name) == 3  # refused: nothing changed
    assert tracker.rollback(name, to=1, reason="the way out").version == 1


def test_a_kept_decision_reads_the_same_in_the_cli_and_on_the_page(
    tracker, tmp_path, settings, monkeypatch, capsys
):
    from app.versions import audit_table
    from core.registry.audit import plain_frame

    name = tracker.settings.model_name
    register(tracker, tmp_path, 3)
    tracker.promote(name, 1, reason="first")
    tracker.promote(name, 2, reason="second")
    tracker.record_decision(name, 3, reason=POLICY_REASON, user="training")
    tracker.record_decision(name, 3, reason="Model registered but not promoted (accuracy < 0.85)")
    plain = plain_frame(tracker.audit_frame(name))
    kept = plain.iloc[2]
    assert (kept["action"], kept["from_version"], kept["to_version"]) == (
        "kept Production v2", "v2", "—",
    )  # fmt: skip
    assert (
        kept["reason"]
        == "v3 not promoted: v3 is not better than Production v2: log loss 0.41 vs 0.40"
    )
    assert plain.iloc[3]["reason"] == "v3 not promoted (accuracy < 0.85)"
    assert (plain.iloc[0]["from_version"], plain.iloc[0]["to_version"]) == ("—", "v1")
    page = audit_table(tracker.audit_log(name))  # newest first
    assert list(page["reason"]) == list(plain["reason"])[::-1]
    assert list(page["action"]) == list(plain["action"])[::-1]
    code, out, _ = run_cli(settings, monkeypatch, capsys, "audit")
    assert code == 0 and "kept Production v2" in out and "<NA>" not in out
    assert "not promoted: not promoted" not in out and "v3 not promoted: v3 is not better" in out


def test_stage_labels_never_say_none_and_a_holder_lost_outside_is_archived(
    tracker, tmp_path, settings, monkeypatch, capsys
):
    name = tracker.settings.model_name
    register(tracker, tmp_path, 4)
    tracker.promote(name, 1, reason="first")
    tracker.promote(name, 2, reason="second")  # v1 Archived by the tool
    tracker.rollback(name, reason="back")  # v2 Archived by the tool, v1 again
    tracker.client.set_registered_model_alias(name, "production", "3")  # v1 loses it outside
    stages = dict(zip(*tracker.compare_table(name)[["version", "stage"]].T.values, strict=True))
    assert stages == {4: "none", 3: "Production", 2: "Archived", 1: "Archived"}
    assert {info.version: info.stage for info in tracker.list_versions(name)} == stages
    for command in ("list", "compare"):
        code, out, _ = run_cli(settings, monkeypatch, capsys, command)
        assert code == 0 and "None" not in out and "none" in out


def test_every_doctor_finding_says_what_to_do(tracker, tmp_path, settings, monkeypatch, capsys):
    name = tracker.settings.model_name
    register(tracker, tmp_path, 2)
    tracker.promote(name, 1, reason="first")
    tracker.client.set_registered_model_alias(name, "production", "2")  # outside
    X, y = make_data(60)
    folder = tmp_path / "unregistered"
    estimator = xgboost.XGBClassifier(n_estimators=2).fit(X, y)
    sha = artifacts.write_model_dir(estimator, "xgboost", {"feature_columns": COLUMNS}, folder)
    with tracker.run("stopped before registering") as run:
        run_id = run.active()
        run.log_model_dir(folder, sha)
    problems = tracker.doctor(name)
    moved = next(p for p in problems if "audit trail's last" in p)
    assert "alias production is on v2" in moved
    assert "python -m core.registry promote 1" in moved and "promote 2" in moved
    unregistered = next(p for p in problems if "no registered version" in p)
    assert "register it" in unregistered and run_id in unregistered
    code, out, _ = run_cli(settings, monkeypatch, capsys, "promote", "2", "--reason", "keep it")
    assert code == 0 and "recorded in the audit trail" in out  # the hint's way to keep v2
    assert not any("audit trail's last" in p for p in tracker.doctor(name))
    assert tracker.rollback(name, reason="back").version == 1  # the trail knows v1 came before
    tracker.client.delete_registered_model_alias(name, "production")
    problems = tracker.doctor(name)
    assert not any("vNone" in p for p in problems)
    assert any("alias production is on no version" in p for p in problems)
    for problem in problems:
        assert "`python -m" in problem or "`Registry()" in problem, problem
    code, out, _ = run_cli(settings, monkeypatch, capsys, "doctor")
    assert code == 1 and "vNone" not in out


def test_doctor_flags_a_local_fallback_whose_version_was_deleted(tracker, tmp_path, settings):
    name = tracker.settings.model_name
    register(tracker, tmp_path, 2)
    tracker.promote(name, 1, reason="first")
    assert sync_local_fallback(name, "Production", 1, settings).outcome != "failed"
    assert artifacts.read_installed(settings.models_dir).model_version == "1"
    assert tracker.doctor(name) == []
    tracker.client.delete_model_version(name, "1")  # the alias goes with it
    problems = tracker.doctor(name)
    fallback = [p for p in problems if p.startswith("the local fallback")]
    assert len(fallback) == 1 and "holds v1, which no longer exists" in fallback[0]
    assert "python -m core.registry promote VERSION" in fallback[0]


def test_no_model_error_suggests_only_the_ways_out_that_exist(tracker, tmp_path, settings):
    name = tracker.settings.model_name
    with pytest.raises(NoModelError) as unregistered:
        load_model_from_registry(name, settings=settings)
    assert "python -m core.train" in str(unregistered.value)
    assert "core.registry promote" not in str(unregistered.value)
    assert "Staging" not in str(unregistered.value)
    register(tracker, tmp_path, 2)
    with pytest.raises(NoModelError) as no_staging:
        load_model_from_registry(name, settings=settings)
    message = str(no_staging.value)
    assert "python -m core.registry promote VERSION" in message
    assert "MLFLOW_MODEL_STAGE=Staging" not in message and no_staging.value.hint in message
    tracker.promote(name, 2, stage="Staging", reason="try")
    with pytest.raises(NoModelError) as with_staging:
        load_model_from_registry(name, settings=settings)
    assert "use Staging (v2) temporarily: `export MLFLOW_MODEL_STAGE=Staging`" in str(
        with_staging.value
    )


def test_serving_without_a_fallback_names_the_staging_holder_too(tracker, tmp_path, settings):
    from core.predict import PredictionModel

    name = tracker.settings.model_name
    register(tracker, tmp_path, 2)
    tracker.promote(name, 2, stage="Staging", reason="try")
    with pytest.raises(NoModelError) as error:
        PredictionModel(settings).get_model()
    message = str(error.value)
    assert "use Staging (v2) temporarily: `export MLFLOW_MODEL_STAGE=Staging`" in message, message
    assert "python -m core.registry promote VERSION" in message
