"""The Models page with AppTest on a real store: curves of a version with a stored evaluation,
the compare view of two non-Production versions, the note for an older version; what each number
is compared with (deltas on different test battles are neutral, every table column explained);
and a decision that moved nothing reads as one in the audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from app import versions
from core import artifacts
from core.config import Settings
from core.dataset import generate_dataset, split_by_matchup
from core.evaluate.metrics import FeatureRows
from core.features import FEATURE_COLUMNS
from core.registry import MLflowTracker
from core.train import TrainConfig, train_model
from core.train.pipeline import make_estimator
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"
SMALL = {"n_battles": 6000, "oracle_sample": 200, "oracle_replays": 40}


def register_without_evaluation(settings: Settings, workdir: Path) -> int:
    """A real battle model registered as versions were before evaluations were stored."""
    data = generate_dataset(6000, seed=4)
    rows = split_by_matchup(data, 0.2, seed=4)["train"]
    estimator = make_estimator("xgboost", {"n_estimators": 20, "max_depth": 3}, 4)
    estimator.fit(FeatureRows.of(data).rows(rows), data.winner[rows])
    metadata = {"feature_columns": FEATURE_COLUMNS, "roster": "letsgo",
                "dataset": {"seed": 4, "test_fraction": 0.2}}  # fmt: skip
    sha = artifacts.write_model_dir(estimator, "xgboost", metadata, workdir / "old")
    tracker = MLflowTracker(settings=settings)
    tracker.start_run("train_xgboost_old", tags={"version_label": "old"})
    tracker.log_params({"n_estimators": 20, "max_depth": 3, "data_seed": 4,
                        "data_test_fraction": 0.2})  # fmt: skip
    tracker.log_metrics({"test_accuracy": 0.9, "oracle_accuracy": 0.95})
    tracker.log_model_dir(workdir / "old", sha)
    version = tracker.register_model(settings.model_name, "before evaluations")
    tracker.end_run()
    return version


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """v1 Production (evaluated), v2 registered only (evaluated, other battles: seed 7), v3 older
    without evaluation, v4 registered only on v1's very battles (same seed, other depth)."""
    root = tmp_path_factory.mktemp("models-page")
    settings = Settings(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                        artifacts_dir=root / "mlartifacts", models_dir=root / "models")  # fmt: skip
    first = train_model(TrainConfig(**SMALL, threshold=0.0, version_label="first"), settings)
    second = train_model(TrainConfig(**SMALL, seed=7, promotion_policy="manual",
                                     version_label="second", export_local=False), settings)  # fmt: skip
    assert (first.version, first.promoted, second.version, second.promoted) == (1, True, 2, False)
    assert register_without_evaluation(settings, root) == 3
    fourth = train_model(TrainConfig(**SMALL, params={"max_depth": 2}, promotion_policy="manual",
                                     version_label="same battles", export_local=False), settings)  # fmt: skip
    assert (fourth.version, fourth.promoted) == (4, False)
    return settings


@pytest.fixture
def models_page(store: Settings, monkeypatch: pytest.MonkeyPatch):
    """The real router on the Models page, pointed at the module store, fresh caches."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(store.artifacts_dir))
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(store.models_dir))
    st.cache_data.clear()
    app = AppTest.from_file(str(MAIN), default_timeout=120)
    app.run()
    app.switch_page("../pages/models.py").run()
    assert not app.exception, [e.value for e in app.exception]
    yield app
    st.cache_data.clear()


def infos(app: AppTest) -> list[str]:
    return [str(element.value) for element in app.info]


@pytest.mark.slow
def test_a_version_with_an_evaluation_shows_its_curves(models_page):
    app = models_page
    assert app.selectbox(key="models_selected_version").value == 1
    options = app.selectbox(key="models_selected_version").options
    assert any('"first"' in option and "trees" in option for option in options), options
    assert len(app.get("plotly_chart")) >= 6  # metric, reliability, ROC, slices, confusion, gain
    assert not any("no evaluation stored" in text for text in infos(app))
    table = app.dataframe[0].value  # the versions table comes first
    gaps = dict(zip(table["version"], table["gap_to_oracle"], strict=True))
    assert gaps[3] == "no evaluation stored" and "[" in gaps[1] and not gaps[1].startswith("-")


@pytest.mark.slow
def test_compare_two_non_production_versions_and_the_note_for_an_old_one(models_page):
    app = models_page
    app.selectbox(key="models_selected_version").set_value(2).run()
    app.selectbox(key="models_compare_with").set_value(3).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "v3: no evaluation stored: run `python -m core.evaluate 3`" in infos(app)
    app.button(key="models_compare_run").click().run()
    assert not app.exception, [e.value for e in app.exception]
    verdicts = [str(m.value) for m in app.markdown if "against v3" in str(m.value)]
    assert verdicts and "p = " in verdicts[0] and "fresh battles" in verdicts[0], verdicts
    assert any(word in verdicts[0] for word in ("better", "worse", "no significant difference"))
    # Overlaid curves: v2's evaluation is drawn; v3 has none, so only its note shows.
    assert len(app.get("plotly_chart")) >= 6


def confusion_battles(settings: Settings, version: int) -> int:
    """The battles a version's stored test report counts (what the note must say)."""
    from core.evaluate.stored import stored_report

    return sum(stored_report(version, settings)["confusion"].values())


def delta_metrics(app: AppTest) -> dict[str, object]:
    """The 'One version' row of metrics against Production, by label."""
    labels = {"Test accuracy", "F1", "ROC-AUC", "Log loss"}
    return {m.label: m for m in app.metric if m.label in labels}


@pytest.mark.slow
def test_deltas_on_different_test_battles_are_neutral_with_the_counts(models_page, store):
    """From a new user's trial: 'Test accuracy 0.9401, -0.0015' in red against Production while
    the paired comparison said no difference: the two were measured on different battles."""
    app = models_page
    app.selectbox(key="models_selected_version").set_value(2).run()
    assert not app.exception, [e.value for e in app.exception]
    metrics = delta_metrics(app)
    assert len(metrics) == 4 and all(m.delta for m in metrics.values()), metrics
    assert all(m.proto.color == MetricProto.MetricColor.GRAY for m in metrics.values())
    assert all(m.proto.direction == MetricProto.MetricDirection.NONE for m in metrics.values())
    second, first = confusion_battles(store, 2), confusion_battles(store, 1)
    assert second != first  # different draws, as the trial's 4k and 40k
    note = f"different test battles ({second:,} vs {first:,}): use Compare on fresh battles"
    assert any(note in text for text in infos(app)), infos(app)
    # An old version without a stored evaluation: its count is unknown, still neutral.
    app.selectbox(key="models_selected_version").set_value(3).run()
    assert any(f"(unknown vs {first:,})" in text for text in infos(app)), infos(app)
    assert all(m.proto.color == MetricProto.MetricColor.GRAY for m in delta_metrics(app).values())


@pytest.mark.slow
def test_deltas_on_the_same_test_battles_keep_their_colours(models_page, store):
    app = models_page
    app.selectbox(key="models_selected_version").set_value(4).run()
    assert not app.exception, [e.value for e in app.exception]
    metrics = delta_metrics(app)
    assert any(m.proto.color != MetricProto.MetricColor.GRAY for m in metrics.values()), metrics
    assert not any("test battles" in text and "Compare" in text for text in infos(app))
    same = f"on the same {confusion_battles(store, 1):,} test battles"
    assert any(same in str(c.value) for c in app.caption), [c.value for c in app.caption]


@pytest.mark.slow
def test_every_column_of_the_versions_table_has_a_label_and_help(models_page):
    table = models_page.dataframe[0]
    config = json.loads(table.proto.columns)
    for column in versions.TABLE_COLUMNS:
        assert config.get(column, {}).get("help"), column
        assert config[column].get("label"), column
    assert config["accuracy"]["label"] == "test accuracy"
    assert "test battles" in config["accuracy"]["help"]
    assert "0-1" in config["accuracy"]["help"]  # the unit


@pytest.mark.slow
def test_a_decision_that_moved_nothing_reads_as_kept_in_the_audit_trail(models_page, store):
    """From a new user's trial: 'training promote Production 3 -> 6 ... not_promoted' read as a
    promotion to v6. The page says 'kept Production v1'; the stored entry is unchanged."""
    audit = next(d.value for d in models_page.dataframe if "action" in d.value)
    kept = audit[audit["status"] == "not_promoted"]
    assert len(kept) == 2, audit  # v2 and v4, registered only (policy manual)
    assert set(kept["action"]) == {"kept Production v1"}
    assert set(kept["to_version"]) == {"—"} and set(kept["from_version"]) == {"v1"}
    assert sorted(r.split(" not promoted")[0] for r in kept["reason"]) == ["v2", "v4"]
    assert all("manual" in reason for reason in kept["reason"])
    assert not any("not promoted" in r.split("not promoted", 1)[1] for r in kept["reason"])
    promoted = audit[audit["status"] == "ok"]
    assert promoted["action"].tolist() == ["promote"] and promoted["to_version"].tolist() == ["v1"]
    assert "<NA>" not in audit.astype(str).to_string()
    stored = MLflowTracker(settings=store).audit_log(store.model_name)
    undone = stored[stored["status"] == "not_promoted"]
    assert set(undone["action"]) == {"promote"} and set(undone["to_version"]) == {2, 4}


def captions(app: AppTest) -> list[str]:
    return [str(element.value) for element in app.caption]


@pytest.mark.slow
def test_each_evaluation_says_what_it_was_measured_on(models_page, store: Settings):
    """Trial finding 2: the charts showed no battle count or source, and 'compare with v1'
    overlaid reports measured on different battles without saying so."""
    from core.evaluate.stored import stored_report

    app = models_page
    battles = {v: stored_report(v, store)["measured_on"]["battles"] for v in (1, 2)}
    first = (f"v1: measured on {battles[1]:,} held-out test battles of its training (matchups "
             "never seen in training; data seed 42, scenario all, level 50).")  # fmt: skip
    assert first in captions(app), captions(app)
    app.selectbox(key="models_selected_version").set_value(2).run()
    app.selectbox(key="models_compare_with").set_value(1).run()
    assert not app.exception, [e.value for e in app.exception]
    shown = captions(app)
    assert first in shown and any(c.startswith(f"v2: measured on {battles[2]:,} held-out test")
                                  for c in shown), shown  # fmt: skip
    assert any("come from its own battles" in c for c in shown), shown


def test_measured_text_for_fresh_and_unrecorded_reports():
    from app.evaluation_view import measured_text
    from core.evaluate.stored import FRESH, measured_on

    fresh = {"measured_on": measured_on(FRESH, 1000, 2026, heldout=False, simulated=1000)}
    assert measured_text(3, fresh) == (
        "v3: measured on 1,000 fresh battles by `python -m core.evaluate 3` (seed 2026, some "
        "matchups may have been in its training; scenario all, level 50); no held-out test "
        "report from its training is stored."
    )
    legacy = {"confusion": {"tn": 1900, "fp": 100, "fn": 55, "tp": 2000}}
    text = measured_text(1, legacy)
    assert text.startswith("v1: measured on 4,055 battles (counted from its confusion matrix)")
    assert "not recorded" in text


@pytest.mark.slow
def test_a_search_names_its_objective(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """From a new user's trial: 'best value 0.140556' did not say it was a log loss."""
    settings = Settings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                        artifacts_dir=tmp_path / "mlartifacts", models_dir=tmp_path / "models")  # fmt: skip
    argv = ["--trials", "2", "--study", "by-accuracy", "--objective", "accuracy",
            "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--n-battles", "2500",
            "--oracle-sample", "100", "--oracle-replays", "50", "--promotion-policy", "manual"]  # fmt: skip
    done = run_cli("core.search", argv, settings, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    first = json.loads(done.stdout)
    assert first["objective"] == "accuracy" and first["registered_version"] == 1
    assert not first["promoted"] and "manual" in first["promotion"]
    progress = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(progress) == 2 and all("of 2 trials finished" in line for line in progress)
    assert "accuracy" in progress[0], progress
    MLflowTracker(settings=settings).promote(settings.model_name, 1, reason="by hand")
    resumed = run_cli("core.search", [*argv[:1], "1", *argv[2:], "--timeout", "0.01"],
                      settings, timeout=900)  # fmt: skip
    again = json.loads(resumed.stdout)  # the deadline passed: no trial ran, nothing new
    assert (again["registered_version"], again["promoted"], again["best_version"]) == (
        None,
        False,
        1,
    )
    assert again["promotion"].startswith("nothing registered this time")
    assert "v1 is Production now" in again["promotion"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(settings.models_dir))
    st.cache_data.clear()
    app = AppTest.from_file(str(MAIN), default_timeout=120)
    app.run()
    app.switch_page("../pages/models.py").run()
    assert not app.exception, [e.value for e in app.exception]
    studies = next(d for d in app.dataframe if "best value" in d.value)
    row = studies.value.iloc[0]
    assert (row["study"], row["objective"]) == ("by-accuracy", "accuracy (0-1, higher is better)")
    assert 0.5 <= row["best value"] <= 1
    assert json.loads(studies.proto.columns)["best value"]["help"]
    st.cache_data.clear()


def open_page(settings: Settings, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    """The real router on `page`, pointed at `settings`' store, fresh caches."""
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    st.cache_data.clear()
    app = AppTest.from_file(str(MAIN), default_timeout=120)
    app.run()
    if page != "home":
        app.switch_page(f"../pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_nobody_in_production_no_rollback_button_and_home_says_why(
    settings_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """From a new user's trial: with nobody in Production the Models page still offered 'Roll
    back Production'; Home said 'No version holds Production yet' after it had been removed."""
    from tests.test_registry import train_and_register

    settings = settings_factory(with_store=True)
    tracker = MLflowTracker(settings=settings)
    for seed in (1, 2):
        train_and_register(tracker, settings.model_name, tmp_path, seed=seed)
    home = open_page(settings, monkeypatch, "home")
    assert any("No version has held Production yet" in i.value for i in home.info)
    models = open_page(settings, monkeypatch, "models")
    assert not [b for b in models.button if b.key == "models_rollback"]
    assert any("nothing to roll back" in c for c in captions(models))
    tracker.promote(settings.model_name, 1, reason="first")
    tracker.client.delete_registered_model_alias(settings.model_name, "production")  # outside
    home = open_page(settings, monkeypatch, "home")
    said = " ".join(i.value for i in home.info)
    assert "No version holds Production now: v1 held it last" in said and "removed" in said
    assert "yet" not in said
    models = open_page(settings, monkeypatch, "models")
    assert not [b for b in models.button if b.key == "models_rollback"]
    st.cache_data.clear()
