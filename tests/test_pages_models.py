"""The Models page's evaluation with AppTest on a real store: curves of a version with a stored
evaluation, the compare view of two non-Production versions, the note for an older version."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import artifacts
from core.config import Settings
from core.dataset import generate_dataset, split_by_matchup
from core.evaluate.metrics import FeatureRows
from core.features import FEATURE_COLUMNS
from core.registry import MLflowTracker
from core.train import TrainConfig, train_model
from core.train.pipeline import make_estimator

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
    """v1 Production (evaluated), v2 registered only (evaluated), v3 older without evaluation."""
    root = tmp_path_factory.mktemp("models-page")
    settings = Settings(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                        artifacts_dir=root / "mlartifacts", models_dir=root / "models")  # fmt: skip
    first = train_model(TrainConfig(**SMALL, threshold=0.0, version_label="first"), settings)
    second = train_model(TrainConfig(**SMALL, seed=7, promotion_policy="manual",
                                     version_label="second", export_local=False), settings)  # fmt: skip
    assert (first.version, first.promoted, second.version, second.promoted) == (1, True, 2, False)
    assert register_without_evaluation(settings, root) == 3
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
