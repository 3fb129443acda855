"""The registry's errors: every one is a `core.errors.PredictionDexError` with a hint."""

from __future__ import annotations

from typing import Literal

from core.errors import PredictionDexError


def ways_out(
    stage: str = "Production", *, versions: bool = True, other_holder: int | None = None
) -> str:
    """The ways out of "no model in `stage`", listing only what exists.

    Args:
        stage: the stage nobody holds ("Production" or "Staging").
        versions: False when the model has no version yet (nothing to promote).
        other_holder: the version holding the other stage, if any (then "use it temporarily").
    """
    flag = "" if stage == "Production" else f" --stage {stage}"
    steps = [
        "train a new model: `python -m core.train` (promoted automatically when the promotion "
        "policy accepts it)"
    ]
    if versions:
        steps.append(
            f"promote a version manually: `python -m core.registry promote VERSION{flag}` or the "
            "Models page"
        )
    if other_holder is not None:
        other = "Staging" if stage == "Production" else "Production"
        steps.append(
            f"use {other} (v{other_holder}) temporarily: `export MLFLOW_MODEL_STAGE={other}`"
        )
    return "Ways out: " + "; ".join(f"({i}) {step}" for i, step in enumerate(steps, 1)) + "."


WAYS_OUT = ways_out()  # no Production, versions exist, nobody in Staging


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
        hint: the ways out that exist (ways_out): promoting only when a version exists, the other
            stage only when `other_holder` (the version holding it) is given.
        versions: whether any version of the model exists; other_holder: the other stage's holder.
    """

    default_hint = WAYS_OUT

    def __init__(
        self,
        stage: str,
        detail: str,
        *,
        fallback_dir: str | None = None,
        versions: bool = True,
        other_holder: int | None = None,
    ) -> None:
        self.stage, self.detail = stage, detail
        self.versions, self.other_holder = versions, other_holder
        where = f", and no local fallback in {fallback_dir}" if fallback_dir else ""
        hint = ways_out(stage, versions=versions, other_holder=other_holder)
        super().__init__(f"No model found in stage '{stage}' {detail}{where}. {hint}", hint=hint)
