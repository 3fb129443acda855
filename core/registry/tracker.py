"""`MLflowTracker`: the seed guide's method names as thin wrappers over Registry and RunLogger."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Settings
from core.registry import promotion
from core.registry.api import Registry
from core.registry.errors import RegistryError
from core.registry.promotion import ANY, PromotionResult
from core.registry.runs import RunLogger
from core.registry.store import LOCK_STALE_SECONDS, LOCK_TIMEOUT_SECONDS

if TYPE_CHECKING:
    import pandas as pd

    from core.predict.export import FallbackSync


class MLflowTracker(Registry):
    """The seed's tracker: one active run at a time, plus every Registry method.

    `MLflowTracker(experiment_name=..., tracking_uri=...)`, `start_run`, `log_*`, `end_run`,
    `register_model`, `promote_to_production`, `promote_best_model`, `compare_models`,
    `rollback`, `audit_log`, `current_version`, `run_url`, `doctor` work as the guide shows.
    """

    def __init__(
        self,
        experiment_name: str | None = None,
        tracking_uri: str | None = None,
        settings: Settings | None = None,
        lock_timeout_seconds: float = LOCK_TIMEOUT_SECONDS,
        lock_stale_seconds: float = LOCK_STALE_SECONDS,
    ) -> None:
        settings = settings or Settings.from_env()
        if experiment_name:
            settings = replace(settings, experiment_name=experiment_name)
        if tracking_uri:
            settings = replace(settings, tracking_uri=tracking_uri)
        super().__init__(
            settings,
            lock_timeout_seconds=lock_timeout_seconds,
            lock_stale_seconds=lock_stale_seconds,
        )
        self._run: RunLogger | None = None

    @property
    def lock_timeout_seconds(self) -> float:
        """How long a promotion waits for the promotion lock (seconds)."""
        return self.store.lock_timeout_seconds

    @property
    def lock_stale_seconds(self) -> float:
        """Age (seconds) after which a crashed promotion's lock is broken."""
        return self.store.lock_stale_seconds

    @property
    def run_id(self) -> str | None:
        """The active run's id, or None."""
        return self._run.run_id if self._run else None

    def _active(self) -> RunLogger:
        if self._run is None or self._run.run_id is None:
            raise RegistryError("no active run: call start_run() first.")
        return self._run

    def start_run(self, run_name: str, tags: dict | None = None) -> str:
        """Start a run and make it the active run; return its id."""
        run = self.run(run_name, tags)
        run.start()
        self._run = run
        return run.run_id  # type: ignore[return-value]

    def end_run(self, status: str = "FINISHED") -> None:
        """Mark the active run FINISHED (or FAILED / KILLED); no-op without one."""
        if self._run is not None:
            self._run.end(status)
            self._run = None

    def log_params(self, params: dict) -> None:
        """Log parameters on the active run."""
        self._active().log_params(params)

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        """Log numeric metrics on the active run (None values skipped)."""
        self._active().log_metrics(metrics, step)

    def set_tags(self, tags: dict) -> None:
        """Set tags on the active run."""
        self._active().set_tags(tags)

    def log_model_dir(self, model_dir: Path, manifest_sha256: str) -> None:
        """Upload a verified model folder as the active run's `model/` artifacts."""
        self._active().log_model_dir(model_dir, manifest_sha256)

    def log_files(self, files: list[Path], artifact_path: str) -> None:
        """Upload files under `artifact_path/` of the active run (RunLogger.log_files)."""
        self._active().log_files(files, artifact_path)

    def register_model(self, model_name: str, description: str = "") -> int:
        """Register the active run's model as a new version of `model_name`; its number."""
        return self._active().register(model_name, description)

    def compare_models(self, model_name: str) -> pd.DataFrame:
        """The compare table (Registry.compare_table)."""
        return self.compare_table(model_name)

    def audit_log(self, model_name: str) -> pd.DataFrame:
        """The audit trail as a table (Registry.audit_frame)."""
        return self.audit_frame(model_name)

    def promote_to_production(
        self,
        model_name: str,
        version: int | str,
        reason: str = "",
        user: str | None = None,
        expected_current: int | None | object = ANY,
        stage: str = "Production",
    ) -> PromotionResult:
        """Point the stage at `version` (Registry.promote), then export it as the local fallback.

        As the CLI's `promote` does, the configured model's configured stage (Production) is
        exported to models/ (core.predict.export.sync_local_fallback: hash-checked, swapped in
        atomically), here before the promotion lock is released, so that promoters racing from
        several processes leave models/ holding the final holder. The promotion stands if the
        export fails: `result.fallback` says so (outcome "failed", with the command to retry),
        and a warning is logged. `result.fallback` is None for another model or stage.
        Registry.promote moves the alias only.
        """
        return promotion.promote(
            self.store, model_name, version, reason=reason, user=user,
            expected_current=expected_current, stage=stage, follow=self._export_fallback,
        )  # fmt: skip

    def _export_fallback(self, result: PromotionResult) -> FallbackSync | None:
        """Make models/ hold the stage's new holder (the CLI's code); a FallbackSync or None."""
        from core.predict.export import sync_local_fallback  # core.predict imports the registry

        return sync_local_fallback(result.model_name, result.stage, result.version, self.settings)

    def rollback(  # type: ignore[override]
        self,
        model_name: str,
        reason: str = "",
        user: str | None = None,
        expected_current: int | None | object = ANY,
        stage: str = "Production",
        *,
        to: int | str | None = None,
    ) -> PromotionResult:
        """Step the stage back one holder, or to `to` (Registry.rollback), then export the new
        holder as the local fallback under the promotion lock, as promote_to_production does."""
        return promotion.rollback(
            self.store, model_name, to=to, reason=reason, user=user,
            expected_current=expected_current, stage=stage, follow=self._export_fallback,
        )  # fmt: skip

    def promote_best_model(
        self, model_name: str, metric: str = "test_accuracy", threshold: float | None = None
    ) -> PromotionResult | None:
        """Promote the best version by `metric` if it clears `threshold` (Registry.promote_best)."""
        return self.promote_best(model_name, metric, threshold)
