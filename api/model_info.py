"""GET /model's metrics: one name per figure, and what they were measured on.

The metrics are the ones training recorded in the model's metadata, under the names MLflow logs
them by (`test_accuracy`, `test_f1`, `test_log_loss`, `excess_error`, ...). Training also logs
`excess_error` as `oracle_gap` (the same figure): /model gives it once, as `excess_error`, the
README's and DESIGN's term. `measured_on` comes from the version's stored evaluation report
(training's held-out test report in its run, `evaluation/evaluation.json`), read once per version
through the registry under the serving deadline; when the registry does not serve (local
fallback) or the report cannot be read, it is described from the model's metadata, without the
number of test battles, which only the report records.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from core.config import Settings
from core.errors import PredictionDexError
from core.predict.guards import DeadlineRunner
from core.predict.sources import (
    EMBEDDED_DEADLINE_SECONDS,
    SERVER_DEADLINE_FACTOR,
    ServedModel,
)

logger = logging.getLogger(__name__)

# Names training logs twice for one figure: the alias -> the name /model keeps.
ALIASES = {"oracle_gap": "excess_error"}
# Training's stored report (core.evaluate.stored.EVALUATION_PATH / core.evaluate.report.
# REPORT_FILE; written here so the API process does not import core.evaluate and its
# scikit-learn for a path).
TRAINING_REPORT = "evaluation/evaluation.json"
HELD_OUT_TEST = "held-out test"  # core.evaluate.stored.HELD_OUT_TEST
FROM_REPORT = "the version's stored evaluation report"
FROM_METADATA = "the model's metadata (the number of test battles is recorded only in the report)"


def public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics under one name each: an alias of a figure is dropped (its value kept under
    the other name when that one is missing)."""
    out = {name: value for name, value in metrics.items() if name not in ALIASES}
    for alias, name in ALIASES.items():
        if alias in metrics and name not in out:
            out[name] = metrics[alias]
    return out


def metadata_measured_on(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """What training's metrics were measured on, from the model's metadata: its held-out test
    battles (kind, seed, scenario, level; battles None). None when it records no metrics."""
    if not metadata.get("metrics"):
        return None
    dataset = metadata.get("dataset") or {}
    low, high = dataset.get("level_min"), dataset.get("level_max")
    level = None if low is None else str(low) if low == high else f"{low}-{high}"
    return {
        "kind": HELD_OUT_TEST if dataset else None,
        "battles": None,
        "seed": dataset.get("seed"),
        "heldout": True if dataset else None,
        "scenario": dataset.get("scenario"),
        "level": level,
        "recorded_in": FROM_METADATA,
    }


def _report_measured_on(report: dict[str, Any]) -> dict[str, Any] | None:
    """A stored report's `measured_on`; for a report stored before it was recorded, None."""
    found = report.get("measured_on")
    return {**found, "recorded_in": FROM_REPORT} if isinstance(found, dict) else None


def _read_report(settings: Settings, model_name: str, version: str) -> dict[str, Any] | None:
    """Training's stored report of `version` (None when its run has none). Registry errors."""
    from core.registry import Registry, direct_reader, resolve_version

    info = resolve_version(model_name, version=version, settings=settings)
    if not info.run_id:
        return None
    reader = direct_reader(settings)  # a server over REST or the embedded file: no mlflow import
    root = reader.run_artifacts(info.run_id) if reader is not None else None
    if root is not None:
        text = reader.read_text(root, TRAINING_REPORT)
    else:
        text = Registry(settings).read_run_text(info.run_id, TRAINING_REPORT)
    return json.loads(text) if text is not None else None


class MeasuredOn:
    """`measured_on` of the served version, read from its stored report once per version."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runner = DeadlineRunner(max_abandoned=1)
        self._found: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    def _deadline(self) -> float:
        if self.settings.is_embedded:
            return EMBEDDED_DEADLINE_SECONDS
        return SERVER_DEADLINE_FACTOR * self.settings.registry_timeout_seconds

    def of(self, served: ServedModel) -> dict[str, Any] | None:
        """What `served`'s metrics were measured on (see the module's docstring)."""
        fallback = metadata_measured_on(served.bundle.metadata)
        if served.source != "registry" or not served.model_version or not served.model_name:
            return fallback
        key = (served.model_name, served.model_version)
        with self._lock:
            if key not in self._found:
                try:
                    report = self._runner.run(
                        lambda: _read_report(self.settings, *key),
                        self._deadline(),
                        f"read the evaluation report of {key[0]} v{key[1]}",
                    )
                except (PredictionDexError, ValueError) as error:  # not kept: tried again
                    logger.warning("measured_on of v%s from the metadata: %s", key[1], error)
                    return fallback
                self._found[key] = _report_measured_on(report) if report else None
            return self._found[key] or fallback
