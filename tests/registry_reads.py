"""What serving reads from a registry, read twice (directly, then through MLflow's client) and
compared: tests/test_registry_rest.py (a tracking server over REST) and
tests/test_registry_embedded.py (the embedded SQLite store with sqlite3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core import registry
from core.config import Settings
from tests.api.harness import MODEL_NAME


def serving_reads(settings: Settings, versions: list[int]) -> dict:
    """Every version by number, the Production and Staging holders, and Production's files."""
    infos = {
        v: registry.resolve_version(MODEL_NAME, version=v, settings=settings) for v in versions
    }
    infos["Production"] = registry.resolve_version(MODEL_NAME, settings=settings)
    infos["Staging"] = registry.resolve_version(MODEL_NAME, stage="Staging", settings=settings)
    bundle = registry.load_model_version(infos["Production"], settings)
    return {"infos": infos, "bundle": bundle}


def assert_same_reads(direct: dict, over_client: dict, production: int) -> None:
    """Equal VersionInfo for every key, the stages of v1 promoted then replaced by v2 and v3 in
    Staging, Production = `production`, and the same model files (same predictions)."""
    assert direct["infos"] == over_client["infos"]
    stages = {key: info.stage for key, info in direct["infos"].items()}
    assert stages == {1: "Archived", 2: "Production", 3: "Staging",
                      "Production": "Production", "Staging": "Staging"}  # fmt: skip
    assert direct["infos"]["Production"].version == production
    direct_bundle, client_bundle = direct["bundle"], over_client["bundle"]
    assert direct_bundle.manifest_sha256 == client_bundle.manifest_sha256
    columns = direct_bundle.feature_columns
    rows = pd.DataFrame(np.random.default_rng(0).random((5, len(columns))), columns=columns)
    assert np.array_equal(direct_bundle.predict_proba(rows), client_bundle.predict_proba(rows))
