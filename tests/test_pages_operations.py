"""Day-to-day operation on the real dashboard (AppTest): who acts, the theme, trainings as jobs.

A module fixture trains two small real models (v1 Production, v2 registered only) into a real
SQLite store. Trainings started from the page run in real child processes (core.jobs).
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.jobs import TRAINING_QUEUE
from core.registry import MLflowTracker
from core.train import TrainConfig, train_model
from tests.test_pages import _confirm, _point_env_at, open_page, texts

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"n_battles": 3000, "oracle_sample": 100, "oracle_replays": 50}
BRAND = "#E3350D"
CANCEL_BUDGET_SECONDS = 5.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """v1 (Production) and v2 (registered only), both really trained."""
    root = tmp_path_factory.mktemp("operations-store")
    settings = Settings(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifacts_dir=root / "mlartifacts",
        models_dir=root / "models",
    )
    train_model(TrainConfig(**SMALL, threshold=0.0, version_label="first"), settings)
    train_model(TrainConfig(**SMALL, seed=7, threshold=1.0, export_local=False), settings)
    return settings


@pytest.fixture
def app_env(store: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The dashboard's environment on the module store, as analyst "Ana Lyst"."""
    import streamlit as st

    _point_env_at(monkeypatch, store)
    monkeypatch.setenv("PREDICTIONDEX_USER", "Ana Lyst")
    st.cache_data.clear()
    st.cache_resource.clear()
    return store


# --- identity -------------------------------------------------------------------------------


def test_single_user_mode_names_the_audit_after_the_sidebar(app_env: Settings) -> None:
    """Default PREDICTIONDEX_USER, editable, remembered across pages, and written to the audit."""
    app = open_page("home")
    field = app.sidebar.text_input(key="sidebar_user_name")
    assert field.value == "Ana Lyst"
    assert any("records you as **Ana Lyst**" in text for text in texts(app.sidebar.caption))

    field.input("Bea Cause").run()
    app.switch_page("../pages/models.py").run()
    assert app.sidebar.text_input(key="sidebar_user_name").value == "Bea Cause"

    tracker = MLflowTracker(settings=app_env)
    name = app_env.model_name
    production = tracker.current_version(name)
    other = next(v for v in tracker.compare_models(name)["version"] if v != production)
    app.selectbox(key="models_selected_version").set_value(other).run()
    app.button(key="models_promote").click().run()
    _confirm(app, "identity check")
    assert not app.exception
    last = tracker.audit_log(name).iloc[-1]
    assert (last["to_version"], last["user"]) == (other, "Bea Cause")

    app.sidebar.text_input(key="sidebar_user_name").input("   ").run()  # blank: the default
    assert app.sidebar.text_input(key="sidebar_user_name").value == "Ana Lyst"


def test_signed_in_users_are_their_email_and_cannot_edit_it(
    app_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With sign-in, the sidebar shows the e-mail and offers no name field."""
    monkeypatch.setenv("PREDICTIONDEX_APPROVERS", "boss@example.com")
    app = open_page("home", user={"is_logged_in": True, "email": "boss@example.com"})
    assert "sidebar_user_name" not in {field.key for field in app.sidebar.text_input}
    assert any("Signed in as **boss@example" in text for text in texts(app.sidebar.caption))


# --- theme and charts -----------------------------------------------------------------------


def test_the_theme_follows_the_system_with_the_brand_colour_in_both() -> None:
    """A light AND a dark theme with the brand colour, and nothing pinning one scheme."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    theme = config["theme"]
    assert theme["light"]["primaryColor"] == theme["dark"]["primaryColor"] == BRAND
    assert "base" not in theme and "primaryColor" not in theme


def test_home_chart_spans_the_oracle_and_shows_whole_versions(app_env: Settings) -> None:
    """The y range holds every accuracy, the oracle and the threshold; ticks are the versions."""
    import json

    app = open_page("home")
    chart = next(e for e in app.get("plotly_chart") if "home_accuracy_chart" in str(e.proto.id))
    spec = json.loads(chart.proto.spec)
    low, high = spec["layout"]["yaxis"]["range"]
    table = MLflowTracker(settings=app_env).compare_models(app_env.model_name)
    values = [*table["accuracy"], *table["oracle_accuracy"], app_env.promotion_threshold]
    assert low < min(values) and max(values) < high
    axis = spec["layout"]["xaxis"]
    assert axis["tickvals"] == [1, 2]
    assert axis["range"] == [0.5, 2.5]
    threshold_note = [a["text"] for a in spec["layout"]["annotations"]]
    assert threshold_note == [f"promotion threshold {app_env.promotion_threshold:g}"]


def test_home_sets_the_oracle_beside_the_models_expected_accuracy_on_the_same_battles(
    app_env: Settings,
) -> None:
    """Like for like: the oracle's delta is the model's expected accuracy on the oracle's battles
    and its excess error, both as logged on the Production run; the chart draws that line too."""
    import base64
    import json

    import mlflow
    import numpy as np

    table = MLflowTracker(settings=app_env).compare_models(app_env.model_name)
    production = table.set_index("stage").loc["Production"]  # earlier tests may have promoted
    client = mlflow.MlflowClient(tracking_uri=app_env.tracking_uri)
    logged = client.get_run(production["run_id"]).data.metrics
    assert production["expected_accuracy"] == pytest.approx(logged["expected_accuracy"])
    assert logged["expected_accuracy"] <= logged["oracle_accuracy"]

    app = open_page("home")
    oracle = next(m for m in app.metric if m.label == "Oracle accuracy")
    expected = f"model {logged['expected_accuracy']:.4f} ({-logged['excess_error']:+.4f})"
    assert oracle.delta == expected
    chart = next(e for e in app.get("plotly_chart") if "home_accuracy_chart" in str(e.proto.id))
    traces = {trace["name"]: trace for trace in json.loads(chart.proto.spec)["data"]}
    line = traces["Expected accuracy (the oracle's battles)"]["y"]
    if isinstance(line, dict):  # plotly's typed-array JSON: base64 bytes and a dtype
        line = np.frombuffer(base64.b64decode(line["bdata"]), dtype=line["dtype"])
    versions = sorted(table["version"])  # the chart's x order
    at = versions.index(int(table.loc[table["stage"] == "Production", "version"].item()))
    assert line[at] == pytest.approx(logged["expected_accuracy"])


def test_mlflow_ui_link_says_how_to_start_it_when_nothing_answers(
    app_env: Settings, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    """No UI on the configured URL: no dead link, a line naming the command instead."""
    monkeypatch.setenv("MLFLOW_UI_URL", f"http://127.0.0.1:{free_port}")
    app = open_page("home")
    assert "sidebar_mlflow_ui" not in {button.key for button in app.sidebar.get("link_button")}
    assert any("make mlflow-ui" in text for text in texts(app.sidebar.caption))


# --- trainings as jobs ----------------------------------------------------------------------


def _poll(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def _start_training(app: AppTest, trees: int, label: str) -> None:
    app.number_input(key="train_xgboost_n_estimators").set_value(trees)
    app.number_input(key="train_n_battles").set_value(20_000)
    app.number_input(key="train_oracle_sample").set_value(100)
    app.number_input(key="train_oracle_replays").set_value(50)
    app.text_input(key="train_label").input(label)
    app.button(key="train_submit").click().run()
    assert not app.exception, [e.value for e in app.exception]


@pytest.mark.slow
def test_two_sessions_queue_and_cancel_from_the_page(app_env: Settings) -> None:
    """A second session sees its position at once; Cancel stops the running job within 5 s."""
    first = open_page("train")
    _start_training(first, 5000, "first session")
    first_job = first.session_state["train_job"]
    second = open_page("train")
    _start_training(second, 5000, "second session")
    second_job = second.session_state["train_job"]
    try:
        titles = [expander.label for expander in second.expander]
        assert any(title.startswith("Queued: position 1") for title in titles), titles
        assert any("estimate" in str(bar.proto.text) for bar in second.get("progress"))
        assert any('XGBoost "second session"' in text for text in texts(second.caption))

        _poll(lambda: first_job.view().steps[2].state == "running", 120, "the first fit")
        first.run()
        started = time.monotonic()
        first.button(key="train_cancel").click().run()
        _poll(lambda: first_job.finished, CANCEL_BUDGET_SECONDS, "the cancel")
        assert time.monotonic() - started <= CANCEL_BUDGET_SECONDS
        first.run()
        assert [status.label for status in first.status] == ["Training cancelled"]
        assert any("nothing was registered" in text for text in texts(first.warning))
        assert not first.button(key="train_submit").disabled
        _poll(lambda: second_job.view().state == "running", 30, "the second job starting")
    finally:
        second_job.cancel()
        first_job.cancel()
        assert second_job.wait(30)
    assert TRAINING_QUEUE.position(second_job) is None


def test_the_form_keeps_its_entries_across_pages(app_env: Settings) -> None:
    """Train, leave the page while the job runs and come back: the entries are still there."""
    app = open_page("train")
    app.radio(key="train_model_type").set_value("random_forest").run()
    app.number_input(key="train_random_forest_n_estimators").set_value(37)
    app.number_input(key="train_n_battles").set_value(12_345)
    app.text_input(key="train_label").input("kept")
    app.button(key="train_submit").click().run()
    job = app.session_state["train_job"]
    try:
        app.switch_page("../pages/models.py").run()
        app.switch_page("../pages/train.py").run()
        assert not app.exception
        assert app.radio(key="train_model_type").value == "random_forest"
        assert app.number_input(key="train_random_forest_n_estimators").value == 37
        assert app.number_input(key="train_n_battles").value == 12_345
        assert app.text_input(key="train_label").value == "kept"
        assert any('Random forest "kept"' in text for text in texts(app.caption))
    finally:
        job.cancel()
        assert job.wait(30)


# --- rollback as history, and the searches on the Models page -------------------------------


def test_roll_back_to_any_earlier_production_version_and_see_the_searches(
    app_env: Settings, tmp_path: Path
) -> None:
    """The picker offers every earlier holder, newest first, named; the chosen one serves."""
    from tests.tiny_models import write_tiny_model

    tracker = MLflowTracker(settings=app_env)
    name = app_env.model_name
    sha = write_tiny_model(tmp_path / "model", seed=3)
    with tracker.run("third", {"model_type": "xgboost", "version_label": "third"}) as run:
        run.log_model_dir(tmp_path / "model", sha)
        third = run.register(name)
    with tracker.run("search_team", {"optuna.study": "team", "registered_version": str(third)}):
        pass  # a study's parent run, as core.search leaves it
    for version in (1, 2, third):  # whatever earlier tests left: v1, then v2, then the third
        tracker.promote_to_production(name, version, reason=f"history {version}", user="ana")

    app = open_page("models")
    picker = app.selectbox(key="models_rollback_target")
    assert picker.options[0] == f"v2 · promoted {_when(tracker, 2)} by ana: history 2"
    assert picker.options[1].startswith("v1 · ") and len(set(picker.options)) == len(picker.options)
    picker.set_value(1).run()
    app.button(key="models_rollback").click().run()
    assert any(f"Roll back Production from v{third} to v1?" in t for t in texts(app.markdown))
    _confirm(app, "back to the first")
    assert not app.exception
    assert tracker.current_version(name) == 1
    last = tracker.audit_log(name).iloc[-1]
    assert (last["action"], last["from_version"], last["to_version"]) == ("rollback", third, 1)
    assert [run.study for run in tracker.study_runs()] == ["team"]
    studies = next(frame.value for frame in app.dataframe if "study" in frame.value.columns)
    assert studies["study"].tolist() == ["team"] and studies["registered version"].tolist() == [
        third
    ]
    assert studies["MLflow run"].iloc[0].startswith(app_env.mlflow_ui_url.rstrip("/"))


def _audit_row(tracker: MLflowTracker, version: int):
    audit = tracker.audit_log(tracker.settings.model_name)
    return audit[(audit["status"] == "ok") & (audit["to_version"] == version)].iloc[-1]


def _when(tracker: MLflowTracker, version: int) -> str:
    return _audit_row(tracker, version)["time"].strftime("%Y-%m-%d %H:%M")


def _rollback_button(app: AppTest):
    return app.button(key="models_rollback")


def test_rollbacks_walk_back_v4_v3_v2_v1_and_to_picks_v2_on_the_page(
    settings_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1..v4 promoted in order: three Rollback clicks give v3, v2, v1, each button naming its
    target and the sidebar following at once; then from v4 again, 'Roll back to…' v2 gives v2."""
    import streamlit as st

    from tests.tiny_models import write_tiny_model

    settings = settings_factory(with_store=True)
    _point_env_at(monkeypatch, settings)
    st.cache_data.clear()
    st.cache_resource.clear()
    tracker = MLflowTracker(settings=settings)
    name = settings.model_name
    for seed in (1, 2, 3, 4):
        sha = write_tiny_model(tmp_path / f"m{seed}", seed=seed)
        with tracker.run(f"r{seed}", {"model_type": "xgboost", "version_label": f"r{seed}"}) as run:
            run.log_model_dir(tmp_path / f"m{seed}", sha)
            version = run.register(name)
        tracker.promote_to_production(name, version, reason=f"release {version}", user="ana")
    audit_before = len(tracker.audit_log(name))

    app = open_page("models")
    for target in (3, 2, 1):
        held = target + 1
        assert _rollback_button(app).label == f"Roll back Production to v{target}"
        assert app.selectbox(key="models_rollback_target").value == target  # newest first
        _rollback_button(app).click().run()
        assert any(f"from v{held} to v{target}?" in t for t in texts(app.markdown))
        _confirm(app, f"back to v{target}")
        assert not app.exception, [e.value for e in app.exception]
        assert any(
            f"Rolled back: Production is v{target} again (was v{held})." in t
            for t in texts(app.success)
        )
        assert tracker.current_version(name) == target
        assert any(
            f"**Serving** v{target} from the registry" in c for c in texts(app.sidebar.caption)
        )
    assert _rollback_button(app).disabled  # v1 has no earlier holder: never forward

    app.selectbox(key="models_selected_version").set_value(4).run()
    app.button(key="models_promote").click().run()
    _confirm(app, "v4 again")  # undoing the rollbacks is a promotion: v1 is the one before
    assert tracker.current_version(name) == 4
    assert _rollback_button(app).label == "Roll back Production to v1"
    for version in (2, 3, 4):  # v1, v2, v3, v4 in order again
        tracker.promote_to_production(name, version, reason=f"again {version}", user="ana")
    app.sidebar.button(key="sidebar_reload").click().run()  # promoted elsewhere: reload
    picker = app.selectbox(key="models_rollback_target")
    assert [int(option.split(" ")[0][1:]) for option in picker.options] == [3, 2, 1]
    picker.set_value(2).run()
    assert _rollback_button(app).label == "Roll back Production to v2"
    _rollback_button(app).click().run()
    _confirm(app, "pick v2")
    assert tracker.current_version(name) == 2
    audit = tracker.audit_log(name).iloc[audit_before:]
    assert list(zip(audit["action"], audit["from_version"], audit["to_version"], strict=True)) == [
        ("rollback", 4, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
        ("promote", 1, 4),
        ("promote", 4, 2),
        ("promote", 2, 3),
        ("promote", 3, 4),
        ("rollback", 4, 2),
    ]
    st.cache_data.clear()
    st.cache_resource.clear()
