"""The local fallback: a verified model directory installed atomically into models_dir."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from core.artifacts.files import (
    IGNORED_FILES,
    MANIFEST_FILE,
    _write_manifest,
    verify_model_dir,
)

logger = logging.getLogger(__name__)

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
