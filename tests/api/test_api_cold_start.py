"""A fresh API process (issue 15's cold start): its first answer comes from the local fallback
before mlflow, scikit-learn or pandas is imported, and a process started that way serves every
model kind.

`python -m api` imports xgboost with scikit-learn hidden and loads XGBoost models as Boosters
(core.predict.startup, core.artifacts.load_model_dir), so scikit-learn is imported only when a
random forest needs it. The first test reads the served process's own `sys.modules` at its first
answer (tests/api/first_answer.py serves the app as `python -m api` builds it, in one process);
the second serves a registry forest after a local XGBoost in one such process.
"""

from __future__ import annotations

import json

import pytest

from core.predict.policy import STARTING_DETAIL
from core.registry import MLflowTracker
from tests.api.harness import (
    MODEL_NAME,
    install_local_model,
    register_tiny_model,
    running_api,
    wait_for,
    wait_ready,
)
from tests.cli import run_python

pytestmark = [pytest.mark.slow, pytest.mark.server]
LOCAL_VERSION = "3"


@pytest.mark.parametrize("use_registry", [False, True], ids=["registry_off", "registry_on"])
def test_first_answer_is_local_without_mlflow_or_sklearn_imported(
    use_registry, settings_factory, tmp_path
):
    settings = settings_factory(with_store=use_registry, use_registry=use_registry)
    install_local_model(settings, tmp_path, version=LOCAL_VERSION)
    if use_registry:  # a Production version to load in the background
        version = register_tiny_model(settings, tmp_path, seed=1)
        MLflowTracker(settings=settings).promote_to_production(MODEL_NAME, version)

    # The registry's version loads through MLflow's client here (a client variable turns off
    # the direct reads, which load it ~50 ms after the local model, too close to tell apart):
    # the local answer must not wait for mlflow's import.
    extra = {"MLFLOW_TRACKING_TOKEN": "unused-by-a-file-store"} if use_registry else {}
    done = run_python(["-m", "tests.api.first_answer"], settings=settings, env=extra, timeout=180)

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["source"], report["model_type"]) == ("local", "xgboost")
    assert "xgboost" in report["imported"]
    assert "sklearn" not in report["imported"]
    if not use_registry:
        # pandas too: the modules on the start path import it where they build a table.
        assert "mlflow" not in report["imported"] and "pandas" not in report["imported"]
    # With the registry on, mlflow's import (and pandas with it) has started in the background
    # by then; the local answer does not wait for it.


def test_a_replica_following_a_server_loads_from_it_on_its_first_try(
    mlflow_server, settings_factory, tmp_path
):
    """Team mode: a fresh replica's first resolve is not cut short by mlflow's own import.

    The deadline on registry calls is 2 x the registry timeout (1.0 s here); importing mlflow
    alone takes longer than that (~2 CPU s), so it must run before the clock starts, or every
    new replica falls back to local and skips the registry for the breaker's cool-down.
    """
    settings = settings_factory(tracking_uri=mlflow_server.url, registry_timeout_seconds=0.5)
    install_local_model(settings, tmp_path, version=LOCAL_VERSION)
    version = register_tiny_model(settings, tmp_path, seed=4)
    MLflowTracker(settings=settings).promote_to_production(MODEL_NAME, version)

    with running_api(settings) as api:
        wait_ready(api, timeout=60)

        def first_attempt_done() -> dict | None:
            model = api.get("/model").json()
            return None if model["fallback_reason"] == STARTING_DETAIL else model

        model = wait_for(first_attempt_done, 60, "the registry's first load ends")
        assert model["fallback_reason"] is None, model["fallback_reason"]
        assert (model["source"], model["model_version"]) == ("registry", str(version))


@pytest.mark.parametrize("credentials", [False, True], ids=["direct", "mlflow_client"])
@pytest.mark.parametrize("store", ["server", "embedded"])
def test_the_first_registry_answer_imports_neither_mlflow_nor_its_sql_store(
    store, credentials, settings_factory, tmp_path, request
):
    """Serving reads the Production version without MLflow's client: a team's `mlflow server`
    over its REST API (core.registry.rest), `make api`'s embedded store with sqlite3
    (core.registry.embedded). So neither mlflow nor SQLAlchemy/alembic is imported when the
    registry's version first answers, unless an MLflow client variable hands the reads back to
    MLflow's client, which then answers the same version (and a server's SQL store still runs
    in the server, never in a replica)."""
    if store == "server":
        settings = settings_factory(tracking_uri=request.getfixturevalue("mlflow_server").url)
    else:
        settings = settings_factory(with_store=True)
    install_local_model(settings, tmp_path, version=LOCAL_VERSION)
    version = register_tiny_model(settings, tmp_path, seed=5)
    MLflowTracker(settings=settings).promote_to_production(MODEL_NAME, version)
    extra = {"MLFLOW_TRACKING_TOKEN": "not-checked-by-this-store"} if credentials else {}

    done = run_python(
        ["-m", "tests.api.first_answer", "--source", "registry"],
        settings=settings, env=extra, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["source"], report["model_version"]) == ("registry", str(version))
    assert ("mlflow" in report["imported"]) is credentials
    sql_store = credentials and store == "embedded"
    assert ("sqlalchemy" in report["imported"]) is sql_store
    assert ("alembic" in report["imported"]) is sql_store


def test_lean_process_serves_a_registry_forest_after_a_local_xgboost(settings_factory, tmp_path):
    settings = settings_factory(with_store=True)
    install_local_model(settings, tmp_path, version=LOCAL_VERSION)
    version = register_tiny_model(settings, tmp_path, seed=2, model_type="random_forest")
    MLflowTracker(settings=settings).promote_to_production(MODEL_NAME, version)

    with running_api(settings) as api:
        wait_ready(api, timeout=60)

        def forest() -> dict | None:
            response = api.post("/predict", json={"pokemon_a": "Snorlax", "pokemon_b": "Pikachu"})
            assert response.status_code == 200, response.text
            body = response.json()
            return body if body["source"] == "registry" else None

        answer = wait_for(forest, 60, "the registry's forest answers")
        assert (answer["model_type"], answer["model_version"]) == ("random_forest", str(version))

        explained = api.post(
            "/predict", json={"pokemon_a": "Mewtwo", "pokemon_b": "Magikarp", "explain": True}
        )
        assert explained.status_code == 200, explained.text
        assert explained.json()["contributions"]
        batch = api.post(
            "/predict/batch",
            json={"rows": [{"pokemon_a": "Onix", "pokemon_b": "Pikachu"}, {"pokemon_a": "Mew"}]},
        )
        assert batch.status_code == 200, batch.text
        assert [row["ok"] for row in batch.json()["results"]] == [True, False]
        assert batch.json()["model_version"] == str(version)
        matrix = api.get("/matrix", params={"pokemon": "Pikachu,Onix,Mew"})
        assert matrix.status_code == 200, matrix.text
        assert len(matrix.json()["p_row_wins"]) == 3
        model = api.get("/model").json()
        assert (model["model_type"], model["source"]) == ("random_forest", "registry")
        assert "Traceback" not in api.log()
