"""The dashboard's pages with Streamlit's AppTest, on a real SQLite store with real models.

A module fixture trains two small real models (v1 promoted to Production, v2 not). Each test
points the environment at that store (or at a dead server, or an empty store) and drives the
real app/main.py router: pages are selected with AppTest.switch_page, widgets by key, the
signed-in user with AppTest's own `at.user`. Registry changes are checked with MLflowTracker.
"""

from __future__ import annotations

import time
from pathlib import Path

import annotated_types
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import artifacts
from core.config import Settings
from core.registry import MLflowTracker
from core.train import TrainConfig, TrainingError, train_model

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"
PAGES = ("home", "train", "models", "predict")
RUN_TIMEOUT = 60.0
TRAINING_TIMEOUT = 240.0
APPROVER = "boss@example.com"
VIEWER = "viewer@example.com"
SMALL = {"n_battles": 4000, "oracle_sample": 200, "oracle_replays": 100}


def _clear_streamlit_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real embedded store: v1 (Production, exported to models/) and v2 (registered only)."""
    root = tmp_path_factory.mktemp("pages-store")
    settings = Settings(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifacts_dir=root / "mlartifacts",
        models_dir=root / "models",
    )
    first = train_model(TrainConfig(**SMALL, threshold=0.0, version_label="first"), settings)
    second = train_model(
        TrainConfig(**SMALL, seed=7, threshold=1.0, version_label="second", export_local=False),
        settings,
    )
    assert (first.version, first.promoted, second.version) == (1, True, 2)
    return settings


def _point_env_at(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(settings.models_dir))


@pytest.fixture
def app_env(store: Settings, monkeypatch: pytest.MonkeyPatch):
    """The environment of a dashboard on the module store, with fresh Streamlit caches."""
    _point_env_at(monkeypatch, store)
    _clear_streamlit_caches()
    yield store
    _clear_streamlit_caches()


def open_page(page: str, user: dict | None = None) -> AppTest:
    """Run the real router, then switch to a page; the page must not raise."""
    app = AppTest.from_file(str(MAIN), default_timeout=RUN_TIMEOUT)
    if user is not None:
        app.user = user
    app.run()
    if page != "home":
        app.switch_page(f"../pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(elements) -> list[str]:
    """The values of a list of text elements (errors, warnings, captions, ...)."""
    return [str(element.value) for element in elements]


def all_text(app: AppTest) -> str:
    """Every text the page shows (main and sidebar), for checks that something never appears."""
    parts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts.extend(texts(getattr(app, kind)))
    parts.extend(f"{metric.label} {metric.value}" for metric in app.metric)
    return " ".join(parts)


def keys(app: AppTest) -> set[str]:
    """Keys of every button on the page."""
    return {button.key for button in app.button if button.key}


def tracker_for(settings: Settings) -> MLflowTracker:
    """A registry client of our own, to check what the pages changed."""
    return MLflowTracker(settings=settings)


# --- every page, every situation: nothing raises ------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_trained_store(app_env: Settings, page: str) -> None:
    """Each page renders without an exception or an error message on a store with models."""
    app = open_page(page)
    assert not texts(app.error)
    sidebar = " ".join(texts(app.sidebar.caption))
    assert "Single-user mode" in sidebar
    assert "registry" in sidebar and "Serving" in sidebar


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_an_empty_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """No model anywhere: messages that say what to do, never an exception."""
    empty = Settings(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifacts_dir=tmp_path / "mlartifacts",
        models_dir=tmp_path / "models",
    )
    _point_env_at(monkeypatch, empty)
    _clear_streamlit_caches()
    app = open_page(page)
    shown = " ".join(texts(app.error) + texts(app.info) + texts(app.markdown))
    if page == "predict":
        assert "No model found" in " ".join(texts(app.error))
    elif page == "models":
        assert "No registered version yet" in shown
    elif page == "home":
        assert "No version has held Production yet" in shown
    _clear_streamlit_caches()


def test_bad_configuration_is_a_message(app_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed environment variable reads as what to fix, not a traceback."""
    monkeypatch.setenv("PROMOTION_THRESHOLD", "high")
    app = AppTest.from_file(str(MAIN), default_timeout=RUN_TIMEOUT).run()
    assert not app.exception
    assert any("PROMOTION_THRESHOLD" in text for text in texts(app.error))


# --- Predict ------------------------------------------------------------------------------------


def test_predict_shows_winner_probability_and_serving_version(app_env: Settings) -> None:
    """Pick two Pokémon, ask: a winner, P(A wins), and the registry version that answered."""
    production = tracker_for(app_env).current_version(app_env.model_name)
    app = open_page("predict")
    app.selectbox(key="predict_pokemon_a").set_value("mewtwo")
    app.selectbox(key="predict_pokemon_b").set_value("magikarp")
    app.button(key="predict_ask").click().run()
    assert not app.exception
    assert "Mewtwo wins" in texts(app.subheader)
    metrics = {metric.label: metric for metric in app.metric}
    shown = metrics["P(Mewtwo wins)"].value  # '97.3%', or '> 99.9%' for a near-certainty
    p_a = 0.9995 if shown == "> 99.9%" else float(shown.rstrip("%")) / 100
    assert 0.5 <= p_a <= 1.0
    assert metrics["P(Magikarp wins)"].value != "0.0%"  # never a misleading zero
    assert metrics["Answered by"].value == f"v{production}"
    assert any(f"v{production} (registry" in text for text in texts(app.caption))
    assert not any("Local fallback" in text for text in texts(app.warning))

    app.multiselect(key="predict_moves_a_mewtwo").set_value(["psychic"]).run()
    assert any("Mewtwo (level 50): Psychic ·" in text for text in texts(app.caption))
    app.button(key="predict_simulate").click().run()
    simulator = [m for m in app.metric if m.label.startswith("Simulator, 1,000 battles")]
    assert simulator and simulator[0].value.endswith("%")
    assert app.get("plotly_chart"), "contribution chart and heat map are drawn"
    assert not app.exception


def test_predict_falls_back_when_the_registry_is_unreachable(
    app_env: Settings, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    """A dead tracking server: the banner says so, and models/ still answers, in seconds."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://analyst:s3cret@127.0.0.1:{free_port}")
    started = time.monotonic()
    app = open_page("predict")
    app.button(key="predict_ask").click().run()
    assert not app.exception
    banner = " ".join(texts(app.warning))
    assert "Local fallback model" in banner and "not reachable" in banner
    assert any(text.endswith(" wins") for text in texts(app.subheader))
    answered = next(metric for metric in app.metric if metric.label == "Answered by")
    assert answered.value == "v1"  # the version exported to models/ at training time

    assert "http://analyst:***@127.0.0.1" in " ".join(texts(app.sidebar.caption))

    app.switch_page("../pages/models.py").run()
    assert not app.exception
    assert any("not reachable" in text for text in texts(app.error))
    app.switch_page("../pages/train.py").run()
    app.number_input(key="train_n_battles").set_value(SMALL["n_battles"])
    app.button(key="train_submit").click().run()
    assert not app.exception
    assert any("not reachable" in text for text in texts(app.error))
    assert "train_job" not in app.session_state
    assert time.monotonic() - started < 30, "an unreachable registry must not hang the pages"
    assert "s3cret" not in all_text(app), "the password of the tracking URI is never shown"


def test_predict_with_the_registry_disabled(app_env: Settings, monkeypatch: pytest.MonkeyPatch):
    """USE_MLFLOW_REGISTRY=false: the local model answers and the banner says why."""
    monkeypatch.setenv("USE_MLFLOW_REGISTRY", "false")
    app = open_page("predict")
    app.button(key="predict_ask").click().run()
    assert not app.exception
    assert any("USE_MLFLOW_REGISTRY is false" in text for text in texts(app.warning))
    assert any(text.endswith(" wins") for text in texts(app.subheader))


def test_artwork_falls_back_to_type_badges() -> None:
    """A form without a picture shows its types instead of an image."""

    def card() -> None:
        from app import components
        from core.pokedex import load_pokedex

        mew = load_pokedex().resolve_pokemon("Mew")
        components.pokemon_card(mew, 50)
        components.pokemon_card(type(mew)(**{**mew.__dict__, "number": 2000}), 50)

    app = AppTest.from_function(card, default_timeout=RUN_TIMEOUT).run()
    assert not app.exception
    assert len(app.image) == 1
    assert "no artwork for this form" in texts(app.caption)
    assert (
        sum(":violet-badge[:material/psychology: Psychic]" in t for t in texts(app.markdown)) == 3
    )


# --- Models: promote, roll back, conflicts, roles -----------------------------------------------


def _confirm(app: AppTest, reason: str) -> AppTest:
    app.text_input(key="models_reason").input(reason)
    app.button(key="models_confirm").click()
    return app.run()


def test_models_page_promotes_and_rolls_back(app_env: Settings) -> None:
    """Promote another version (confirmed, with a reason), then roll back: alias and audit follow."""
    tracker = tracker_for(app_env)
    name = app_env.model_name
    production = tracker.current_version(name)
    other = next(v for v in tracker.compare_models(name)["version"] if v != production)
    audit_before = len(tracker.audit_log(name))

    app = open_page("models")
    assert {"models_promote", "models_rollback"} <= keys(app)
    app.selectbox(key="models_selected_version").set_value(other).run()
    app.button(key="models_promote").click().run()
    assert any(f"Promote v{other} to Production?" in text for text in texts(app.markdown))
    app.button(key="models_confirm").click().run()  # no reason yet: nothing happens
    assert tracker.current_version(name) == production
    assert "A reason is required to confirm." in texts(app.caption)

    _confirm(app, "better F1 on the new matchups")
    assert not app.exception
    assert (
        f"Version {other} is now Production (was v{production}). Local fallback updated to "
        f"v{other}." in texts(app.success)
    )
    assert artifacts.read_installed(app_env.models_dir).model_version == str(other)
    assert tracker.current_version(name) == other
    audit = tracker.audit_log(name)
    last = audit.iloc[-1]
    assert len(audit) == audit_before + 1
    assert (last["action"], last["to_version"], last["from_version"], last["status"]) == (
        "promote",
        other,
        production,
        "ok",
    )
    assert last["reason"] == "better F1 on the new matchups"

    app.button(key="models_rollback").click().run()
    assert any(
        f"Roll back Production from v{other} to v{production}?" in text
        for text in texts(app.markdown)
    )
    _confirm(app, "the new version misbehaves")
    assert not app.exception
    assert tracker.current_version(name) == production
    assert any(f"Local fallback updated to v{production}." in t for t in texts(app.success))
    assert artifacts.read_installed(app_env.models_dir).model_version == str(production)
    last = tracker.audit_log(name).iloc[-1]
    assert (last["action"], last["to_version"], last["reason"]) == (
        "rollback",
        production,
        "the new version misbehaves",
    )


def test_models_page_reports_a_conflict_instead_of_overwriting(app_env: Settings) -> None:
    """Production moves between 'Promote' and 'Confirm': a clear conflict, nothing overwritten."""
    tracker = tracker_for(app_env)
    name = app_env.model_name
    seen = tracker.current_version(name)
    other = next(v for v in tracker.compare_models(name)["version"] if v != seen)
    app = open_page("models")
    app.selectbox(key="models_selected_version").set_value(other).run()
    app.button(key="models_promote").click().run()

    tracker.promote_to_production(name, other, reason="someone else", user="colleague")
    _confirm(app, "I saw an older state")
    assert not app.exception
    assert any(f"Production is now v{other}" in text for text in texts(app.error))
    assert tracker.current_version(name) == other
    assert tracker.audit_log(name).iloc[-1]["status"] == "conflict"
    tracker.promote_to_production(name, seen, reason="restore the fixture", user="test")


def test_description_edit(app_env: Settings) -> None:
    """An approver edits a version's description; the registry has it."""
    app = open_page("models")
    app.selectbox(key="models_selected_version").set_value(2).run()
    app.text_input(key="models_description_2").input("second model, seed 7").run()
    app.button(key="models_save_description").click().run()
    assert not app.exception
    assert "Description of version 2 saved." in texts(app.success)
    versions = tracker_for(app_env).compare_models(app_env.model_name).set_index("version")
    assert versions.loc[2, "description"] == "second model, seed 7"


def test_viewer_is_not_offered_actions_and_a_replay_is_refused(
    app_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed in but not an approver: no promote/rollback/train, and a crafted action fails."""
    monkeypatch.setenv("PREDICTIONDEX_APPROVERS", APPROVER)
    viewer = {"is_logged_in": True, "email": VIEWER, "name": "Viewer"}
    tracker = tracker_for(app_env)
    name = app_env.model_name
    production = tracker.current_version(name)
    other = next(v for v in tracker.compare_models(name)["version"] if v != production)
    audit_before = len(tracker.audit_log(name))

    app = open_page("models", user=viewer)
    assert not {"models_promote", "models_rollback", "models_save_description"} & keys(app)
    assert any("only approvers may promote" in text for text in texts(app.info))
    signed_in = " ".join(texts(app.sidebar.caption))
    assert "Signed in as **viewer@example\\.com** (viewer)" in signed_in

    for replay in (
        {"kind": "promote", "version": other, "stage": "Production"},
        {"kind": "rollback", "stage": "Production"},
    ):
        app.session_state["models_pending_action"] = {
            **replay,
            "expected_current": production,
            "reason": "replayed from a viewer session",
            "confirmed": True,
        }
        app.run()
        assert not app.exception
        assert any(f"{VIEWER} may not" in text for text in texts(app.error))
    assert tracker.current_version(name) == production
    assert len(tracker.audit_log(name)) == audit_before

    app.switch_page("../pages/train.py").run()
    assert "train_submit" not in keys(app)
    assert any("only approvers may train" in text for text in texts(app.info))


@pytest.mark.parametrize(
    ("pending", "message"),
    [
        ({"kind": "delete_everything"}, "not one the Models page offers"),
        ({"kind": "promote", "version": "../../etc/passwd"}, "is not a version number"),
        ({"kind": "promote", "version": 1, "stage": "Prod\x00"}, "Choose Production or Staging"),
        (
            {"kind": "promote", "version": 99},
            "version 99 of battle_winner_predictor does not exist",
        ),
        ({"kind": "promote", "version": 2, "reason": "   "}, "Give a reason"),
        ({"kind": "promote", "version": 2, "reason": "x" * 10_000}, "Production is now v1"),
        ("not a dict", None),
    ],
)
def test_crafted_pending_actions_change_nothing(
    app_env: Settings, pending: object, message: str | None
) -> None:
    """Whatever lands in the pending action, the registry is unchanged and a message explains."""
    tracker = tracker_for(app_env)
    name = app_env.model_name
    production, audit_before = tracker.current_version(name), len(tracker.audit_log(name))
    app = open_page("models")
    if isinstance(pending, dict):
        pending = {"reason": "crafted", "expected_current": 3, **pending, "confirmed": True}
    app.session_state["models_pending_action"] = pending
    app.run()
    assert not app.exception
    if message is None:
        assert not texts(app.error)  # not an action at all: ignored
    else:
        assert any(message in text for text in texts(app.error)), texts(app.error)
    assert tracker.current_version(name) == production
    added = tracker.audit_log(name).iloc[audit_before:]
    assert set(added["status"]) <= {"conflict"}, "only a refused attempt may be recorded"


def test_approver_and_signed_out_users(app_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listed approver is offered the actions; a signed-out user is not."""
    monkeypatch.setenv("PREDICTIONDEX_APPROVERS", f"{APPROVER},other@example.com")
    app = open_page("models", user={"is_logged_in": True, "email": APPROVER.upper()})
    assert {"models_promote", "models_rollback"} <= keys(app)
    assert any("(approver)" in text for text in texts(app.sidebar.caption))

    app = open_page("models", user={"is_logged_in": False})
    assert "models_promote" not in keys(app)
    assert any("Sign in (sidebar) to promote" in text for text in texts(app.info))
    app.button(key="sidebar_sign_in").click().run()  # no identity provider configured here
    assert not app.exception
    assert any("Sign-in needs Authlib" in text for text in texts(app.sidebar.error))


# --- Train --------------------------------------------------------------------------------------


def wait_for_training(app: AppTest, timeout: float = TRAINING_TIMEOUT) -> AppTest:
    """Rerun the page until this session's training job has finished (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = time.monotonic()
        app.run()
        assert not app.exception
        assert time.monotonic() - started < 5, "a page run must not wait for the training"
        job = app.session_state["train_job"]
        if job.finished:
            return app.run()
        time.sleep(0.5)
    raise AssertionError(f"the training did not finish within {timeout:.0f} s")


def test_train_form_shows_errors_inline(app_env: Settings) -> None:
    """An out-of-range hyperparameter is flagged under its field and nothing starts."""
    app = open_page("train")
    app.number_input(key="train_xgboost_learning_rate").set_value(0.0)
    app.number_input(key="train_xgboost_n_estimators").set_value(10**7)
    app.number_input(key="train_xgboost_max_depth").set_value(10**4)
    app.button(key="train_submit").click().run()
    assert not app.exception
    errors = " ".join(texts(app.error))
    assert "learning_rate=0.0 is out of range" in errors
    assert "n_estimators=10000000 is out of range" in errors
    assert "max_depth=10000 is out of range" in errors
    # Fields are named in plain words (the key is in the help), the summary too.
    assert app.number_input(key="train_xgboost_n_estimators").label == "Trees"
    assert "Fix Trees, Depth, Learning rate above" in errors
    assert "train_job" not in app.session_state


@pytest.fixture
def lowered_battle_limit():
    """TrainConfig's n_battles bound set to 5,000 in its one place (the field), then restored."""
    field = TrainConfig.model_fields["n_battles"]
    original = list(field.metadata)
    field.metadata = [
        annotated_types.Le(5000) if isinstance(item, annotated_types.Le) else item
        for item in original
    ]
    TrainConfig.model_rebuild(force=True)
    yield 5000
    field.metadata = original
    TrainConfig.model_rebuild(force=True)


def test_train_page_limits_follow_the_model(app_env: Settings, lowered_battle_limit: int) -> None:
    """A limit changed on TrainConfig's field is the page's limit, and the model refuses past it."""
    app = open_page("train")
    battles = app.number_input(key="train_n_battles")
    assert battles.max == lowered_battle_limit and battles.min == 1
    assert battles.value == lowered_battle_limit  # the form default (60,000) kept within bounds
    assert battles.label == "Battles to simulate" and "1 to 5,000" in battles.help
    with pytest.raises(
        TrainingError, match=r"n_battles=5001 is out of range: use a value in \[1, 5,000\]"
    ):
        TrainConfig(n_battles=5001)
    oracle = app.number_input(key="train_oracle_replays")
    assert (oracle.min, oracle.max, oracle.value) == (1, 10_000, 400)


def test_train_page_limits_are_the_model_defaults(app_env: Settings) -> None:
    """Without the patch the page shows the model's own bound (10,000,000 battles)."""
    app = open_page("train")
    assert app.number_input(key="train_n_battles").max == 10_000_000


def test_a_failed_training_reads_as_a_message(app_env: Settings) -> None:
    """A training that fails in its thread ends as 'Training failed' plus what to do."""
    from app.jobs import TrainingJob

    job = TrainingJob(TrainConfig(n_battles=20, use_mlflow=False, export_local=False), app_env)
    assert job.start().wait(60)
    app = open_page("train")
    app.session_state["train_job"] = job
    app.run()
    assert not app.exception
    assert [status.label for status in app.status] == ["Training failed"]
    assert any("use more battles" in text for text in texts(app.error))
    assert not app.button(key="train_submit").disabled


@pytest.mark.slow
def test_train_page_trains_a_model_and_shows_its_version(app_env: Settings) -> None:
    """The form trains a small real model in the background; the page shows the new version."""
    tracker = tracker_for(app_env)
    app = open_page("train")
    app.radio(key="train_model_type").set_value("random_forest").run()
    app.number_input(key="train_random_forest_n_estimators").set_value(30)
    app.number_input(key="train_n_battles").set_value(SMALL["n_battles"])
    app.number_input(key="train_oracle_sample").set_value(SMALL["oracle_sample"])
    app.number_input(key="train_oracle_replays").set_value(SMALL["oracle_replays"])
    app.slider(key="train_threshold").set_value(1.0)  # register, do not promote
    app.text_input(key="train_label").input("from the page")
    app.button(key="train_submit").click().run()
    assert not app.exception
    wait_for_training(app)

    newest = int(tracker.compare_models(app_env.model_name)["version"].max())
    assert f"Registered as version {newest} of the model." in texts(app.success)
    assert any("not promoted" in text for text in texts(app.warning))
    assert [status.label for status in app.status][0].startswith("Training finished")
    labels = {metric.label for metric in app.metric}
    assert {"Test accuracy", "Oracle accuracy", "F1", "ROC-AUC"} <= labels
    run_links = [link for link in app.link_button if link.value == "Open the run in MLflow"]
    assert run_links and "/runs/" in run_links[0].proto.url
    versions = tracker.compare_models(app_env.model_name).set_index("version")
    assert versions.loc[newest, "model_type"] == "random_forest"
    assert versions.loc[newest, "stage"] != "Production"
