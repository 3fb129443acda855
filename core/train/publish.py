"""The publish step of training: log the run, register a version, promote it, export it.

Returns data (`Publication`, `Promotion`); the CLI turns it into the seed guide's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from core import artifacts
from core.config import Settings
from core.train.config import TrainConfig

if TYPE_CHECKING:
    from core.registry import MLflowTracker

PromotionOutcome = Literal["promoted", "below_threshold", "refused"]


class _Watch(Protocol):
    def report(self, step: str, message: str) -> None: ...
    def lap(self, step: str) -> None: ...


@dataclass(frozen=True)
class Promotion:
    """The promotion decision for a newly registered version.

    Fields: outcome ('promoted'; 'below_threshold': test_accuracy < threshold; 'refused': the
    registry refused, e.g. a lost race or a busy lock), threshold (test accuracy needed),
    accuracy (the version's test_accuracy), detail (the registry's message when refused).
    """

    outcome: PromotionOutcome
    threshold: float
    accuracy: float
    detail: str = ""

    @property
    def promoted(self) -> bool:
        """True when the version now holds Production."""
        return self.outcome == "promoted"

    @property
    def message(self) -> str:
        """One sentence, as the seed guide words it."""
        if self.outcome == "promoted":
            return "Model promoted to Production"
        if self.outcome == "below_threshold":
            return f"Model registered but not promoted (accuracy < {self.threshold:.2f})"
        return f"Model registered but not promoted: {self.detail}"


@dataclass(frozen=True)
class Publication:
    """What publishing produced.

    Fields: run_id, run_name, run_url (MLflow UI link), version (registered number),
    promotion (the decision), exported_to (models/ folder updated, or None).
    """

    run_id: str
    run_name: str
    run_url: str
    version: int
    promotion: Promotion
    exported_to: str | None = None


def _log_and_register(
    tracker: MLflowTracker, config: TrainConfig, settings: Settings, metadata: dict,
    model_dir: Path, manifest_sha: str, watch: _Watch,
) -> tuple[str, str, int]:  # fmt: skip
    """Log params, metrics and the model folder in one run, register it: (id, name, version).

    Raises RegistryError when the store fails (the run then ends FAILED).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    run_name = f"train_{config.model_type}_{config.version_label or 'run'}_{stamp}"
    watch.report("log", f"logging run {run_name} to MLflow")
    dataset, metrics = metadata["dataset"], metadata["metrics"]
    tags = {"model_type": config.model_type, "version_label": config.version_label,
            "data_hash": dataset["data_hash"], "scenario": config.scenario}  # fmt: skip
    # RunLogger ends the run FAILED on any exception, FINISHED otherwise.
    with tracker.run(run_name, tags) as run:
        run_id = run.run_id
        run.log_params({**metadata["params"], **{f"data_{k}": v for k, v in dataset.items()}})
        run.log_params({"use_gridsearch": config.use_gridsearch, "grid_type": config.grid_type})
        run.log_metrics(metrics)
        run.log_model_dir(model_dir, manifest_sha)
        watch.lap("log")
        watch.report("register", f"registering a new version of {settings.model_name}")
        description = f"{config.model_type} - Accuracy: {metrics['test_accuracy']:.4f}"
        version = run.register(settings.model_name, description)
        watch.lap("register")
    return run_id, run_name, version


def decide_promotion(
    tracker: MLflowTracker, settings: Settings, version: int, accuracy: float, threshold: float
) -> Promotion:
    """The seed's rule: promote when test_accuracy >= threshold; a registry refusal is kept."""
    from core.registry import RegistryError

    if accuracy < threshold:
        return Promotion("below_threshold", threshold, accuracy)
    try:
        tracker.promote_to_production(
            settings.model_name,
            version,
            reason=f"auto-promotion: test_accuracy {accuracy:.4f} >= {threshold:.2f}",
            user="training",
        )
    except RegistryError as error:
        # The version is registered and complete; a lost race or a busy lock only means
        # someone else decides Production now. Promote it by hand if it should serve.
        return Promotion("refused", threshold, accuracy, str(error))
    return Promotion("promoted", threshold, accuracy)


def publish_model(
    tracker: Any, config: TrainConfig, settings: Settings, metadata: dict,
    model_dir: Path, manifest_sha: str, watch: _Watch,
) -> Publication:  # fmt: skip
    """Log, register, promote (threshold rule) and export the promoted model as the fallback.

    Raises RegistryError when the store fails while logging or registering (the run then ends
    FAILED); a refused promotion is a `Promotion` with outcome 'refused', not an error.
    """
    run_id, run_name, version = _log_and_register(
        tracker, config, settings, metadata, model_dir, manifest_sha, watch
    )
    threshold = settings.promotion_threshold if config.threshold is None else config.threshold
    accuracy = metadata["metrics"]["test_accuracy"]
    if accuracy >= threshold:
        watch.report("promote", f"promoting version {version} to Production")
    else:
        watch.report("promote", "below the threshold: not promoted")
    promotion = decide_promotion(tracker, settings, version, accuracy, threshold)
    watch.lap("promote")
    exported = None
    if promotion.promoted and config.export_local:
        watch.report("export", f"exporting version {version} as the local fallback")
        artifacts.install_local_model(model_dir, settings.models_dir, settings.model_name, version)
        exported = str(settings.models_dir)
    watch.lap("export")
    return Publication(run_id, run_name, tracker.run_url(run_id), version, promotion, exported)
