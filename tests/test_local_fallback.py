"""The local fallback follows Production, and says which version it is (a new user's trial).

A module fixture trains two tiny real models in a real SQLite store: v1 (XGBoost, promoted and
exported to models/) and v2 (random forest, registered only). Each test works on its own copy of
the store file and of models/, and drives the real CLIs (`python -m core.registry`,
`python -m core.train ensure`, `python -m core.predict export`) as child processes.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import artifacts
from core.config import PROJECT_ROOT, Settings
from core.predict import PredictionModel
from core.registry import MLflowTracker, Registry
from core.train import TrainConfig, train_model
from tests.cli import child_env, run_cli
from tests.stores import embedded_settings
from tests.tiny_models import TINY_TRAINING, write_tiny_model

RETRY = "python -m core.predict export"
MAIN = PROJECT_ROOT / "app" / "main.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, store_template) -> Settings:
    """v1 xgboost (Production, exported to models/) and v2 random forest (registered only)."""
    settings = embedded_settings(tmp_path_factory.mktemp("fallback-store"), store_template)
    first = train_model(TrainConfig(**TINY_TRAINING, promotion_policy="threshold", threshold=0.0),
                        settings)  # fmt: skip
    second = train_model(
        TrainConfig(**TINY_TRAINING, model_type="random_forest", seed=7,
                    promotion_policy="manual", export_local=False),
        settings,
    )  # fmt: skip
    assert (first.version, first.promoted, second.version, second.promoted) == (1, True, 2, False)
    return settings


@pytest.fixture
def store(trained: Settings, tmp_path: Path) -> Settings:
    """A private copy of the trained store file and of models/ (artifacts are only read)."""
    shutil.copyfile(trained.sqlite_path, tmp_path / "mlflow.db")
    shutil.copytree(trained.models_dir, tmp_path / "models")
    return replace(
        trained, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", models_dir=tmp_path / "models"
    )


def fallback(settings: Settings) -> tuple[str | None, str]:
    """(the version models/ records, its model type), after checking every hash."""
    model_type = artifacts.verify_model_dir(settings.models_dir)["model_type"]
    return artifacts.read_installed(settings.models_dir).model_version, model_type


def unwritable_models_dir(settings: Settings, tmp_path: Path) -> Settings:
    """`settings` whose models/ cannot be created (a file stands where its parent should be)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where models/ should be", encoding="utf-8")
    return replace(settings, models_dir=blocker / "models")


def install_unversioned(settings: Settings, tmp_path: Path) -> None:
    """What `python -m core.train --no-mlflow` leaves: a model with no name and no version."""
    write_tiny_model(tmp_path / "unversioned", seed=3)
    artifacts.install_local_model(tmp_path / "unversioned", settings.models_dir, None, None)


def set_legacy_stage(settings: Settings, version: int, stage: str) -> None:
    """What the MLflow UI's "Transition to" writes: the deprecated stage column, no alias."""
    with sqlite3.connect(settings.sqlite_path) as connection:
        changed = connection.execute(
            "UPDATE model_versions SET current_stage = ? WHERE name = ? AND version = ?",
            (stage, settings.model_name, version),
        ).rowcount
    assert changed == 1


# --- promote and rollback export the new Production ----------------------------------------------


def test_cli_promote_and_rollback_export_the_new_production(store: Settings) -> None:
    assert fallback(store) == ("1", "xgboost")
    done = run_cli("core.registry", ["promote", "2", "--reason", "forest"], store)
    assert done.returncode == 0, done.stderr
    assert "v2 is now Production (was v1)" in done.stdout
    assert "local fallback updated to v2" in done.stdout
    assert fallback(store) == ("2", "random_forest")

    done = run_cli("core.registry", ["rollback", "--reason", "back"], store)
    assert done.returncode == 0, done.stderr
    assert "local fallback updated to v1" in done.stdout
    assert fallback(store) == ("1", "xgboost")
    doctor = run_cli("core.registry", ["doctor"], store)
    assert doctor.returncode == 0 and "no inconsistencies" in doctor.stdout, doctor.stdout


def test_a_failed_export_keeps_the_promotion_and_says_how_to_retry(
    store: Settings, tmp_path: Path
) -> None:
    broken = unwritable_models_dir(store, tmp_path)
    done = run_cli("core.registry", ["promote", "2", "--reason", "forest"], broken)
    assert done.returncode == 0, done.stderr
    assert "v2 is now Production (was v1)" in done.stdout
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "NOT updated to v2" in warning[0] and RETRY in warning[0]
    assert "Traceback" not in done.stderr
    assert MLflowTracker(settings=store).current_version(store.model_name) == 2


# The seed guide's rollback (scenario 3), as its reader runs it: a tracker built from the environment.
SEED_ROLLBACK = """
from core.registry import MLflowTracker
tracker = MLflowTracker(experiment_name="battle_winner_production")
tracker.promote_to_production("battle_winner_predictor", version=2)
"""


def test_the_seed_apis_promotion_exports_the_fallback_and_prints_nothing(store: Settings) -> None:
    """Before, models/ kept serving v1 after the guide's snippet until `doctor`/`ensure` ran."""
    done = subprocess.run(
        [sys.executable, "-c", SEED_ROLLBACK], cwd=PROJECT_ROOT, env=child_env(store),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""  # the guide's code prints its own lines, the API none
    assert fallback(store) == ("2", "random_forest")
    assert MLflowTracker(settings=store).current_version(store.model_name) == 2
    assert MLflowTracker(settings=store).doctor(store.model_name) == []

    result = MLflowTracker(settings=store).promote_to_production(store.model_name, 1)
    assert (result.fallback.outcome, result.fallback.version) == ("updated", "1")
    again = MLflowTracker(settings=store).promote_to_production(store.model_name, 1)
    assert (again.changed, again.fallback.outcome) == (False, "current")
    assert fallback(store) == ("1", "xgboost")


def test_a_failed_export_after_the_seed_apis_promotion_keeps_the_promotion(
    store: Settings, tmp_path: Path
) -> None:
    broken = unwritable_models_dir(store, tmp_path)
    result = MLflowTracker(settings=broken).promote_to_production(store.model_name, 2)
    assert result.changed and result.fallback.outcome == "failed"
    assert RETRY in result.fallback.message
    assert MLflowTracker(settings=store).current_version(store.model_name) == 2


# Each process promotes its versions in turn (no expected holder), released with the others.
RACING_PROMOTER = """
import sys
from core.config import Settings
from core.registry import MLflowTracker
tracker = MLflowTracker(settings=Settings.from_env())
print("ready", flush=True)
sys.stdin.readline()
for version in sys.argv[1:]:
    tracker.promote_to_production("battle_winner_predictor", int(version), reason="race")
"""


def test_promoters_racing_through_the_seed_api_leave_the_final_production_in_models(
    store: Settings,
) -> None:
    """The export runs under the promotion lock: the last promotion's export is the last one."""
    orders = (("2", "1", "2"), ("1", "2", "1"), ("2", "2", "1"))
    promoters = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_PROMOTER, *order],
            cwd=PROJECT_ROOT,
            env=child_env(store),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in orders
    ]
    try:
        for promoter in promoters:
            assert promoter.stdout.readline().strip() == "ready", promoter.stderr.read()[-2000:]
        for promoter in promoters:
            promoter.stdin.write("go\n")
            promoter.stdin.flush()
        errors = [promoter.communicate(timeout=240)[1] for promoter in promoters]
    finally:
        for promoter in promoters:
            if promoter.poll() is None:
                promoter.kill()
    assert [promoter.returncode for promoter in promoters] == [0, 0, 0], errors
    tracker = MLflowTracker(settings=store)
    audit = tracker.audit_log(store.model_name)
    assert (audit["status"] == "ok").sum() >= 2  # several promotions really changed Production
    assert fallback(store)[0] == str(tracker.current_version(store.model_name))


# --- ensure and doctor see a fallback that does not follow Production ----------------------------


@pytest.mark.parametrize("held", ["v1", "unversioned"])
def test_ensure_re_exports_a_fallback_that_is_not_production(
    store: Settings, tmp_path: Path, held: str
) -> None:
    # Registry.promote moves the alias only (promote_to_production would export v2 as well).
    Registry(store).promote(store.model_name, 2, reason="r", user="t")
    if held == "unversioned":
        install_unversioned(store, tmp_path)
    said = "an unversioned model" if held == "unversioned" else "v1"

    doctor = run_cli("core.registry", ["doctor"], store)
    assert doctor.returncode == 1
    assert (
        f"problem: the local fallback holds {said} while Production is v2: run `{RETRY}`"
        in doctor.stdout.splitlines()
    ), doctor.stdout

    done = run_cli("core.train", ["ensure"], store)
    assert done.returncode == 0, done.stderr
    assert f"The local fallback holds {said}, not Production's v2." in done.stdout
    assert "Local fallback updated to v2." in done.stdout
    assert fallback(store) == ("2", "random_forest")
    again = run_cli("core.train", ["ensure"], store)
    assert "the local fallback holds it: nothing to do" in again.stdout, again.stdout
    assert MLflowTracker(settings=store).doctor(store.model_name) == []


def test_doctor_reports_legacy_stages_that_the_alias_does_not_follow(store: Settings) -> None:
    set_legacy_stage(store, 2, "Production")  # the seed guide's "Transition to Production"
    set_legacy_stage(store, 1, "Staging")  # nobody holds the staging alias
    done = run_cli("core.registry", ["doctor"], store)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert (
        "problem: v2 has the legacy MLflow stage Production (set in the MLflow UI?) but the alias "
        "production is on v1: PredictionDex uses the alias: run "
        "`python -m core.registry promote 2`" in lines
    ), lines
    assert any(
        "v1 has the legacy MLflow stage Staging" in line and "is on no version" in line
        and line.endswith("`python -m core.registry promote 1 --stage Staging`")
        for line in lines
    ), lines  # fmt: skip

    # The legacy stage agreeing with the alias is not a problem.
    set_legacy_stage(store, 2, "None")
    set_legacy_stage(store, 1, "Production")
    assert MLflowTracker(settings=store).doctor(store.model_name) == []


# --- list: a mistyped model name, a closed pipe --------------------------------------------------


def test_list_of_an_unknown_model_names_the_registered_ones(store: Settings) -> None:
    done = run_cli("core.registry", ["list", "--model", "nope"], store)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: model 'nope' is not registered; registered models: battle_winner_predictor "
        "(choose one with --model NAME)."
    ]


def test_list_of_an_empty_store_is_empty_unless_a_model_is_named(settings_factory) -> None:
    """A new store lists nothing (exit 0, as the cold-start test's `list` expects); naming a
    model there is the mistyped-name error."""
    empty = settings_factory(with_store=True)
    done = run_cli("core.registry", ["list"], empty)
    assert done.returncode == 0, done.stderr
    named = run_cli("core.registry", ["list", "--model", "nope"], empty)
    assert named.returncode == 2 and "no model is registered in this store yet" in named.stderr


def test_a_closed_pipe_ends_the_listing_quietly(store: Settings) -> None:
    """`python -m core.registry list | head -1`: the reader is gone before the table is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "core.registry", "list"],
        cwd=PROJECT_ROOT,
        env=child_env(store),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # what `head -1` does once it has its line (here: before any)
    _, errors = process.communicate(timeout=180)
    assert process.returncode == 0
    assert errors.decode() == ""


# --- a model served from models/ is named by its own version -------------------------------------


def test_serving_labels_the_local_model_by_its_recorded_version(
    store: Settings, tmp_path: Path
) -> None:
    local_only = replace(store, use_registry=False)
    model = PredictionModel(local_only)
    served = model.get_model()
    assert (served.source, served.model_version, served.label) == (
        "local",
        "1",
        "v1 (local fallback)",
    )
    assert model.status().label == "v1 (local fallback)" and model.status().serving_stage is None

    install_unversioned(store, tmp_path)
    model = PredictionModel(local_only)
    served = model.get_model()
    assert (served.model_version, served.label) == (None, "unversioned local model")
    assert served.describe() == "unversioned local model (xgboost)"
    answer = model.predict_winner("Pikachu", "Onix")
    assert (answer.source, answer.model_version) == ("local", None)


def test_the_sidebar_names_an_unversioned_local_model(
    store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_unversioned(store, tmp_path)
    for name, value in replace(store, use_registry=False).to_env().items():
        monkeypatch.setenv(name, value)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        app = AppTest.from_file(str(MAIN), default_timeout=60).run()
        assert not app.exception, [e.value for e in app.exception]
        captions = " ".join(str(caption.value) for caption in app.sidebar.caption)
        assert "**Serving** unversioned local model from models/" in captions, captions
        assert "v?" not in captions and "stage Production" not in captions
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_read_installed_reads_what_install_recorded(tmp_path: Path) -> None:
    assert artifacts.read_installed(tmp_path / "models") is None
    write_tiny_model(tmp_path / "source", seed=1)
    artifacts.install_local_model(tmp_path / "source", tmp_path / "models", "m", 4)
    installed = artifacts.read_installed(tmp_path / "models")
    assert (installed.model_name, installed.model_version, installed.label) == ("m", "4", "v4")
    manifest = tmp_path / "models" / artifacts.MANIFEST_FILE
    manifest.write_text(json.dumps(["not", "an", "object"]), encoding="utf-8")
    assert artifacts.read_installed(tmp_path / "models").label == "unversioned local model"
