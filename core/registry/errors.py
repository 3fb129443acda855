"""The registry's errors: every one is a `core.errors.PredictionDexError` with a hint."""

from __future__ import annotations

from typing import Literal

from core.errors import PredictionDexError

WAYS_OUT = (
    "Ways out: (1) train a new model: `python -m core.train` (promoted automatically when "
    "test_accuracy >= PROMOTION_THRESHOLD); (2) promote a version manually: "
    "`python -m core.registry promote VERSION` or the Models page; (3) use Staging "
    "temporarily: `export MLFLOW_MODEL_STAGE=Staging`."
)

StoreFault = Literal["locked", "corrupt", "read_only", "disk_full", "schema", "unreachable"]

# What to do about each kind of storage fault, one sentence each.
STORE_HINTS: dict[str, str] = {
    "locked": "Another process holds the store's lock: wait a few seconds and try again.",
    "corrupt": (
        "The store is not a readable database: restore a backup of it, then run "
        "`python -m core.registry doctor`."
    ),
    "read_only": "The store cannot be written: fix the permissions of the file and its folder.",
    "disk_full": "The disk holding the store is full: free some space and try again.",
    "schema": (
        "The store's schema does not match this MLflow: back it up, then run "
        "`mlflow db upgrade <MLFLOW_TRACKING_URI>` (or use the MLflow version that wrote it)."
    ),
    "unreachable": (
        "Check that the store exists and answers (MLFLOW_TRACKING_URI), then try again."
    ),
}


class RegistryError(PredictionDexError):
    """A registry operation failed or was refused; the message says what to do."""


class RegistryUnavailable(RegistryError):
    """The registry did not answer in time or answered with an error (serving falls back)."""

    default_hint = (
        "Start the server (`docker compose up mlflow`, `make mlflow-ui`) or point "
        "MLFLOW_TRACKING_URI at one that answers; predictions use the local fallback meanwhile."
    )


class StoreError(RegistryUnavailable):
    """The tracking store itself failed: locked, corrupt, read-only, full, wrong schema.

    Attributes:
        kind: one of "locked", "corrupt", "read_only", "disk_full", "schema", "unreachable"
            (decide on this, never on the message).
        store: the store's URI with any password masked.
    """

    def __init__(self, kind: StoreFault, store: str, action: str) -> None:
        self.kind, self.store = kind, store
        what = {
            "locked": "is locked by another process",
            "corrupt": "is corrupt or not a database",
            "read_only": "is read-only",
            "disk_full": "is on a full disk",
            "schema": "has a database schema this MLflow does not use",
            "unreachable": "cannot be opened",
        }[kind]
        super().__init__(
            f"could not {action}: the tracking store {store} {what}. {STORE_HINTS[kind]}",
            hint=STORE_HINTS[kind],
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
