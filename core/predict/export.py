"""Export of the local fallback: the registry's stage version, byte-identical, into models/."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core import artifacts, registry
from core.config import Settings
from core.errors import PredictionDexError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    """What `export_local_model` wrote.

    Fields: `model_name`, `model_version` (a string such as "3"), `models_dir` (the folder
    written, as a string path) and `model_type` ("xgboost" or "random_forest").
    """

    model_name: str
    model_version: str
    models_dir: str
    model_type: str


def export_local_model(
    version: int | str | None = None, settings: Settings | None = None
) -> ExportResult:
    """Write the registry's stage version (or `version`) into models_dir as the local fallback.

    Raises:
        NoModelError: nobody holds the stage (and no `version` was given).
        RegistryError: the version does not exist or the registry failed.
        UntrustedModelError: the downloaded files do not match their recorded hash.
    """
    settings = settings or Settings.from_env()
    info = registry.resolve_version(
        settings.model_name, stage=settings.model_stage, version=version, settings=settings
    )
    workdir = Path(tempfile.mkdtemp(prefix="predictiondex-export-"))
    try:
        # The registry's own files, hash-checked: the fallback is byte-identical to the version.
        folder = registry.download_model_version(info, workdir, settings)
        model_type = artifacts.verify_model_dir(folder)["model_type"]
        artifacts.install_local_model(folder, settings.models_dir, info.model_name, info.version)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    logger.info("exported %s v%s to %s", info.model_name, info.version, settings.models_dir)
    return ExportResult(
        model_name=info.model_name,
        model_version=str(info.version),
        models_dir=str(settings.models_dir),
        model_type=model_type,
    )


EXPORT_RETRY = "python -m core.predict export"


@dataclass(frozen=True)
class FallbackSync:
    """The local fallback after a change of Production: updated, already current, or not.

    Fields: `version` (the Production version it should hold, a string such as "3"),
    `outcome` ("updated", "current" or "failed") and `error` (one line, for "failed").
    """

    version: str
    outcome: Literal["updated", "current", "failed"]
    error: str = ""

    @property
    def message(self) -> str:
        """One sentence for people: 'local fallback updated to v3', or how to retry."""
        if self.outcome == "updated":
            return f"local fallback updated to v{self.version}"
        if self.outcome == "current":
            return f"local fallback already holds v{self.version}"
        return (
            f"local fallback NOT updated to v{self.version} ({self.error}): "
            f"retry with `{EXPORT_RETRY}`"
        )


def sync_local_fallback(
    model_name: str, stage: str, version: int | str, settings: Settings
) -> FallbackSync | None:
    """Export `version` as the local fallback after it took `stage` (promotion or rollback).

    Only the configured model and stage have a fallback: for another `model_name` or `stage`
    this returns None. A fallback that already holds `version` (and verifies) is left alone.
    Never raises a PredictionDexError: a failed export is reported in the result (the
    promotion stands; `python -m core.predict export` retries it).
    """
    if model_name != settings.model_name or stage != settings.model_stage:
        return None
    number = str(int(version))
    installed = artifacts.read_installed(settings.models_dir)
    if installed is not None and (installed.model_name, installed.model_version) == (
        model_name,
        number,
    ):
        try:
            artifacts.verify_model_dir(settings.models_dir)
            return FallbackSync(number, "current")
        except PredictionDexError:
            pass  # tampered or half-written: export it again
    try:
        export_local_model(number, settings)
    except (PredictionDexError, OSError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        logger.warning(
            "could not export %s v%s as the local fallback: %s", model_name, number, text
        )
        return FallbackSync(number, "failed", text[:300])
    return FallbackSync(number, "updated")
