"""Training runs: `RunLogger` (start, log, upload the model folder, end) and registration."""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from core import artifacts
from core.registry.checks import (
    MANIFEST_TAG,
    MODEL_ARTIFACT_PATH,
    MODEL_TYPE_TAG,
    validate_model_name,
)
from core.registry.errors import RegistryError
from core.registry.store import Store, error_code, translate

logger = logging.getLogger(__name__)


class RunLogger:
    """One MLflow run. As a context manager it ends KILLED on an interrupt (KeyboardInterrupt),
    FAILED on any other exception, FINISHED otherwise.

    Usage: `with RunLogger(store, "train_v3") as run: run.log_metrics({...}); run.register(...)`.
    Every method raises RegistryError (StoreError for a store fault) when the store fails.
    """

    def __init__(self, store: Store, run_name: str, tags: dict | None = None) -> None:
        self.store, self.run_name, self.tags = store, run_name, dict(tags or {})
        self.run_id: str | None = None

    def start(self) -> str:
        """Create the run in the store's experiment; return its id."""
        with translate("start a run", self.store.settings):
            run = self.store.client.create_run(
                self.store.experiment_id,
                run_name=self.run_name,
                tags={str(k): str(v) for k, v in self.tags.items()},
            )
        self.run_id = run.info.run_id
        logger.info("started run %s (%s)", self.run_name, self.run_id)
        return self.run_id

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED, FAILED or KILLED (no-op when not started)."""
        if self.run_id is None:
            return
        with translate("end the run", self.store.settings):
            self.store.client.set_terminated(self.run_id, status=status)
        self.run_id = None

    def __enter__(self) -> RunLogger:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.end("FINISHED")
            return
        # An interrupt (Ctrl-C, or a job's Cancel) is KILLED in MLflow's words; an error FAILED.
        status = "KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED"
        try:
            self.end(status)
        except RegistryError:
            logger.warning("could not mark run %s %s", self.run_id, status)

    def active(self) -> str:
        """The run id, else RegistryError("no active run")."""
        if self.run_id is None:
            raise RegistryError("no active run: call start_run() first.")
        return self.run_id

    def log_params(self, params: dict) -> None:
        """Log parameters (values as strings, at most 6000 characters each)."""
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
        with translate("log parameters", self.store.settings):
            for start in range(0, len(items), 100):
                self.store.client.log_batch(self.active(), params=items[start : start + 100])

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        """Log numeric metrics (None values are skipped)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items() if v is not None]
        with translate("log metrics", self.store.settings):
            for start in range(0, len(items), 1000):
                self.store.client.log_batch(self.active(), metrics=items[start : start + 1000])

    def set_tags(self, tags: dict) -> None:
        """Set tags on the run."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        with translate("set tags", self.store.settings):
            self.store.client.log_batch(self.active(), tags=items)

    def log_model_dir(self, model_dir: Path, manifest_sha256: str) -> None:
        """Upload a verified model directory as the run's `model/` artifacts, manifest last.

        Raises:
            UntrustedModelError: the folder does not match `manifest_sha256`.
        """
        run_id = self.active()
        model_dir = Path(model_dir)
        metadata = artifacts.verify_model_dir(model_dir, manifest_sha256)
        manifest = model_dir / artifacts.MANIFEST_FILE
        files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p != manifest)
        with translate("upload the model artifacts", self.store.settings):
            for file in [*files, manifest]:
                parent = file.parent.relative_to(model_dir).as_posix()
                path = MODEL_ARTIFACT_PATH if parent == "." else f"{MODEL_ARTIFACT_PATH}/{parent}"
                self.store.client.log_artifact(run_id, str(file), path)
            self.set_tags({MANIFEST_TAG: manifest_sha256, MODEL_TYPE_TAG: metadata["model_type"]})
        logger.info("uploaded model/ (%d files) to run %s", len(files) + 1, run_id)

    def log_files(self, files: list[Path], artifact_path: str) -> None:
        """Upload files (e.g. an evaluation's JSON and PNG) under `artifact_path/` of the run."""
        log_files(self.store, self.active(), files, artifact_path)

    def register(self, model_name: str, description: str = "") -> int:
        """Register this run's complete `model/` as a new version of `model_name`; its number."""
        return register_run(self.store, self.active(), model_name, description)


def log_files(store: Store, run_id: str, files: list[Path], artifact_path: str) -> None:
    """Upload files under `artifact_path/` of an existing run (RegistryError on a store fault)."""
    with translate("upload the run's files", store.settings):
        for file in files:
            store.client.log_artifact(run_id, str(file), artifact_path)


def register_run(store: Store, run_id: str, model_name: str, description: str = "") -> int:
    """Register a run's uploaded `model/` as a new version (never twice for one run).

    Raises:
        RegistryError: invalid name, the run's artifacts are missing or incomplete, or the store
            failed (StoreError for a store fault).
    """
    from mlflow.exceptions import MlflowException

    name = validate_model_name(model_name)
    with translate("register the model", store.settings):
        run = store.client.get_run(run_id)
        manifest_sha = _check_uploaded(store.client, run)
        try:
            store.client.create_registered_model(name)
        except MlflowException as error:
            if error_code(error) != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {MANIFEST_TAG: manifest_sha}
        if run.data.tags.get(MODEL_TYPE_TAG):
            tags[MODEL_TYPE_TAG] = run.data.tags[MODEL_TYPE_TAG]
        source = f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}"
        version = _create_version(store.client, name, source, run_id, tags, description)
    logger.info("registered %s version %s (run %s)", name, version, run_id)
    return version


def _check_uploaded(client, run) -> str:
    """The run's manifest sha256 once its `model/` artifacts are complete, else RegistryError."""
    run_id = run.info.run_id
    expected = run.data.tags.get(MANIFEST_TAG)
    if not expected:
        raise RegistryError(
            f"run {run_id} has no uploaded model: call log_model_dir() before register_model()."
        )
    listed = {
        info.path[len(MODEL_ARTIFACT_PATH) + 1 :]
        for info in client.list_artifacts(run_id, MODEL_ARTIFACT_PATH)
        if not info.is_dir
    }
    again = "upload the model again with log_model_dir()."
    if artifacts.MANIFEST_FILE not in listed:
        raise RegistryError(
            f"run {run_id}'s model/ artifacts are incomplete (no manifest.json): {again}"
        )
    with tempfile.TemporaryDirectory(prefix="predictiondex-manifest-") as tmp:
        local = client.download_artifacts(
            run_id, f"{MODEL_ARTIFACT_PATH}/{artifacts.MANIFEST_FILE}", tmp
        )
        if artifacts.sha256_file(Path(local)) != expected:
            raise RegistryError(
                f"run {run_id}'s uploaded manifest does not match its {MANIFEST_TAG} tag: {again}"
            )
        manifest = json.loads(Path(local).read_text(encoding="utf-8"))
    missing = sorted(set(manifest.get("files", {})) - listed)
    if missing:
        raise RegistryError(
            f"run {run_id}'s model/ artifacts are incomplete (missing {missing}): {again}"
        )
    return expected


def _create_version(client, name: str, source: str, run_id: str, tags: dict, description: str):
    from mlflow.exceptions import MlflowException

    for attempt in range(5):
        try:
            created = client.create_model_version(
                name, source, run_id=run_id, tags=tags, description=description
            )
            return int(created.version)
        except MlflowException as error:
            # A version may exist although the call failed (e.g. a lost reply): never add twice.
            existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
            if existing:
                return int(existing[0].version)
            if attempt == 4:
                raise
            logger.info("version creation failed (%s); retrying", error)
            time.sleep(0.1 * (attempt + 1) * random.uniform(0.5, 1.5))  # noqa: S311
    raise AssertionError("unreachable")


def end_open_runs(
    store: Store, started_after_ms: int, tags: dict[str, str], status: str = "KILLED"
) -> int:
    """Mark `status` the experiment's runs started after `started_after_ms` (epoch ms) that carry
    every tag of `tags` and are still RUNNING; return how many.

    Used when a training process was cancelled or killed before it could end its own run.
    Raises RegistryError when the store fails.
    """
    from mlflow.entities import ViewType

    with translate("close the cancelled runs", store.settings):
        runs = store.client.search_runs(
            [store.experiment_id],
            filter_string=f"attributes.start_time >= {int(started_after_ms)}",
            run_view_type=ViewType.ACTIVE_ONLY,
        )
        closed = 0
        for run in runs:
            if any(run.data.tags.get(key, "") != value for key, value in tags.items()):
                continue
            if run.info.status == "RUNNING":
                store.client.set_terminated(run.info.run_id, status=status)
                closed += 1
    return closed


@dataclass(frozen=True)
class StudyRun:
    """A hyperparameter study's parent run (core.search), as the Models page lists it.

    Fields: study (name), run_id, status (RUNNING / FINISHED / FAILED / KILLED), started
    (UTC), registered_version (the best trial's version, or None), promoted (its decision,
    "True"/"False" or ""), best_value (the objective's best value, or None).
    """

    study: str
    run_id: str
    status: str
    started: datetime
    registered_version: int | None
    promoted: str
    best_value: float | None


def study_runs(store: Store, study_tag: str = "optuna.study", limit: int = 20) -> list[StudyRun]:
    """The newest study parent runs of the experiment (runs with `study_tag` and no parent).

    Raises RegistryError when the store fails.
    """
    with translate("list the search studies", store.settings):
        runs = store.client.search_runs(
            [store.experiment_id],
            filter_string=f"tags.`{study_tag}` != ''",
            order_by=["attributes.start_time DESC"],
            max_results=200,
        )
    rows = []
    for run in runs:
        tags = run.data.tags
        if "mlflow.parentRunId" in tags:
            continue  # a trial, not a study
        version = tags.get("registered_version", "")
        best = run.data.metrics.get("best_value")
        rows.append(
            StudyRun(
                study=tags.get(study_tag, ""),
                run_id=run.info.run_id,
                status=run.info.status,
                started=datetime.fromtimestamp((run.info.start_time or 0) / 1000, UTC),
                registered_version=int(version) if version.isdigit() else None,
                promoted=tags.get("promoted", ""),
                best_value=None if best is None else float(best),
            )
        )
    return rows[:limit]
