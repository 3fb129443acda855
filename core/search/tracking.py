"""The study's MLflow runs: one parent per study, one child run per trial (tag mlflow.parentRunId).

Everything goes through core.registry's `RunLogger` (the only code that talks to MlflowClient).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from core.config import Settings
from core.registry import RunLogger
from core.registry.store import Store

PARENT_TAG = "mlflow.parentRunId"
STUDY_TAG = "optuna.study"
TRIAL_TAG = "optuna.trial"
STATE_TAG = "optuna.state"


@functools.cache
def _store(settings: Settings) -> Store:
    # One open store per process and settings: a worker logs many trials.
    return Store.open(settings)


def attach(settings: Settings, run_id: str, run_name: str = "") -> RunLogger:
    """A RunLogger for an existing run (log to it, end it)."""
    run = RunLogger(_store(settings), run_name)
    run.run_id = run_id
    return run


def start_parent(settings: Settings, study: str, tags: Mapping[str, str]) -> str:
    """Create the study's parent run; its id."""
    run = RunLogger(_store(settings), f"search_{study}", {STUDY_TAG: study, **tags})
    return run.start()


def start_child(settings: Settings, parent_id: str, study: str, number: int) -> RunLogger:
    """Create trial `number`'s child run under the parent; the open RunLogger."""
    tags = {PARENT_TAG: parent_id, STUDY_TAG: study, TRIAL_TAG: str(number), STATE_TAG: "RUNNING"}
    run = RunLogger(_store(settings), f"{study}_trial_{number}", tags)
    run.start()
    return run


def end_run(
    settings: Settings, run_id: str, status: str, tags: Mapping[str, str] | None = None
) -> None:
    """Set tags on a run, then end it FINISHED, FAILED or KILLED (RegistryError on a fault)."""
    run = attach(settings, run_id)
    if tags:
        run.set_tags(dict(tags))
    run.end(status)


def log_to_run(
    settings: Settings, run_id: str, params: Mapping | None = None,
    metrics: Mapping | None = None, tags: Mapping | None = None,
    files: list[Path] | None = None, artifact_path: str = "search",
) -> None:  # fmt: skip
    """Log params, metrics, tags and files to an existing run (RegistryError on a fault)."""
    run = attach(settings, run_id)
    if params:
        run.log_params(dict(params))
    if metrics:
        run.log_metrics(dict(metrics))
    if tags:
        run.set_tags(dict(tags))
    if files:
        run.log_files(files, artifact_path)
