"""The publish step of training: log the run, register a version, promote it, export it.

Returns data (`Publication`, `Promotion`); the CLI turns it into the seed guide's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core import artifacts
from core.config import Settings
from core.train.config import TrainConfig
from core.train.policy import Promotion, decide_promotion

if TYPE_CHECKING:
    from core.registry import MLflowTracker


class _Watch(Protocol):
    def report(self, step: str, message: str) -> None: ...
    def lap(self, step: str) -> None: ...


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


def open_run(tracker: MLflowTracker, config: TrainConfig) -> Any:
    """The training's run, opened before any work so a cancelled training shows as KILLED.

    A RunLogger context: it ends KILLED on an interrupt (Cancel), FAILED on any error.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    run_name = f"train_{config.model_type}_{config.version_label or 'run'}_{stamp}"
    tags = {"model_type": config.model_type, "version_label": config.version_label,
            "scenario": config.scenario}  # fmt: skip
    return tracker.run(run_name, tags)


def log_and_register(
    run: Any, config: TrainConfig, settings: Settings, metadata: dict,
    model_dir: Path, manifest_sha: str, watch: _Watch, report: dict | None = None,
) -> int:  # fmt: skip
    """Log params, metrics and the model folder in the open run, register it: the version.

    Raises RegistryError when the store fails (the run then ends FAILED).
    """
    watch.report("log", f"logging run {run.run_name} to MLflow")
    dataset, metrics = metadata["dataset"], metadata["metrics"]
    run.set_tags({"data_hash": dataset["data_hash"]})
    run.log_params({**metadata["params"], **{f"data_{k}": v for k, v in dataset.items()}})
    run.log_params({"use_gridsearch": config.use_gridsearch, "grid_type": config.grid_type})
    run.log_metrics(metrics)
    run.log_model_dir(model_dir, manifest_sha)
    if report:
        _log_report(run, report)
    watch.lap("log")
    watch.report("register", f"registering a new version of {settings.model_name}")
    description = f"{config.model_type} - Accuracy: {metrics['test_accuracy']:.4f}"
    version = run.register(settings.model_name, description)
    watch.lap("register")
    return version


def _log_report(run: Any, report: dict) -> None:
    """The evaluation's curves, slices and importance as run files (JSON + PNG)."""
    import tempfile

    from core.evaluate.report import write_report
    from core.evaluate.stored import EVALUATION_PATH

    with tempfile.TemporaryDirectory(prefix="predictiondex-eval-") as scratch:
        run.log_files(write_report(report, Path(scratch)), EVALUATION_PATH)


def promote_and_export(
    tracker: Any, run: tuple[str, str], version: int, config: TrainConfig, settings: Settings,
    metadata: dict, model_dir: Path, manifest_sha: str, watch: _Watch,
) -> Publication:  # fmt: skip
    """After the run `(run_id, run_name)` has ended: apply the promotion policy to `version`,
    export it if promoted.

    A refused promotion is a `Promotion` with outcome 'refused', not an error.
    """
    threshold = settings.promotion_threshold if config.threshold is None else config.threshold
    policy = config.promotion_policy or settings.promotion_policy
    accuracy = metadata["metrics"]["test_accuracy"]
    if policy == "manual":
        watch.report("promote", "promotion policy manual: registered only")
    elif accuracy >= threshold:
        watch.report("promote", f"deciding on version {version} ({policy})")
    else:
        watch.report("promote", "below the threshold: not promoted")
    promotion = decide_promotion(
        tracker, settings, version, accuracy, threshold, policy=policy, model_dir=model_dir,
        manifest_sha=manifest_sha, compare_battles=config.promotion_battles,
    )  # fmt: skip
    watch.lap("promote")
    exported = None
    if promotion.promoted and config.export_local:
        watch.report("export", f"exporting version {version} as the local fallback")
        artifacts.install_local_model(model_dir, settings.models_dir, settings.model_name, version)
        exported = str(settings.models_dir)
    watch.lap("export")
    run_id, run_name = run
    return Publication(run_id, run_name, tracker.run_url(run_id), version, promotion, exported)
