"""Concurrent registration: 4 processes x 10 real training runs at once, on an embedded SQLite
store and on a real `mlflow server`: 40 versions, distinct and contiguous, each loadable, no error.

Every run clears the promotion threshold (0.0), so the 40 auto-promotions race too: afterwards
exactly one version holds Production, the one the audit trail's last successful action installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from core import artifacts
from core.registry import LOCK_SUFFIX, MLflowTracker, load_model_from_registry
from tests.reliability.harness import (
    TINY_TRAINING,
    Worker,
    release_together,
    sqlite_settings,
    workers,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

PROCESSES = 4
RUNS_PER_PROCESS = 10
TOTAL = PROCESSES * RUNS_PER_PROCESS


@pytest.fixture(scope="module")
def trainers() -> Iterator[list[Worker]]:
    """Four worker processes, shared by the SQLite and the server test."""
    with workers(PROCESSES, prefix="trainer") as pool:
        yield pool


def register_concurrently(pool: list[Worker], settings) -> dict:
    """Run the 4 x 10 trainings at once and check everything the guarantee promises."""
    store = settings.to_env()
    replies = release_together(
        pool,
        [
            {
                "op": "train",
                "settings": store,
                "config": {**TINY_TRAINING, "version_label": f"p{index}"},
                "seeds": [index * 100 + run for run in range(RUNS_PER_PROCESS)],
            }
            for index in range(PROCESSES)
        ],
        timeout=600,
    )
    errors = [f"{reply['kind']}: {reply['error']}" for reply in replies if not reply["ok"]]
    runs = [run for reply in replies if reply["ok"] for run in reply["value"]["runs"]]
    errors += [f"{run['error']}\n{run['trace']}" for run in runs if "error" in run]
    assert not errors, "\n".join(errors)
    reported = sorted(run["version"] for run in runs)
    assert reported == list(range(1, TOTAL + 1)), reported  # each process got distinct numbers

    tracker = MLflowTracker(settings=settings)
    name = settings.model_name
    frame = tracker.compare_models(name)
    versions = sorted(int(v) for v in frame["version"])
    assert versions == list(range(1, TOTAL + 1)), versions  # distinct and contiguous 1..40
    assert frame["run_id"].nunique() == TOTAL
    assert set(frame["status"]) == {"READY"}
    loaded = 0
    for version in versions:
        bundle, info = load_model_from_registry(name, version=version, settings=settings)
        assert info.version == version and bundle.model_type == "xgboost"
        loaded += 1
    assert tracker.doctor(name) == []

    production = tracker.current_version(name)
    assert frame["stage"].tolist().count("Production") == 1
    audit = tracker.audit_log(name)
    promotions = audit[audit["status"] == "ok"]
    assert promotions["to_version"].iloc[-1] == production
    promoted = sum(1 for run in runs if run["promoted"])
    assert not tracker.client.search_registered_models(f"name='{name}{LOCK_SUFFIX}'")
    # The local fallback written by the racing exports is whole and verifiable.
    artifacts.verify_model_dir(settings.models_dir)
    manifest = json.loads((settings.models_dir / artifacts.MANIFEST_FILE).read_text())
    return {
        "processes": PROCESSES,
        "runs": len(runs),
        "errors": len(errors),
        "versions": len(versions),
        "contiguous": versions == list(range(1, TOTAL + 1)),
        "loadable": loaded,
        "auto_promotions": promoted,
        "audited_promotions": len(promotions),
        "production": production,
        "local_fallback_version": int(manifest["model_version"]),
    }


def test_concurrent_registration_on_sqlite(trainers, tmp_path, counts):
    settings = sqlite_settings(tmp_path, promotion_threshold=0.0)
    counts(**register_concurrently(trainers, settings))


@pytest.mark.server
def test_concurrent_registration_on_a_real_server(trainers, mlflow_server, tmp_path, counts):
    settings = sqlite_settings(tmp_path, tracking_uri=mlflow_server.url, promotion_threshold=0.0)
    counts(**register_concurrently(trainers, settings))
