"""The API's limits and its optional API keys (PREDICTIONDEX_API_KEYS).

The keys come from core.config.Settings (PREDICTIONDEX_API_KEYS), which reads every variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.config import Settings

# Limits of one request (the contract; /docs shows them).
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_BATCH_ROWS = 10_000
MAX_MATRIX_POKEMON = 40
MAX_NAME_CHARS = 100
MAX_MOVES = 4
API_KEY_HEADER = "X-API-Key"
VERSION_HEADER = "X-Model-Version"
SOURCE_HEADER = "X-Model-Source"


@dataclass(frozen=True)
class ApiSettings:
    """What the API enforces beyond core's Settings.

    Attributes:
        api_keys: accepted X-API-Key values; empty means no key is required (local use).
        max_body_bytes: the largest request body accepted (bytes); larger ones get 413.
    """

    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Read PREDICTIONDEX_API_KEYS (comma-separated; blanks ignored) through core's Settings."""
        return cls(api_keys=Settings.from_env(None if env is None else dict(env)).api_keys)

    @property
    def requires_key(self) -> bool:
        """True when requests must carry one of the api_keys."""
        return bool(self.api_keys)
