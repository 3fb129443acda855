"""The local fallback: a verified model directory installed atomically into models_dir."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.artifacts.files import (
    IGNORED_FILES,
    MANIFEST_FILE,
    _write_manifest,
    verify_model_dir,
)

logger = logging.getLogger(__name__)

# How a local fallback without a registry version (`core.train --no-mlflow`) is named.
UNVERSIONED_LABEL = "unversioned local model"

# ---------------------------------------------------------------------------------------------
# The local fallback


def install_local_model(
    src_dir: Path, models_dir: Path, model_name: str | None, model_version: str | int | None
) -> None:
    """Copy a verified model directory into models_dir atomically, recording name and version."""
    from filelock import FileLock

    src_dir, models_dir = Path(src_dir), Path(models_dir)
    verify_model_dir(src_dir)
    models_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir.parent / f".{models_dir.name}.lock"), timeout=60):
        temporary = models_dir.parent / f".{models_dir.name}.tmp-{uuid.uuid4().hex}"
        try:
            shutil.copytree(src_dir, temporary, symlinks=False)
            (temporary / MANIFEST_FILE).unlink()
            for name in IGNORED_FILES:
                (temporary / name).unlink(missing_ok=True)
                if (models_dir / name).is_file():
                    shutil.copy2(models_dir / name, temporary / name)
            version = None if model_version is None else str(model_version)
            _write_manifest(temporary, model_name=model_name, model_version=version)
            verify_model_dir(temporary)
            _swap_into_place(temporary, models_dir)
        finally:
            if temporary.exists():
                shutil.rmtree(temporary, ignore_errors=True)
    logger.info("installed model %s v%s into %s", model_name, model_version, models_dir)


def _swap_into_place(temporary: Path, target: Path) -> None:
    if not target.exists():
        os.replace(temporary, target)
        return
    # A directory cannot be renamed over a non-empty one: move the old aside, then swap.
    backup = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    os.replace(target, backup)
    try:
        os.replace(temporary, target)
    except OSError:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


@dataclass(frozen=True)
class InstalledModel:
    """What models_dir's manifest records about the local fallback (read, not verified).

    Fields: `model_name` (None when trained with --no-mlflow), `model_version` (a string such as
    "3", None for an unversioned model) and `label` ("v3" or "unversioned local model").
    """

    model_name: str | None
    model_version: str | None

    @property
    def label(self) -> str:
        """'v3', or 'unversioned local model' for a model with no registry version."""
        return f"v{self.model_version}" if self.model_version else UNVERSIONED_LABEL


def read_installed(models_dir: Path) -> InstalledModel | None:
    """The name and version the local fallback's manifest records; None when there is none.

    Does not check hashes (verify_model_dir does); an unreadable manifest reads as unversioned.
    """
    manifest = Path(models_dir) / MANIFEST_FILE
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return InstalledModel(None, None)
    if not isinstance(data, dict):
        return InstalledModel(None, None)
    name, version = data.get("model_name"), data.get("model_version")
    return InstalledModel(
        model_name=str(name) if name else None,
        model_version=str(version) if version not in (None, "") else None,
    )
