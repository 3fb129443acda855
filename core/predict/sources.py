"""Where a served model comes from: the registry (version cache, refusal memory) or models/.

Both sources return a `ServedModel`; neither decides which one serves (that is `policy`).
Models are loaded through core.registry / core.artifacts: hash-checked, never pickle.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core import artifacts, features, registry
from core.artifacts import ModelBundle, UntrustedModelError
from core.config import Settings
from core.errors import PredictionDexError
from core.predict.guards import DeadlineRunner
from core.predict.scoring import RowScorer
from core.registry import NoModelError, VersionInfo, probe_server

logger = logging.getLogger(__name__)

Source = Literal["registry", "local"]

# The health probe must answer well under a second, or the registry counts as down.
PROBE_TIMEOUT_SECONDS = 0.5
# Hard deadline on MLflow calls against a tracking server: the budget of one request, twice
# (alias resolution, then the download of a version not cached yet).
SERVER_DEADLINE_FACTOR = 2.0
# An embedded SQLite store cannot hang like a network, but its first open in a process (schema
# check) takes about a second; a busy CPU must not turn that into a fallback.
EMBEDDED_DEADLINE_SECONDS = 15.0
# Loaded registry versions kept in memory (a rollback is then instant).
CACHED_VERSIONS = 4
MODEL_PRESENCE_FILES = (
    artifacts.MANIFEST_FILE,
    artifacts.METADATA_FILE,
    *artifacts.MODEL_FILES.values(),
)
_WHITESPACE = re.compile(r"\s+")
RECREATE_HINT = "Re-create it with `python -m core.predict export` or `python -m core.train`."


class LocalModelError(PredictionDexError, RuntimeError):
    """The local fallback model exists but cannot be served; the message says what to do."""

    default_hint = RECREATE_HINT


class NoLocalModel(PredictionDexError):
    """models/ holds no model at all (the policy turns this into NoModelError)."""


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and where it came from.

    Fields: `bundle` (the verified model), `source` ("registry" or "local"), `model_name`,
    `model_version` (a string such as "3", None for a local model without one) and `loaded_at`
    (seconds since the epoch, time.time()).
    """

    bundle: ModelBundle
    source: Source
    model_name: str | None
    model_version: str | None
    loaded_at: float

    @property
    def model_type(self) -> str:
        """The model family: xgboost or random_forest."""
        return self.bundle.model_type

    @property
    def roster(self) -> str:
        """The roster the model was trained on (its names resolve against it)."""
        return str(self.bundle.metadata.get("roster") or "letsgo")

    @functools.cached_property
    def scorer(self) -> RowScorer:
        """The fast one-row scorer of this model (built once)."""
        return RowScorer(self.bundle)

    @property
    def label(self) -> str:
        """Which model answers, for people: 'v3', 'v3 (local fallback)' or 'unversioned local model'.

        A local model's version is the one its manifest records (the version it was exported
        from), never the stage's: the fallback is not the registry's stage holder.
        """
        return serving_label(self.source, self.model_version)

    def describe(self) -> str:
        """'battle_winner_predictor v3 (registry, xgboost)', 'unversioned local model (xgboost)'."""
        if self.source == "local" and not self.model_version:
            return f"{artifacts.UNVERSIONED_LABEL} ({self.model_type})"
        version = f" v{self.model_version}" if self.model_version else ""
        return f"{self.model_name or 'model'}{version} ({self.source}, {self.model_type})"


def serving_label(source: Source | None, model_version: str | None) -> str:
    """'v3' (registry), 'v3 (local fallback)', 'unversioned local model', or 'no model'."""
    if source is None:
        return "no model"
    if source == "local":
        if not model_version:
            return artifacts.UNVERSIONED_LABEL
        return f"v{model_version} (local fallback)"
    return f"v{model_version}"


def check_compatible(bundle: ModelBundle) -> None:
    """Refuse a model that needs features this code does not build (it could not answer).

    Raises:
        UntrustedModelError: a feature column of the model is not in FEATURE_COLUMNS.
    """
    missing = [c for c in bundle.feature_columns if c not in features.FEATURE_COLUMNS]
    if missing:
        raise UntrustedModelError(
            f"the model needs features this version of PredictionDex does not build "
            f"({', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}): retrain it"
        )


def one_line(error: BaseException, limit: int = 300) -> str:
    """An error's text on one line, cut at `limit` characters (for logs and status only)."""
    text = _WHITESPACE.sub(" ", str(error)).strip() or type(error).__name__
    return text[:limit]


class RegistrySource:
    """The configured stage's version from the registry, bounded in time, cached by version.

    A version refused once (untrusted) is remembered and not downloaded again.
    """

    def __init__(self, settings: Settings, runner: DeadlineRunner | None = None) -> None:
        self.settings = settings
        self.runner = runner or DeadlineRunner()
        self._versions: OrderedDict[tuple[str, int], ServedModel] = OrderedDict()
        self._refused: dict[tuple[str, int], UntrustedModelError] = {}
        self.last_refusal: str | None = None  # "<name> vN refused: <why>", for the status

    def forget_refusals(self) -> None:
        """Try refused versions again (an explicit load)."""
        self._refused.clear()

    def _deadline(self) -> float:
        if self.settings.is_embedded:
            return EMBEDDED_DEADLINE_SECONDS
        return SERVER_DEADLINE_FACTOR * self.settings.registry_timeout_seconds

    def _check_reachable(self) -> None:
        settings = self.settings
        if settings.tracking_uri.lower().startswith(("http://", "https://")):
            timeout = min(PROBE_TIMEOUT_SECONDS, settings.registry_timeout_seconds)
            probe_server(settings.tracking_uri, timeout)
        elif settings.is_embedded:
            path = settings.sqlite_path
            if path is None or not path.is_file() or path.stat().st_size == 0:
                # Creating the store is training's job (under its lock): serving only reads it.
                raise NoModelError(
                    settings.model_stage, f"(the embedded store {path} does not exist yet)"
                )

    def _resolve(self, direct: bool) -> VersionInfo:
        """The concrete version behind the configured alias (runs in the deadline thread).

        `direct`: read without MLflow's client (the store is complete: nothing to wait for).
        """
        settings = self.settings
        if settings.is_embedded and not direct:
            registry.ensure_store(settings)  # once per process: waits for a creator's lock
        return registry.resolve_version(
            settings.model_name, stage=settings.model_stage, settings=settings
        )

    def fetch(self, current: ServedModel | None) -> ServedModel:
        """Resolve the alias (cheap) and load that version unless cached; store calls bounded in time.

        Raises:
            NoModelError: nobody holds the stage (or the embedded store does not exist).
            UntrustedModelError: the version failed verification (now or earlier).
            RegistryUnavailable, RegistryError: the registry failed or overran its deadline.
        """
        self._check_reachable()
        # Imports (seconds of CPU the first time, more on a busy machine) stay outside the
        # deadline: it is for a store that hangs, and a fresh process must not fall back for them.
        # A tracking server (over REST) or an embedded store at MLflow's schema revision (with
        # sqlite3) is read without importing mlflow: core.registry.download.direct_reader.
        direct = registry.direct_reader(self.settings) is not None
        if not direct:
            registry.import_client()
        started = time.monotonic()
        deadline = self._deadline()
        info = self.runner.run(lambda: self._resolve(direct), deadline, "resolve the model alias")
        resolved_in = time.monotonic() - started
        key = (info.model_name, int(info.version))
        if current is not None and current.source == "registry":
            if current.model_version == str(info.version):
                return current
        if key in self._versions:
            self._versions.move_to_end(key)
            return self._versions[key]
        if key in self._refused:
            self.last_refusal = f"{key[0]} v{key[1]} refused: {one_line(self._refused[key], 500)}"
            raise self._refused[key]
        artifacts.import_loader(info.model_type)  # xgboost, or scikit-learn for a forest
        remaining = max(deadline - resolved_in, 0.1)
        try:
            bundle = self.runner.run(
                lambda: registry.load_model_version(info, self.settings),
                remaining,
                f"download {info.model_name} v{info.version}",
            )
            check_compatible(bundle)
        except UntrustedModelError as error:
            self._refused[key] = error
            self.last_refusal = f"{key[0]} v{key[1]} refused: {one_line(error, 500)}"
            kept = f"; still serving {current.describe()}" if current else ""
            logger.error("refusing %s v%s: %s%s", *key, one_line(error, 500), kept)
            raise
        served = ServedModel(bundle, "registry", info.model_name, str(info.version), time.time())
        self._versions[key] = served
        while len(self._versions) > CACHED_VERSIONS:
            self._versions.popitem(last=False)
        return served


class LocalSource:
    """The verified model in models_dir, reloaded when its manifest changes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local: ServedModel | None = None

    def fetch(self) -> ServedModel:
        """The local model, re-verifying its files when it is already loaded.

        Raises:
            NoLocalModel: models_dir holds no model files.
            UntrustedModelError: a file does not match the manifest (tampering).
            LocalModelError: the folder cannot be read (say how to re-create it).
        """
        folder = Path(self.settings.models_dir)
        if not any((folder / name).exists() for name in MODEL_PRESENCE_FILES):
            raise NoLocalModel(f"no local model in {folder}")
        manifest = folder / artifacts.MANIFEST_FILE
        if self._local is not None and manifest.is_file():
            if artifacts.sha256_file(manifest) == self._local.bundle.manifest_sha256:
                # Same model: re-check the files (milliseconds) so tampering is reported, while
                # the copy verified at load time keeps serving.
                artifacts.verify_model_dir(folder)
                return self._local
        try:
            bundle = artifacts.load_model_dir(folder)
            check_compatible(bundle)
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
        except UntrustedModelError:
            raise
        except (OSError, ValueError) as error:
            raise LocalModelError(
                f"the local model in {folder} cannot be read ({one_line(error)}). {RECREATE_HINT}"
            ) from None
        version = recorded.get("model_version")
        self._local = ServedModel(
            bundle=bundle,
            source="local",
            model_name=recorded.get("model_name") or self.settings.model_name,
            model_version=None if version in (None, "") else str(version),
            loaded_at=time.time(),
        )
        return self._local
