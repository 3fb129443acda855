"""Names, limits and the checks of what people type (model names, versions, stages, reasons)."""

from __future__ import annotations

import getpass
import re
from typing import Any

from core.config import STAGES
from core.registry.errors import RegistryError

MODEL_ARTIFACT_PATH = "model"
MANIFEST_TAG = "manifest_sha256"
MODEL_TYPE_TAG = "model_type"
STAGE_TAG = "stage"
ARCHIVED = "Archived"
LOCK_SUFFIX = ".lock"
MAX_REASON_CHARS = 500
MAX_USER_CHARS = 100
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
VERSION_PATTERN = re.compile(r"^[1-9][0-9]{0,8}$")


def validate_model_name(model_name: str) -> str:
    """Return the model name, or raise RegistryError if it is not a plain registry name."""
    # fullmatch: with match(), `$` also accepts a trailing newline ("name\n").
    if not isinstance(model_name, str) or not MODEL_NAME_PATTERN.fullmatch(model_name):
        raise RegistryError(
            f"model name {str(model_name)[:60]!r} is not valid: use letters, digits, '_', '-' "
            "or '.' (at most 100 characters), e.g. battle_winner_predictor."
        )
    if model_name.endswith(LOCK_SUFFIX):
        raise RegistryError(f"model name {model_name!r} is reserved for promotion locks.")
    return model_name


def parse_version(version: Any) -> int:
    """A positive version number from an int or a string of digits, else RegistryError."""
    if isinstance(version, bool):
        version = str(version)
    if isinstance(version, int) and VERSION_PATTERN.fullmatch(str(version)):
        return version
    text = str(version).strip() if isinstance(version, str | int) else ""
    if not VERSION_PATTERN.fullmatch(text):
        raise RegistryError(
            f"version {str(version)[:40]!r} is not a version number: give a positive integer "
            "such as 3 (see `python -m core.registry list`)."
        )
    return int(text)


def as_version(value: Any) -> int | None:
    """A stored version number (alias value, audit field) as int, or None when absent/invalid."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def stage_alias(stage: str) -> tuple[str, str]:
    """The canonical stage name and its alias ("Production", "production"), else RegistryError."""
    for known in STAGES:
        if isinstance(stage, str) and stage.strip().lower() == known.lower():
            return known, known.lower()
    raise RegistryError(
        f"stage {str(stage)[:40]!r} is not one we use: choose Production or Staging."
    )


def clean_text(value: str | None, what: str, limit: int) -> str:
    """Stripped one-line text of at most `limit` characters, else RegistryError."""
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise RegistryError(f"the {what} is {len(text)} characters long: keep it under {limit}.")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise RegistryError(f"the {what} contains control characters: use plain text on one line.")
    return text


def default_user() -> str:
    """The operating-system user, or "unknown" where a container has no login name."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
