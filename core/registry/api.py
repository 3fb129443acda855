"""`Registry`: the registry as one object with named methods and typed results."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from core.config import Settings
from core.registry import audit, doctor, evaluations, promotion, versions
from core.registry.audit import AuditEntry, EarlierHolder
from core.registry.checks import clean_text, parse_version, validate_model_name
from core.registry.errors import NotRegisteredError
from core.registry.promotion import ANY, PromotionResult
from core.registry.runs import RunLogger, StudyRun, end_open_runs, register_run, study_runs
from core.registry.store import LOCK_STALE_SECONDS, LOCK_TIMEOUT_SECONDS, Store, translate
from core.registry.versions import METRIC_COLUMNS, VersionInfo

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


class Registry:
    """The tracking store and Model Registry of one settings object.

    Opening it creates the store and experiment if needed. Every method raises RegistryError
    (StoreError with a `kind` for a store fault: locked, corrupt, read-only, full, schema).

    Args:
        settings: where the store is (default: Settings.from_env()).
        lock_timeout_seconds: how long a promotion waits for another one to finish.
        lock_stale_seconds: age after which a promotion lock left by a crash is broken.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        lock_timeout_seconds: float = LOCK_TIMEOUT_SECONDS,
        lock_stale_seconds: float = LOCK_STALE_SECONDS,
    ) -> None:
        self.store = Store.open(
            settings or Settings.from_env(),
            lock_timeout_seconds=float(lock_timeout_seconds),
            lock_stale_seconds=float(lock_stale_seconds),
        )

    @property
    def settings(self) -> Settings:
        """The settings this registry was opened with."""
        return self.store.settings

    @property
    def client(self):
        """The MlflowClient (for the registry package and tests only)."""
        return self.store.client

    @property
    def experiment_id(self) -> str:
        """The id of the settings' experiment."""
        return self.store.experiment_id

    # --- runs and registration -----------------------------------------------------------------

    def run(self, run_name: str, tags: dict | None = None) -> RunLogger:
        """A RunLogger for a new run (use it as a context manager)."""
        return RunLogger(self.store, run_name, tags)

    def end_open_runs(
        self, started_after_ms: int, tags: dict[str, str], status: str = "KILLED"
    ) -> int:
        """Mark the runs left open by a cancelled or killed process `status` (see runs.py)."""
        return end_open_runs(self.store, started_after_ms, tags, status)

    def register(self, run_id: str, model_name: str, description: str = "") -> int:
        """Register a run's uploaded model folder as a new version; return its number."""
        return register_run(self.store, run_id, model_name, description)

    def set_description(self, model_name: str, version: int | str, text: str) -> None:
        """Replace a version's description (at most 5000 characters)."""
        name, number = validate_model_name(model_name), parse_version(version)
        text = clean_text(text, "description", 5000)
        with translate("set the description", self.settings):
            versions.get_version(self.client, name, number)
            self.client.update_model_version(name, str(number), description=text)

    def study_runs(self, limit: int = 20) -> list[StudyRun]:
        """The newest hyperparameter studies' parent runs (core.search), newest first."""
        return study_runs(self.store, limit=limit)

    def run_url(self, run_id: str) -> str:
        """Where a person sees the run in the MLflow UI."""
        base = self.settings.mlflow_ui_url.rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{run_id}"

    # --- reading -------------------------------------------------------------------------------

    def list_versions(self, model_name: str) -> list[VersionInfo]:
        """Every version, newest first (NotRegisteredError when the model does not exist)."""
        return versions.list_versions(self.store, model_name)

    def compare_table(self, model_name: str) -> pd.DataFrame:
        """One row per version, newest first: stage, metrics, model type, date, description."""
        return versions.compare_table(self.store, model_name)

    def current_version(self, model_name: str, stage: str = "Production") -> int | None:
        """The version holding the stage, or None."""
        return versions.current_version(self.store, model_name, stage)

    def audit(self, model_name: str) -> list[AuditEntry]:
        """Every promotion and rollback attempt, oldest first ([] when not registered)."""
        name = validate_model_name(model_name)
        with translate("read the audit trail", self.settings):
            try:
                registered = versions.get_registered(self.client, name)
            except NotRegisteredError:
                return []
        return audit.parse_entries(registered.tags)

    def audit_frame(self, model_name: str) -> pd.DataFrame:
        """The audit trail as a table (audit.AUDIT_COLUMNS), oldest first."""
        return audit.as_frame(self.audit(model_name))

    def earlier_holders(self, model_name: str, stage: str = "Production") -> list[EarlierHolder]:
        """Versions that held the stage before the current one, most recent first."""
        return promotion.earlier_holders(self.store, model_name, stage)

    # --- changes -------------------------------------------------------------------------------

    def promote(
        self,
        model_name: str,
        version: int | str,
        *,
        reason: str = "",
        user: str | None = None,
        expected_current: int | None | object = ANY,
        stage: str = "Production",
    ) -> PromotionResult:
        """Point the stage at `version` (see promotion.promote for the errors)."""
        return promotion.promote(
            self.store, model_name, version, reason=reason, user=user,
            expected_current=expected_current, stage=stage,
        )  # fmt: skip

    def rollback(
        self,
        model_name: str,
        *,
        to: int | str | None = None,
        reason: str = "",
        user: str | None = None,
        expected_current: int | None | object = ANY,
        stage: str = "Production",
    ) -> PromotionResult:
        """Step the stage back one holder, or to the earlier holder `to` (promotion.rollback)."""
        return promotion.rollback(
            self.store, model_name, to=to, reason=reason, user=user,
            expected_current=expected_current, stage=stage,
        )  # fmt: skip

    def promote_best(
        self, model_name: str, metric: str = "test_accuracy", threshold: float | None = None
    ) -> PromotionResult | None:
        """Promote the version with the best metric if it is >= threshold; else None."""
        threshold = self.settings.promotion_threshold if threshold is None else float(threshold)
        column = next((c for c, m in METRIC_COLUMNS.items() if m == metric), metric)
        frame = self.compare_table(model_name)
        if frame.empty or column not in frame.columns or frame[column].isna().all():
            logger.info("no version of %s has metric %s", model_name, metric)
            return None
        best = frame.loc[frame[column].astype(float).idxmax()]
        if float(best[column]) < threshold:
            logger.info("best %s=%.4f is below %s: not promoted", metric, best[column], threshold)
            return None
        reason = f"best {metric}={float(best[column]):.4f} >= {threshold}"
        return self.promote(model_name, int(best["version"]), reason=reason)

    # --- evaluation and promotion decisions (core.evaluate, the promotion policy) -------------

    def set_version_tags(self, model_name: str, version: int | str, tags: dict) -> None:
        """Set tags on a version (values as text, at most 5000 characters each)."""
        evaluations.set_version_tags(self.store, model_name, version, tags)

    def record_decision(self, model_name: str, version: int | str, **fields) -> AuditEntry:
        """Audit a decision that changed nothing (evaluations.record_decision)."""
        return evaluations.record_decision(self.store, model_name, version, **fields)

    def log_to_run(self, run_id: str, metrics: dict, files: list, path: str = "evaluation") -> None:
        """Add metrics and files to an existing (finished) run, e.g. a stored evaluation."""
        evaluations.log_to_run(self.store, run_id, metrics, files, path)

    def run_data(self, run_id: str) -> tuple[dict[str, str], dict[str, float]]:
        """A run's (params, latest metrics)."""
        return evaluations.run_data(self.store, run_id)

    def read_run_text(self, run_id: str, path: str) -> str | None:
        """The text of a run's artifact file, or None when the run has no such file."""
        return evaluations.read_run_text(self.store, run_id, path)

    def doctor(self, model_name: str) -> list[str]:
        """Inconsistencies between runs, versions, artifacts, aliases and the audit trail."""
        return doctor.doctor(self.store, model_name)
