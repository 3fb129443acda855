"""Reading the registry: versions as `VersionInfo`, the compare table, the current holder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.config import STAGES
from core.registry.audit import parse_entries, seen_holding
from core.registry.checks import (
    ARCHIVED,
    MANIFEST_TAG,
    MODEL_TYPE_TAG,
    STAGE_TAG,
    as_version,
    stage_alias,
    validate_model_name,
)
from core.registry.errors import NotRegisteredError, RegistryError
from core.registry.store import Store, error_code, translate

if TYPE_CHECKING:
    import pandas as pd

RUN_ID_CHUNK = 100
NO_STAGE = "none"  # the stage label of a version that is registered only
# compare_models column -> run metric name.
METRIC_COLUMNS = {
    "accuracy": "test_accuracy",
    "f1_score": "test_f1",
    "roc_auc": "test_roc_auc",
    "oracle_accuracy": "oracle_accuracy",
    # The model's own expected accuracy on the battles the oracle was measured on (like for like).
    "expected_accuracy": "expected_accuracy",
    "precision": "test_precision",
    "recall": "test_recall",
    "train_accuracy": "train_accuracy",
    "overfitting": "overfitting",
    "log_loss": "test_log_loss",
    "brier": "test_brier",
    # The paired gap to the oracle (>= 0, with its bootstrap interval) and matchup calibration.
    "excess_error": "excess_error",
    "excess_error_low": "excess_error_low",
    "excess_error_high": "excess_error_high",
    "matchup_mae": "matchup_mae",
}
# Hyperparameters shown beside a version: run param -> short name.
KEY_PARAMETERS = {"n_estimators": "trees", "max_depth": "depth", "learning_rate": "lr"}
COMPARE_COLUMNS = [
    "version",
    "stage",
    *METRIC_COLUMNS,
    "model_type",
    "version_label",
    "hyperparameters",
    "created_at",
    "description",
    "run_id",
    "aliases",
    "status",
    "manifest_sha256",
]


@dataclass(frozen=True)
class VersionInfo:
    """A concrete registered model version, as plain data.

    Attributes:
        model_name, version (>= 1); stage: "Production", "Staging", "Archived" or "none";
        aliases: the aliases pointing at it; run_id / source: where its artifacts are;
        manifest_sha256: the hash its artifacts must match; model_type: "xgboost", ...;
        description; created_at (UTC); tags: the version's tags.
    """

    model_name: str
    version: int
    stage: str
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    source: str = ""
    manifest_sha256: str | None = None
    model_type: str | None = None
    description: str = ""
    created_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)


def aliases_by_version(aliases: dict[str, str]) -> dict[int, tuple[str, ...]]:
    """{version: its aliases, sorted} from a registered model's alias map."""
    by_version: dict[int, list[str]] = {}
    for alias, value in aliases.items():
        number = as_version(value)
        if number is not None:
            by_version.setdefault(number, []).append(alias)
    return {number: tuple(sorted(names)) for number, names in by_version.items()}


def stage_of(aliases: tuple[str, ...], tags: dict[str, str], held_production: bool = False) -> str:
    """The stage shown for a version (the project's label; MLflow's stages are never read):
    its alias's stage, else Archived when it held Production before (the Archived tag a
    promotion leaves, or `held_production`: the audit trail saw it hold Production, e.g. when
    the alias was moved outside PredictionDex), else NO_STAGE ("none": registered only)."""
    for stage in STAGES:
        if stage.lower() in aliases:
            return stage
    return ARCHIVED if held_production or tags.get(STAGE_TAG) == ARCHIVED else NO_STAGE


def former_production(registered) -> set[int]:
    """The versions the audit trail saw hold Production (installed or replaced)."""
    return seen_holding(parse_entries(registered.tags), "Production")


def version_info(version, aliases: tuple[str, ...], held_production: bool = False) -> VersionInfo:
    """An MLflow ModelVersion as VersionInfo (held_production: see stage_of)."""
    return VersionInfo(
        model_name=version.name,
        version=int(version.version),
        stage=stage_of(aliases, version.tags, held_production),
        aliases=aliases,
        run_id=version.run_id,
        source=version.source,
        manifest_sha256=version.tags.get(MANIFEST_TAG),
        model_type=version.tags.get(MODEL_TYPE_TAG),
        description=version.description or "",
        created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
        tags=dict(version.tags),
    )


def get_registered(client, name: str):
    """The registered model, else NotRegisteredError."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if error_code(error) == "RESOURCE_DOES_NOT_EXIST":
            raise NotRegisteredError(
                f"model {name!r} is not registered yet: train one with `python -m core.train`."
            ) from None
        raise


def get_version(client, name: str, number: int):
    """The model version, else RegistryError naming how to list the existing ones."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(number))
    except MlflowException as error:
        if error_code(error) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RegistryError(
                f"version {number} of {name} does not exist: pick one listed by "
                "`python -m core.registry list`."
            ) from None
        raise


def all_versions(client, name: str) -> list:
    """Every ModelVersion of `name` (all pages)."""
    versions, token = [], None
    while True:
        page = client.search_model_versions(f"name='{name}'", page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def runs_by_id(client, run_ids: list[str]) -> dict[str, Any]:
    """Runs by id, fetched in batches of RUN_ID_CHUNK ids (one search_runs per batch)."""
    from mlflow.entities import ViewType

    ids = sorted({run_id for run_id in run_ids if run_id})
    if not ids:
        return {}
    experiment_ids = [e.experiment_id for e in client.search_experiments(ViewType.ALL)]
    runs = {}
    for start in range(0, len(ids), RUN_ID_CHUNK):
        chunk = ids[start : start + RUN_ID_CHUNK]
        quoted = ", ".join(f"'{run_id}'" for run_id in chunk)
        token = None
        while True:
            page = client.search_runs(
                experiment_ids,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
                max_results=len(chunk),
                page_token=token,
            )
            runs.update({run.info.run_id: run for run in page})
            token = page.token
            if not token:
                break
    return runs


def compare_table(store: Store, model_name: str) -> pd.DataFrame:
    """One row per version, newest first (COMPARE_COLUMNS; metrics as floats, NaN if missing).

    Raises:
        RegistryError: invalid name or the store failed (StoreError for a store fault).
    """
    import pandas as pd

    name = validate_model_name(model_name)
    with translate("compare the versions", store.settings):
        try:
            registered = get_registered(store.client, name)
        except NotRegisteredError:
            return pd.DataFrame(columns=COMPARE_COLUMNS)
        versions = all_versions(store.client, name)
        runs = runs_by_id(store.client, [v.run_id for v in versions])
    by_version, former = aliases_by_version(registered.aliases), former_production(registered)
    rows = [_compare_row(v, by_version.get(int(v.version), ()), runs, former) for v in versions]
    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    if not frame.empty:
        frame = frame.sort_values("version", ascending=False, ignore_index=True)
        frame["version"] = frame["version"].astype(int)
    for column in METRIC_COLUMNS:  # a metric no version logged is NaN too, not None
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def key_parameters(params: dict[str, str]) -> str:
    """'150 trees · depth 6 · lr 0.1' from a run's params ('' when it logged none)."""
    shown = [f"{params[key]} {name}" if name == "trees" else f"{name} {params[key]}"
             for key, name in KEY_PARAMETERS.items() if params.get(key) not in (None, "None")]  # fmt: skip
    return " · ".join(shown)


def _compare_row(version, aliases: tuple[str, ...], runs: dict, former: set[int]) -> dict:
    import pandas as pd

    run = runs.get(version.run_id)
    metrics = run.data.metrics if run else {}
    run_tags = run.data.tags if run else {}
    return {
        "version": int(version.version),
        "stage": stage_of(aliases, version.tags, int(version.version) in former),
        **{column: metrics.get(metric) for column, metric in METRIC_COLUMNS.items()},
        "model_type": version.tags.get(MODEL_TYPE_TAG) or run_tags.get(MODEL_TYPE_TAG),
        "version_label": run_tags.get("version_label", ""),
        "hyperparameters": key_parameters(run.data.params if run else {}),
        "created_at": pd.Timestamp(version.creation_timestamp, unit="ms", tz="UTC"),
        "description": version.description or "",
        "run_id": version.run_id,
        "aliases": ",".join(aliases),
        "status": version.status,
        "manifest_sha256": version.tags.get(MANIFEST_TAG),
    }


def list_versions(store: Store, model_name: str) -> list[VersionInfo]:
    """Every version as VersionInfo, newest first.

    Raises:
        NotRegisteredError: the model is not registered; RegistryError: the store failed.
    """
    name = validate_model_name(model_name)
    with translate("list the versions", store.settings):
        registered = get_registered(store.client, name)
        versions = all_versions(store.client, name)
    by_version, former = aliases_by_version(registered.aliases), former_production(registered)
    infos = [
        version_info(v, by_version.get(int(v.version), ()), int(v.version) in former)
        for v in versions
    ]
    return sorted(infos, key=lambda info: info.version, reverse=True)


def current_version(store: Store, model_name: str, stage: str = "Production") -> int | None:
    """The version holding the stage's alias, or None (also when the model is not registered)."""
    name = validate_model_name(model_name)
    _, alias = stage_alias(stage)
    with translate("read the aliases", store.settings):
        try:
            registered = get_registered(store.client, name)
        except NotRegisteredError:
            return None
    return as_version(registered.aliases.get(alias))


def registered_names(store: Store) -> list[str]:
    """The names of every registered model, sorted (all pages).

    Raises:
        RegistryError: the store failed (StoreError for a store fault).
    """
    names, token = [], None
    with translate("list the registered models", store.settings):
        while True:
            page = store.client.search_registered_models(page_token=token)
            names.extend(model.name for model in page)
            token = page.token
            if not token:
                return sorted(names)
