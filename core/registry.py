"""The MLflow tracking store and Model Registry: runs, versions, aliases, audit trail, rollback.

This is the only module that talks to MlflowClient. Stages are aliases (MLflow 3 deprecated
stages): Production = alias `production`, Staging = alias `staging`; a version that loses
Production is tagged `stage=Archived`. Every promotion and rollback is serialised by a lock kept in
the tracking store itself and appended to an audit trail stored as registered-model tags, so every
process, every machine and the MLflow UI see the same history.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import PredictionDexError
from core import artifacts
from core.artifacts import ModelBundle, UntrustedModelError
from core.config import STAGES, ConfigError, Settings, mask_uri

logger = logging.getLogger(__name__)

MODEL_ARTIFACT_PATH = "model"
MANIFEST_TAG = "manifest_sha256"
MODEL_TYPE_TAG = "model_type"
STAGE_TAG = "stage"
ARCHIVED = "Archived"
AUDIT_PREFIX = "audit."
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT_SECONDS = 10.0
LOCK_STALE_SECONDS = 30.0
RUN_ID_CHUNK = 100
MAX_REASON_CHARS = 500
MAX_USER_CHARS = 100
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
VERSION_PATTERN = re.compile(r"^[1-9][0-9]{0,8}$")

# compare_models column -> run metric name.
METRIC_COLUMNS = {
    "accuracy": "test_accuracy",
    "f1_score": "test_f1",
    "roc_auc": "test_roc_auc",
    "oracle_accuracy": "oracle_accuracy",
    "precision": "test_precision",
    "recall": "test_recall",
    "train_accuracy": "train_accuracy",
    "overfitting": "overfitting",
    "log_loss": "test_log_loss",
    "brier": "test_brier",
}
COMPARE_COLUMNS = [
    "version",
    "stage",
    *METRIC_COLUMNS,
    "model_type",
    "created_at",
    "description",
    "run_id",
    "aliases",
    "status",
    "manifest_sha256",
]
AUDIT_COLUMNS = [
    "time",
    "user",
    "action",
    "stage",
    "from_version",
    "to_version",
    "reason",
    "status",
    "seq",
]
WAYS_OUT = (
    "Ways out: (1) train a new model: `python -m core.train` (promoted automatically when "
    "test_accuracy >= PROMOTION_THRESHOLD); (2) promote a version manually: "
    "`python -m core.registry promote VERSION` or the Models page; (3) use Staging "
    "temporarily: `export MLFLOW_MODEL_STAGE=Staging`."
)


class RegistryError(PredictionDexError):
    """A registry operation failed or was refused; the message says what to do."""


class RegistryUnavailable(RegistryError):
    """The registry did not answer in time or answered with an error (serving falls back)."""

    default_hint = (
        "Start the server (`docker compose up mlflow`, `make mlflow-ui`) or point "
        "MLFLOW_TRACKING_URI at one that answers; predictions use the local fallback meanwhile."
    )


class PromotionConflict(RegistryError):
    """The alias moved since the caller looked: "Production is now vN"."""


class NotRegisteredError(RegistryError):
    """The registered model does not exist yet."""


class NoModelError(RegistryError):
    """No version holds the requested stage.

    Attributes:
        stage: the stage asked for ("Production" or "Staging").
        detail: why, without the ways out: "for <model>" or "(model '<model>' is not registered)".
    """

    default_hint = WAYS_OUT

    def __init__(self, stage: str, detail: str, *, fallback_dir: str | None = None) -> None:
        self.stage, self.detail = stage, detail
        where = f", and no local fallback in {fallback_dir}" if fallback_dir else ""
        super().__init__(f"No model found in stage '{stage}' {detail}{where}. {WAYS_OUT}")


@dataclass(frozen=True)
class VersionInfo:
    """A concrete registered model version, as plain data."""

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


# ---------------------------------------------------------------------------------------------
# Validation of what people type


def validate_model_name(model_name: str) -> str:
    """Return the model name, or raise RegistryError if it is not a plain registry name."""
    # fullmatch: with match(), `$` also accepts a trailing newline ("name\n").
    if not isinstance(model_name, str) or not MODEL_NAME_PATTERN.fullmatch(model_name):
        raise RegistryError(
            f"model name {str(model_name)[:60]!r} is not valid: use letters, digits, '_', '-' "
            "or '.' (at most 100 characters), e.g. battle_winner_predictor."
        )
    if model_name.endswith(LOCK_SUFFIX):
        raise RegistryError(f"model name {model_name!r} is reserved for promotion locks.")
    return model_name


def parse_version(version: Any) -> int:
    """A positive version number from an int or a string of digits, else RegistryError."""
    if isinstance(version, bool):
        version = str(version)
    if isinstance(version, int) and VERSION_PATTERN.fullmatch(str(version)):
        return version
    text = str(version).strip() if isinstance(version, str | int) else ""
    if not VERSION_PATTERN.fullmatch(text):
        raise RegistryError(
            f"version {str(version)[:40]!r} is not a version number: give a positive integer "
            "such as 3 (see `python -m core.registry list`)."
        )
    return int(text)


def stage_alias(stage: str) -> tuple[str, str]:
    """The canonical stage name and its alias ("Production", "production")."""
    for known in STAGES:
        if isinstance(stage, str) and stage.strip().lower() == known.lower():
            return known, known.lower()
    raise RegistryError(
        f"stage {str(stage)[:40]!r} is not one we use: choose Production or Staging."
    )


def _clean_text(value: str | None, what: str, limit: int) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise RegistryError(f"the {what} is {len(text)} characters long: keep it under {limit}.")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise RegistryError(f"the {what} contains control characters: use plain text on one line.")
    return text


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _parse_expected(expected_current: Any) -> int | None | str:
    """'unchecked' when None; None for "nothing holds it" (0 / 'none'); else a version number."""
    if expected_current is None:
        return "unchecked"
    if str(expected_current).strip().lower() in {"0", "none", "-"}:
        return None
    return parse_version(expected_current)


# ---------------------------------------------------------------------------------------------
# Store, client and error translation


_READY_EXPERIMENTS: dict[tuple[str, str], str] = {}
_READY_LOCK = threading.Lock()


def _client(settings: Settings):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def _error_code(error: Exception) -> str:
    return str(getattr(error, "error_code", ""))


@contextlib.contextmanager
def _mlflow_errors(action: str, settings: Settings) -> Iterator[None]:
    """Translate MLflow and network failures into one clear RegistryError."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (RegistryError, UntrustedModelError, ConfigError):
        raise
    except MlflowException as error:
        message = str(error.message if hasattr(error, "message") else error).splitlines()[0]
        raise RegistryError(
            f"could not {action} at {mask_uri(settings.tracking_uri)}: {message[:300]} "
            "(check that the tracking store is reachable: MLFLOW_TRACKING_URI)"
        ) from error
    except (OSError, ConnectionError) as error:
        raise RegistryError(
            f"could not {action} at {mask_uri(settings.tracking_uri)}: {error} "
            "(check that the tracking store is reachable: MLFLOW_TRACKING_URI)"
        ) from error


def _get_or_create_experiment(client, settings: Settings) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        location = None
        if settings.is_embedded:
            location = Path(settings.artifacts_dir).resolve().as_uri()
        try:
            return client.create_experiment(settings.experiment_name, artifact_location=location)
        except MlflowException as error:
            if _error_code(error) != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment.lifecycle_stage == "deleted":
        logger.warning("experiment %s was deleted; restoring it", settings.experiment_name)
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


SERVER_CHECK_TIMEOUT_SECONDS = 5.0


def probe_server(uri: str, timeout: float) -> None:
    """The one health probe: GET <uri>/health within `timeout` seconds.

    Raises:
        RegistryUnavailable: no answer in time, not reachable, or an HTTP status other than 200.
    """
    import requests

    url = f"{uri.rstrip('/')}/health"
    try:
        response = requests.get(url, timeout=(timeout, timeout), allow_redirects=False)
    except requests.Timeout:
        raise RegistryUnavailable(
            f"{mask_uri(uri)} did not answer its health check within {timeout:.1f} s"
        ) from None
    except requests.RequestException as error:
        reason = type(error).__name__
        if isinstance(error, requests.ConnectionError):
            reason = "connection refused or unreachable"
        raise RegistryUnavailable(f"{mask_uri(uri)} is not reachable ({reason})") from None
    if response.status_code != 200:
        raise RegistryUnavailable(
            f"{mask_uri(uri)} answered its health check with HTTP {response.status_code}"
        )


def _check_server_answers(settings: Settings) -> None:
    """Fail in seconds, not minutes, when a tracking server is down (MLflow retries for ~4 min)."""
    uri = settings.tracking_uri.rstrip("/")
    if uri.startswith(("http://", "https://")):
        probe_server(uri, SERVER_CHECK_TIMEOUT_SECONDS)


def ensure_store(settings: Settings) -> str:
    """Create the store (once, under a file lock for SQLite) and the experiment; return its id."""
    key = (settings.tracking_uri, settings.experiment_name)
    with _READY_LOCK:
        if key in _READY_EXPERIMENTS:
            return _READY_EXPERIMENTS[key]
    with _mlflow_errors("open the tracking store", settings):
        if settings.is_embedded:
            from filelock import FileLock

            database = settings.sqlite_path
            assert database is not None
            database.parent.mkdir(parents=True, exist_ok=True)
            Path(settings.artifacts_dir).mkdir(parents=True, exist_ok=True)
            # Several processes creating the schema at once corrupt a fresh SQLite store.
            with FileLock(f"{database}.lock", timeout=300):
                client = _client(settings)
                client.search_experiments(max_results=1)
                client.search_registered_models(max_results=1)
                experiment_id = _get_or_create_experiment(client, settings)
        else:
            _check_server_answers(settings)
            experiment_id = _get_or_create_experiment(_client(settings), settings)
    with _READY_LOCK:
        _READY_EXPERIMENTS[key] = experiment_id
    return experiment_id


# ---------------------------------------------------------------------------------------------
# The promotion lock (kept in the tracking store, so it holds across processes and machines)


@contextlib.contextmanager
def _promotion_lock(
    client,
    model_name: str,
    timeout: float = LOCK_TIMEOUT_SECONDS,
    stale_after: float = LOCK_STALE_SECONDS,
) -> Iterator[None]:
    """Hold `<model>.lock` (a registered model: creation is atomic) for one promotion."""
    from mlflow.exceptions import MlflowException

    lock_name = f"{model_name}{LOCK_SUFFIX}"
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            client.create_registered_model(
                lock_name,
                tags={"owner": owner, "purpose": "PredictionDex promotion lock"},
                description=f"Held while a promotion of {model_name} runs; deleted afterwards.",
            )
            break
        except MlflowException as error:
            if _error_code(error) == "RESOURCE_ALREADY_EXISTS":
                _break_stale_lock(client, lock_name, stale_after)
            else:
                logger.debug("promotion lock attempt failed: %s", error)
            if time.monotonic() >= deadline:
                raise RegistryError(
                    f"another promotion of {model_name} is in progress (lock {lock_name} is held); "
                    f"try again in a few seconds. A lock left by a crash expires after "
                    f"{stale_after:.0f} s."
                ) from None
            time.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not security
            delay = min(delay * 2, 0.4)
    try:
        yield
    finally:
        try:
            client.delete_registered_model(lock_name)
        except MlflowException as error:
            logger.warning("could not release promotion lock %s: %s", lock_name, error)


def _break_stale_lock(client, lock_name: str, stale_after: float) -> None:
    from mlflow.exceptions import MlflowException

    try:
        lock = client.get_registered_model(lock_name)
    except MlflowException:
        return  # released meanwhile
    age = time.time() - (lock.creation_timestamp or 0) / 1000
    if age <= stale_after:
        return
    try:
        # Only break the lock we judged stale, not one a faster process took meanwhile.
        if client.get_registered_model(lock_name).tags.get("owner") == lock.tags.get("owner"):
            logger.warning("breaking stale promotion lock %s (%.0f s old)", lock_name, age)
            client.delete_registered_model(lock_name)
    except MlflowException:
        pass


# ---------------------------------------------------------------------------------------------
# Audit trail (registered-model tags `audit.<seq>.<id>` holding JSON)


def _audit_entries(tags: dict[str, str]) -> list[dict]:
    entries = []
    for key, value in tags.items():
        if not key.startswith(AUDIT_PREFIX):
            continue
        try:
            seq = int(key.split(".")[1])
            entry = json.loads(value)
        except (ValueError, IndexError):
            logger.warning("ignoring malformed audit tag %s", key)
            continue
        if isinstance(entry, dict):
            entry["seq"] = seq
            entries.append(entry)
    entries.sort(key=lambda entry: (entry["seq"], str(entry.get("time", ""))))
    return entries


def _append_audit(client, model_name: str, tags: dict[str, str], entry: dict) -> dict:
    """Append one entry; callers hold the promotion lock, so seq is strictly increasing."""
    last = max((e["seq"] for e in _audit_entries(tags)), default=0)
    seq = last + 1
    record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
    key = f"{AUDIT_PREFIX}{seq:08d}.{uuid.uuid4().hex[:8]}"
    client.set_registered_model_tag(model_name, key, json.dumps(record, sort_keys=True))
    return {**record, "seq": seq}


def _as_version(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# The tracker


def _action_inputs(
    stage: str, reason: str, user: str | None, expected_current: Any
) -> tuple[str, str, str, str, int | None | str]:
    """The checked inputs of a promotion or rollback: stage, alias, reason, user, expectation."""
    stage_name, alias = stage_alias(stage)
    reason = _clean_text(reason, "reason", MAX_REASON_CHARS)
    user = _clean_text(user, "user name", MAX_USER_CHARS) or _default_user()
    return stage_name, alias, reason, user, _parse_expected(expected_current)


class MLflowTracker:
    """Runs, model upload, registration, promotion, comparison, rollback and audit."""

    def __init__(
        self,
        experiment_name: str | None = None,
        tracking_uri: str | None = None,
        settings: Settings | None = None,
        lock_timeout_seconds: float = LOCK_TIMEOUT_SECONDS,
        lock_stale_seconds: float = LOCK_STALE_SECONDS,
    ) -> None:
        settings = settings or Settings.from_env()
        # How long a promotion waits for the lock, and when a lock left by a crash is broken.
        self.lock_timeout_seconds = float(lock_timeout_seconds)
        self.lock_stale_seconds = float(lock_stale_seconds)
        if experiment_name:
            settings = replace(settings, experiment_name=experiment_name)
        if tracking_uri:
            settings = replace(settings, tracking_uri=tracking_uri)
        self.settings = settings
        self.experiment_id = ensure_store(settings)
        self.client = _client(settings)
        self.run_id: str | None = None

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, run_name: str, tags: dict | None = None) -> str:
        """Start a run in the experiment and make it the active run; return its id."""
        with _mlflow_errors("start a run", self.settings):
            run = self.client.create_run(
                self.experiment_id,
                run_name=run_name,
                tags={str(k): str(v) for k, v in (tags or {}).items()},
            )
        self.run_id = run.info.run_id
        logger.info("started run %s (%s)", run_name, self.run_id)
        return self.run_id

    def end_run(self, status: str = "FINISHED") -> None:
        """Mark the active run finished (or FAILED / KILLED)."""
        if self.run_id is None:
            return
        with _mlflow_errors("end the run", self.settings):
            self.client.set_terminated(self.run_id, status=status)
        self.run_id = None

    def _active_run(self) -> str:
        if self.run_id is None:
            raise RegistryError("no active run: call start_run() first.")
        return self.run_id

    def log_params(self, params: dict) -> None:
        """Log parameters (values as strings) on the active run."""
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
        with _mlflow_errors("log parameters", self.settings):
            for start in range(0, len(items), 100):
                self.client.log_batch(self._active_run(), params=items[start : start + 100])

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        """Log numeric metrics on the active run (None values are skipped)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items() if v is not None]
        with _mlflow_errors("log metrics", self.settings):
            for start in range(0, len(items), 1000):
                self.client.log_batch(self._active_run(), metrics=items[start : start + 1000])

    def set_tags(self, tags: dict) -> None:
        """Set tags on the active run."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        with _mlflow_errors("set tags", self.settings):
            self.client.log_batch(self._active_run(), tags=items)

    def log_model_dir(self, model_dir: Path, manifest_sha256: str) -> None:
        """Upload a verified model directory as the run's `model/` artifacts, manifest last."""
        run_id = self._active_run()
        model_dir = Path(model_dir)
        metadata = artifacts.verify_model_dir(model_dir, manifest_sha256)
        files = sorted(p for p in model_dir.rglob("*") if p.is_file())
        files = [p for p in files if p.name != artifacts.MANIFEST_FILE] + [
            model_dir / artifacts.MANIFEST_FILE
        ]
        with _mlflow_errors("upload the model artifacts", self.settings):
            for file in files:
                relative_parent = file.parent.relative_to(model_dir).as_posix()
                artifact_path = MODEL_ARTIFACT_PATH
                if relative_parent != ".":
                    artifact_path = f"{MODEL_ARTIFACT_PATH}/{relative_parent}"
                self.client.log_artifact(run_id, str(file), artifact_path)
            self.set_tags({MANIFEST_TAG: manifest_sha256, MODEL_TYPE_TAG: metadata["model_type"]})
        logger.info("uploaded model/ (%d files) to run %s", len(files), run_id)

    def _check_uploaded(self, run) -> str:
        """The run's manifest sha256 once its `model/` artifacts are complete, else RegistryError."""
        run_id = run.info.run_id
        expected = run.data.tags.get(MANIFEST_TAG)
        if not expected:
            raise RegistryError(
                f"run {run_id} has no uploaded model: call log_model_dir() before register_model()."
            )
        listed = {
            info.path.removeprefix(f"{MODEL_ARTIFACT_PATH}/")
            for info in self.client.list_artifacts(run_id, MODEL_ARTIFACT_PATH)
            if not info.is_dir
        }
        if artifacts.MANIFEST_FILE not in listed:
            raise RegistryError(
                f"run {run_id}'s model/ artifacts are incomplete (no manifest.json): "
                "upload the model again with log_model_dir()."
            )
        with tempfile.TemporaryDirectory(prefix="predictiondex-manifest-") as tmp:
            local = self.client.download_artifacts(
                run_id, f"{MODEL_ARTIFACT_PATH}/{artifacts.MANIFEST_FILE}", tmp
            )
            if artifacts.sha256_file(Path(local)) != expected:
                raise RegistryError(
                    f"run {run_id}'s uploaded manifest does not match its {MANIFEST_TAG} tag: "
                    "upload the model again with log_model_dir()."
                )
            manifest = json.loads(Path(local).read_text(encoding="utf-8"))
        missing = sorted(set(manifest.get("files", {})) - listed)
        if missing:
            raise RegistryError(
                f"run {run_id}'s model/ artifacts are incomplete (missing {missing}): "
                "upload the model again with log_model_dir()."
            )
        return expected

    # --- registration -------------------------------------------------------------------------

    def register_model(self, model_name: str, description: str = "") -> int:
        """Register the active run's complete `model/` as a new version; return its number."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        run_id = self._active_run()
        with _mlflow_errors("register the model", self.settings):
            run = self.client.get_run(run_id)
            manifest_sha = self._check_uploaded(run)
            try:
                self.client.create_registered_model(name)
            except MlflowException as error:
                if _error_code(error) != "RESOURCE_ALREADY_EXISTS":
                    raise
            tags = {MANIFEST_TAG: manifest_sha}
            if run.data.tags.get(MODEL_TYPE_TAG):
                tags[MODEL_TYPE_TAG] = run.data.tags[MODEL_TYPE_TAG]
            version = self._create_version(
                name, f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}", run_id, tags, description
            )
        logger.info("registered %s version %s (run %s)", name, version, run_id)
        return version

    def _create_version(
        self, name: str, source: str, run_id: str, tags: dict, description: str
    ) -> int:
        from mlflow.exceptions import MlflowException

        for attempt in range(5):
            try:
                created = self.client.create_model_version(
                    name, source, run_id=run_id, tags=tags, description=description
                )
                return int(created.version)
            except MlflowException as error:
                # A version may exist although the call failed (e.g. a lost reply): never add twice.
                existing = self.client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
                if existing:
                    return int(existing[0].version)
                if attempt == 4:
                    raise
                logger.info("version creation failed (%s); retrying", error)
                time.sleep(0.1 * (attempt + 1) * random.uniform(0.5, 1.5))  # noqa: S311
        raise AssertionError("unreachable")

    def set_description(self, model_name: str, version: int | str, text: str) -> None:
        """Replace a version's description."""
        name, number = validate_model_name(model_name), parse_version(version)
        text = _clean_text(text, "description", 5000)
        with _mlflow_errors("set the description", self.settings):
            self._get_version(name, number)
            self.client.update_model_version(name, str(number), description=text)

    # --- reading ------------------------------------------------------------------------------

    def _get_registered(self, name: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as error:
            if _error_code(error) == "RESOURCE_DOES_NOT_EXIST":
                raise NotRegisteredError(
                    f"model {name!r} is not registered yet: train one with `python -m core.train`."
                ) from None
            raise

    def _get_version(self, name: str, number: int):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(number))
        except MlflowException as error:
            if _error_code(error) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise RegistryError(
                    f"version {number} of {name} does not exist: pick one listed by "
                    "`python -m core.registry list`."
                ) from None
            raise

    def _all_versions(self, name: str) -> list:
        versions, token = [], None
        while True:
            page = self.client.search_model_versions(f"name='{name}'", page_token=token)
            versions.extend(page)
            token = page.token
            if not token:
                return versions

    def _runs_by_id(self, run_ids: list[str]) -> dict[str, Any]:
        """Fetch runs in batches of RUN_ID_CHUNK ids (one search_runs per batch)."""
        from mlflow.entities import ViewType

        ids = sorted({run_id for run_id in run_ids if run_id})
        if not ids:
            return {}
        experiment_ids = [e.experiment_id for e in self.client.search_experiments(ViewType.ALL)]
        runs = {}
        for start in range(0, len(ids), RUN_ID_CHUNK):
            chunk = ids[start : start + RUN_ID_CHUNK]
            quoted = ", ".join(f"'{run_id}'" for run_id in chunk)
            token = None
            while True:
                page = self.client.search_runs(
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

    def compare_models(self, model_name: str) -> pd.DataFrame:
        """One row per version (newest first): stage, metrics, model type, date, description."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        with _mlflow_errors("compare the versions", self.settings):
            try:
                registered = self.client.get_registered_model(name)
            except MlflowException as error:
                if _error_code(error) == "RESOURCE_DOES_NOT_EXIST":
                    return pd.DataFrame(columns=COMPARE_COLUMNS)
                raise
            versions = self._all_versions(name)
            runs = self._runs_by_id([v.run_id for v in versions])
        aliases_by_version = _aliases_by_version(registered.aliases)
        rows = []
        for version in versions:
            aliases = aliases_by_version.get(int(version.version), ())
            run = runs.get(version.run_id)
            metrics = run.data.metrics if run else {}
            run_tags = run.data.tags if run else {}
            row = {
                "version": int(version.version),
                "stage": _stage_of(aliases, version.tags),
                **{column: metrics.get(metric) for column, metric in METRIC_COLUMNS.items()},
                "model_type": version.tags.get(MODEL_TYPE_TAG) or run_tags.get(MODEL_TYPE_TAG),
                "created_at": pd.Timestamp(version.creation_timestamp, unit="ms", tz="UTC"),
                "description": version.description or "",
                "run_id": version.run_id,
                "aliases": ",".join(aliases),
                "status": version.status,
                "manifest_sha256": version.tags.get(MANIFEST_TAG),
            }
            rows.append(row)
        frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
        if not frame.empty:
            frame = frame.sort_values("version", ascending=False, ignore_index=True)
            frame["version"] = frame["version"].astype(int)
        return frame

    def list_versions(self, model_name: str) -> list[VersionInfo]:
        """Every version as VersionInfo, newest first."""
        name = validate_model_name(model_name)
        with _mlflow_errors("list the versions", self.settings):
            registered = self._get_registered(name)
            versions = self._all_versions(name)
        by_version = _aliases_by_version(registered.aliases)
        infos = [_version_info(v, by_version.get(int(v.version), ())) for v in versions]
        return sorted(infos, key=lambda info: info.version, reverse=True)

    def current_version(self, model_name: str, stage: str = "Production") -> int | None:
        """The version holding the stage's alias, or None."""
        name = validate_model_name(model_name)
        _, alias = stage_alias(stage)
        with _mlflow_errors("read the aliases", self.settings):
            try:
                registered = self._get_registered(name)
            except NotRegisteredError:
                return None
        return _as_version(registered.aliases.get(alias))

    def audit_log(self, model_name: str) -> pd.DataFrame:
        """Every promotion and rollback: time, user, action, stage, from/to version, reason."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        with _mlflow_errors("read the audit trail", self.settings):
            try:
                tags = self.client.get_registered_model(name).tags
            except MlflowException as error:
                if _error_code(error) == "RESOURCE_DOES_NOT_EXIST":
                    return pd.DataFrame(columns=AUDIT_COLUMNS)
                raise
        frame = pd.DataFrame(_audit_entries(tags), columns=AUDIT_COLUMNS)
        if frame.empty:
            return frame
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        for column in ("from_version", "to_version"):
            frame[column] = frame[column].astype("Int64")
        return frame.sort_values(["time", "seq"], ignore_index=True)

    def run_url(self, run_id: str) -> str:
        """Where a person sees the run in the MLflow UI."""
        base = self.settings.mlflow_ui_url.rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{run_id}"

    # --- promotion and rollback ---------------------------------------------------------------

    def promote_to_production(
        self,
        model_name: str,
        version: int | str,
        reason: str = "",
        user: str | None = None,
        expected_current: int | str | None = None,
        stage: str = "Production",
    ) -> dict:
        """Point the stage's alias at a version (race-safe, audited); the loser is Archived."""
        name = validate_model_name(model_name)
        number = parse_version(version)
        stage_name, alias, reason, user, expected = _action_inputs(
            stage, reason, user, expected_current
        )
        with _mlflow_errors("promote the version", self.settings):
            self._get_registered(name)
            self._get_version(name, number)  # fail fast, before taking the lock
            with _promotion_lock(
                self.client, name, self.lock_timeout_seconds, self.lock_stale_seconds
            ):
                return self._move_alias(
                    name, number, stage_name, alias, "promote", reason, user, expected
                )

    def rollback(
        self,
        model_name: str,
        reason: str = "",
        user: str | None = None,
        expected_current: int | str | None = None,
        stage: str = "Production",
    ) -> dict:
        """Move the stage back to the version that held it before the current one."""
        name = validate_model_name(model_name)
        stage_name, alias, reason, user, expected = _action_inputs(
            stage, reason, user, expected_current
        )
        with _mlflow_errors("roll back", self.settings):
            self._get_registered(name)
            with _promotion_lock(
                self.client, name, self.lock_timeout_seconds, self.lock_stale_seconds
            ):
                registered = self.client.get_registered_model(name)
                current = _as_version(registered.aliases.get(alias))
                if current is None:
                    raise RegistryError(
                        f"nothing to roll back: no version of {name} holds {stage_name}. "
                        f"Promote one with `python -m core.registry promote VERSION`."
                    )
                target = _previous_holder(_audit_entries(registered.tags), stage_name, current)
                if target is None:
                    raise RegistryError(
                        f"no earlier {stage_name} version of {name} to roll back to (v{current} "
                        "is the first in the audit trail): promote a version explicitly instead."
                    )
                try:
                    self._get_version(name, target)
                except RegistryError:
                    raise RegistryError(
                        f"cannot roll back to v{target}: that version no longer exists; promote "
                        "another version explicitly."
                    ) from None
                return self._move_alias(
                    name, target, stage_name, alias, "rollback", reason, user, expected
                )

    def _move_alias(
        self,
        name: str,
        number: int,
        stage_name: str,
        alias: str,
        action: str,
        reason: str,
        user: str,
        expected: int | None | str,
    ) -> dict:
        """Under the lock: re-check the alias, move it, archive the loser, audit."""
        registered = self.client.get_registered_model(name)
        current = _as_version(registered.aliases.get(alias))
        entry = {
            "user": user,
            "action": action,
            "stage": stage_name,
            "from_version": current,
            "to_version": number,
            "reason": reason,
        }
        if expected != "unchecked" and current != expected:
            _append_audit(self.client, name, registered.tags, {**entry, "status": "conflict"})
            now = f"v{current}" if current is not None else "held by no version"
            wanted = f"v{expected}" if expected is not None else "no version"
            raise PromotionConflict(
                f"{stage_name} is now {now} (you expected {wanted}); nothing was changed. "
                "Reload the versions and decide again."
            )
        version = self._get_version(name, number)
        result = {"model_name": name, "version": number, "stage": stage_name, "alias": alias}
        if current == number:
            logger.info("%s v%s already holds %s", name, number, stage_name)
            return {**result, **entry, "previous_version": current, "changed": False}
        self.client.set_registered_model_alias(name, alias, str(number))
        if alias == "production":
            if current is not None:
                self.client.set_model_version_tag(name, str(current), STAGE_TAG, ARCHIVED)
            if version.tags.get(STAGE_TAG) == ARCHIVED:
                self.client.delete_model_version_tag(name, str(number), STAGE_TAG)
        record = _append_audit(self.client, name, registered.tags, {**entry, "status": "ok"})
        logger.info("%s %s v%s -> %s (was v%s)", action, name, number, stage_name, current)
        return {**result, **record, "previous_version": current, "changed": True}

    def promote_best_model(
        self, model_name: str, metric: str = "test_accuracy", threshold: float | None = None
    ) -> dict | None:
        """Promote the version with the best metric if it clears the threshold; else None."""
        threshold = self.settings.promotion_threshold if threshold is None else float(threshold)
        column = next((c for c, m in METRIC_COLUMNS.items() if m == metric), metric)
        frame = self.compare_models(model_name)
        if frame.empty or column not in frame.columns or frame[column].isna().all():
            logger.info("no version of %s has metric %s", model_name, metric)
            return None
        best = frame.loc[frame[column].astype(float).idxmax()]
        if float(best[column]) < threshold:
            logger.info("best %s=%.4f is below %.2f: not promoted", metric, best[column], threshold)
            return None
        return self.promote_to_production(
            model_name,
            int(best["version"]),
            reason=f"best {metric}={float(best[column]):.4f} >= {threshold}",
        )

    # --- health -------------------------------------------------------------------------------

    def doctor(self, model_name: str) -> list[str]:
        """Inconsistencies between runs, versions, artifacts, aliases and the audit trail."""
        from mlflow.entities import ViewType
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        problems: list[str] = []
        with _mlflow_errors("check the registry", self.settings):
            try:
                registered = self.client.get_registered_model(name)
                versions = self._all_versions(name)
            except MlflowException as error:
                if _error_code(error) != "RESOURCE_DOES_NOT_EXIST":
                    raise
                registered, versions = None, []
            registered_runs = {v.run_id for v in versions}
            token = None
            while True:
                page = self.client.search_runs(
                    [self.experiment_id],
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=1000,
                    page_token=token,
                )
                for run in page:
                    run_id = run.info.run_id
                    if (
                        run.data.tags.get(MANIFEST_TAG)
                        and run_id not in registered_runs
                        and not self.client.search_model_versions(f"run_id='{run_id}'")
                    ):
                        problems.append(
                            f"run {run.info.run_id} ({run.info.run_name}, {run.info.status}) has "
                            f"a model but no registered version of {name}"
                        )
                token = page.token
                if not token:
                    break
            broken: dict[int, str] = {}
            for version in versions:
                why = self._check_version_artifacts(version)
                if why:
                    broken[int(version.version)] = why
                    problems.append(f"{name} v{version.version}: {why}")
            if registered is not None:
                problems.extend(self._check_aliases(name, registered, versions, broken))
            try:
                lock = self.client.get_registered_model(f"{name}{LOCK_SUFFIX}")
                age = time.time() - (lock.creation_timestamp or 0) / 1000
                if age > self.lock_stale_seconds:
                    problems.append(
                        f"promotion lock {name}{LOCK_SUFFIX} is {age:.0f} s old (a crashed "
                        "promotion); the next promotion breaks it"
                    )
            except MlflowException:
                pass
        return problems

    def _check_version_artifacts(self, version) -> str | None:
        expected = version.tags.get(MANIFEST_TAG)
        if not expected:
            return f"no {MANIFEST_TAG} tag (registered outside PredictionDex?)"
        try:
            with tempfile.TemporaryDirectory(prefix="predictiondex-doctor-") as tmp:
                local = _download_source(version.source, Path(tmp), self.settings)
                artifacts.verify_model_dir(local, expected)
        except UntrustedModelError as error:
            return str(error)
        except Exception as error:  # missing or unreadable artifacts
            return f"artifacts missing or unreadable ({str(error).splitlines()[0][:200]})"
        return None

    def _check_aliases(self, name, registered, versions, broken) -> list[str]:
        problems = []
        existing = {int(v.version) for v in versions}
        for alias, value in registered.aliases.items():
            number = _as_version(value)
            if number not in existing:
                problems.append(f"alias {alias} points to v{value}, which does not exist")
            elif number in broken:
                problems.append(f"alias {alias} points to v{number}, which is broken")
        entries = [e for e in _audit_entries(registered.tags) if e.get("status") == "ok"]
        for stage in STAGES:
            alias_version = _as_version(registered.aliases.get(stage.lower()))
            last = next((e for e in reversed(entries) if e.get("stage") == stage), None)
            if last is not None and _as_version(last.get("to_version")) != alias_version:
                problems.append(
                    f"alias {stage.lower()} is v{alias_version} but the audit trail's last "
                    f"{stage} action installed v{last.get('to_version')} (changed outside "
                    "PredictionDex, or a promotion was interrupted)"
                )
        return problems


def _aliases_by_version(aliases: dict[str, str]) -> dict[int, tuple[str, ...]]:
    by_version: dict[int, list[str]] = {}
    for alias, value in aliases.items():
        number = _as_version(value)
        if number is not None:
            by_version.setdefault(number, []).append(alias)
    return {number: tuple(sorted(names)) for number, names in by_version.items()}


def _stage_of(aliases: tuple[str, ...], tags: dict[str, str]) -> str:
    for stage in STAGES:
        if stage.lower() in aliases:
            return stage
    return ARCHIVED if tags.get(STAGE_TAG) == ARCHIVED else "None"


def _previous_holder(entries: list[dict], stage: str, current: int) -> int | None:
    """The from_version of the latest successful action that installed `current`."""
    for entry in reversed(entries):
        if (
            entry.get("status") == "ok"
            and entry.get("stage") == stage
            and _as_version(entry.get("to_version")) == current
        ):
            return _as_version(entry.get("from_version"))
    return None


def _version_info(version, aliases: tuple[str, ...]) -> VersionInfo:
    return VersionInfo(
        model_name=version.name,
        version=int(version.version),
        stage=_stage_of(aliases, version.tags),
        aliases=aliases,
        run_id=version.run_id,
        source=version.source,
        manifest_sha256=version.tags.get(MANIFEST_TAG),
        model_type=version.tags.get(MODEL_TYPE_TAG),
        description=version.description or "",
        created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
        tags=dict(version.tags),
    )


def _download_source(source: str, destination: Path, settings: Settings) -> Path:
    """Download a version's artifacts into destination; return the local model folder."""
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(destination), tracking_uri=settings.tracking_uri
    )
    return Path(local)


# ---------------------------------------------------------------------------------------------
# Serving


def resolve_version(
    model_name: str,
    stage: str = "Production",
    version: int | str | None = None,
    settings: Settings | None = None,
) -> VersionInfo:
    """The concrete version behind a stage alias (or an explicit version), without downloading."""
    from mlflow.exceptions import MlflowException

    settings = settings or Settings.from_env()
    name = validate_model_name(model_name)
    stage_name, alias = stage_alias(stage)
    client = _client(settings)
    with _mlflow_errors("resolve the model version", settings):
        try:
            registered = client.get_registered_model(name)
        except MlflowException as error:
            if _error_code(error) == "RESOURCE_DOES_NOT_EXIST":
                raise NoModelError(stage_name, f"(model {name!r} is not registered)") from None
            raise
        if version is not None:
            number = parse_version(version)
            try:
                model_version = client.get_model_version(name, str(number))
            except MlflowException as error:
                if _error_code(error) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    raise RegistryError(
                        f"version {number} of {name} does not exist: pick one listed by "
                        "`python -m core.registry list`."
                    ) from None
                raise
        else:
            number = _as_version(registered.aliases.get(alias))
            if number is None:
                raise NoModelError(stage_name, f"for {name}")
            model_version = client.get_model_version(name, str(number))
    aliases = _aliases_by_version(registered.aliases).get(number, ())
    return _version_info(model_version, aliases)


def download_model_version(
    info: VersionInfo, destination: Path, settings: Settings | None = None
) -> Path:
    """Download a resolved version's model folder and check it against its recorded hash."""
    settings = settings or Settings.from_env()
    if not info.manifest_sha256:
        raise UntrustedModelError(
            f"{info.model_name} v{info.version} has no {MANIFEST_TAG} tag, so its artifacts "
            "cannot be checked"
        )
    with _mlflow_errors(f"download {info.model_name} v{info.version}", settings):
        local = _download_source(info.source, Path(destination), settings)
    artifacts.verify_model_dir(local, expected_manifest_sha256=info.manifest_sha256)
    return local


def load_model_version(info: VersionInfo, settings: Settings | None = None) -> ModelBundle:
    """Download a resolved version's artifacts and load them after checking their hash."""
    settings = settings or Settings.from_env()
    if not info.manifest_sha256:
        raise UntrustedModelError(
            f"{info.model_name} v{info.version} has no {MANIFEST_TAG} tag, so its artifacts "
            "cannot be checked"
        )
    destination = Path(tempfile.mkdtemp(prefix="predictiondex-model-"))
    try:
        with _mlflow_errors(f"download {info.model_name} v{info.version}", settings):
            local = _download_source(info.source, destination, settings)
        return artifacts.load_model_dir(local, expected_manifest_sha256=info.manifest_sha256)
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def load_model_from_registry(
    model_name: str,
    stage: str = "Production",
    version: int | str | None = None,
    settings: Settings | None = None,
) -> tuple[ModelBundle, VersionInfo]:
    """Resolve the stage (or version) and load that version safely: (bundle, version info)."""
    info = resolve_version(model_name, stage=stage, version=version, settings=settings)
    bundle = load_model_version(info, settings)
    logger.info("loaded %s v%s (%s) from the registry", info.model_name, info.version, info.stage)
    return bundle, info


# ---------------------------------------------------------------------------------------------
# CLI


def _print_frame(frame: pd.DataFrame) -> None:
    if frame.empty:
        print("(none)")
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m core.registry {list,compare,promote VERSION,rollback,audit,doctor}`."""
    from core.config import setup_logging

    parser = argparse.ArgumentParser(prog="python -m core.registry")
    parser.add_argument(
        "command", choices=["list", "compare", "promote", "rollback", "audit", "doctor"]
    )
    parser.add_argument("version", nargs="?", help="the version to promote")
    parser.add_argument("--reason", default="")
    parser.add_argument("--stage", default="Production", help="Production or Staging")
    parser.add_argument("--expect", default=None, help="the version you believe holds the stage")
    parser.add_argument("--user", default=None)
    parser.add_argument("--model", default=None, help="registered model name (MLFLOW_MODEL_NAME)")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    try:
        tracker = MLflowTracker()
        # `--model ""` is an (invalid) name, not "use the default".
        model_name = tracker.settings.model_name if args.model is None else args.model
        if args.command == "list":
            frame = tracker.compare_models(model_name)
            _print_frame(frame[["version", "stage", "accuracy", "model_type", "created_at"]])
        elif args.command == "compare":
            frame = tracker.compare_models(model_name)
            _print_frame(frame.drop(columns=["manifest_sha256", "run_id", "status"]))
        elif args.command == "promote":
            if args.version is None:
                raise RegistryError("promote needs a version: python -m core.registry promote 3")
            result = tracker.promote_to_production(
                model_name, args.version, args.reason, args.user, args.expect, args.stage
            )
            _print_action(result)
        elif args.command == "rollback":
            result = tracker.rollback(model_name, args.reason, args.user, args.expect, args.stage)
            _print_action(result)
        elif args.command == "audit":
            _print_frame(tracker.audit_log(model_name).drop(columns=["seq"]))
        else:
            problems = tracker.doctor(model_name)
            for problem in problems:
                print(f"problem: {problem}")
            if problems:
                return 1
            print(f"{model_name}: no inconsistencies found")
    except (RegistryError, UntrustedModelError, ConfigError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0


def _print_action(result: dict) -> None:
    if not result.get("changed", True):
        print(f"{result['model_name']} v{result['version']} already holds {result['stage']}")
        return
    previous = result.get("previous_version")
    was = f" (was v{previous})" if previous is not None else ""
    print(f"{result['model_name']} v{result['version']} is now {result['stage']}{was}")


if __name__ == "__main__":
    raise SystemExit(main())
