"""Export of the local fallback: the registry's stage version, byte-identical, into models/."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core import artifacts, registry
from core.config import Settings

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
