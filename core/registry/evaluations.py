"""What evaluation and the promotion policy keep in the store: version tags, decisions that
changed nothing (audited), metrics and files added to a finished run, and reading them back."""

from __future__ import annotations

import tempfile
from pathlib import Path

from core.registry import audit, versions
from core.registry.audit import AuditEntry
from core.registry.checks import (
    MAX_REASON_CHARS,
    clean_text,
    default_user,
    parse_version,
    stage_alias,
    validate_model_name,
)
from core.registry.lock import promotion_lock
from core.registry.runs import RunLogger, log_files
from core.registry.store import Store, translate

MAX_TAG_CHARS = 5000


def set_version_tags(store: Store, model_name: str, version: int | str, tags: dict) -> None:
    """Set tags on a version (values as text, at most 5000 characters each)."""
    name, number = validate_model_name(model_name), parse_version(version)
    with translate("tag the version", store.settings):
        versions.get_version(store.client, name, number)
        for key, value in tags.items():
            store.client.set_model_version_tag(name, str(number), str(key),
                                               str(value)[:MAX_TAG_CHARS])  # fmt: skip


def record_decision(
    store: Store, model_name: str, version: int | str, *, reason: str,
    user: str | None = None, status: str = "not_promoted", stage: str = "Production",
) -> AuditEntry:  # fmt: skip
    """Append a promotion decision that moved nothing (e.g. "not_promoted") to the audit trail.

    Its status is not "ok", so the history of holders (rollback) ignores it. Raises
    RegistryError (unknown version, busy lock, store fault).
    """
    name, number = validate_model_name(model_name), parse_version(version)
    stage_name, alias = stage_alias(stage)
    reason = clean_text(reason, "reason", MAX_REASON_CHARS)
    with translate("record the decision", store.settings):
        versions.get_version(store.client, name, number)
        with promotion_lock(store.client, name, store.lock_timeout_seconds,
                            store.lock_stale_seconds):  # fmt: skip
            registered = versions.get_registered(store.client, name)
            current = registered.aliases.get(alias)
            return audit.append(
                store.client, name, registered.tags, user=user or default_user(),
                action="promote", stage=stage_name, from_version=int(current) if current else None,
                to_version=number, reason=reason, status=status,
            )  # fmt: skip


def log_to_run(store: Store, run_id: str, metrics: dict, files: list, path: str) -> None:
    """Add metrics and files (under `path/`) to an existing run."""
    run = RunLogger(store, "")
    run.run_id = run_id
    run.log_metrics(metrics)
    log_files(store, run_id, [Path(f) for f in files], path)


def run_data(store: Store, run_id: str) -> tuple[dict[str, str], dict[str, float]]:
    """A run's (params, latest metrics)."""
    with translate("read the run", store.settings):
        data = store.client.get_run(run_id).data
    return dict(data.params), dict(data.metrics)


def read_run_text(store: Store, run_id: str, path: str) -> str | None:
    """The text of a run's artifact file, or None when the run has no such file."""
    from mlflow.artifacts import download_artifacts

    parent = path.rsplit("/", 1)[0] if "/" in path else None
    with translate("read the run's files", store.settings):
        if path not in {item.path for item in store.client.list_artifacts(run_id, parent)}:
            return None
        with tempfile.TemporaryDirectory(prefix="predictiondex-read-") as scratch:
            local = download_artifacts(run_id=run_id, artifact_path=path, dst_path=scratch,
                                       tracking_uri=store.settings.tracking_uri)  # fmt: skip
            return Path(local).read_text(encoding="utf-8")
