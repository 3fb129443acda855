"""The serving model: which source answers (registry first, local fallback) and for how long.

`PredictionModel` resolves the configured stage alias (Production/Staging) to a concrete version
and caches it by version; the alias is re-checked after `registry_ttl_seconds`, so a promotion or
rollback made by another process is served without a restart. When the registry is disabled or
failing, the local fallback in `models/` serves, and the decision carries a structured
`FallbackReason`. Every answer says which version and source served it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.artifacts import UntrustedModelError
from core.config import Settings, mask_uri
from core.predict import answers
from core.predict.guards import CircuitBreaker
from core.predict.sources import (
    LocalModelError,
    LocalSource,
    NoLocalModel,
    RegistrySource,
    ServedModel,
    Source,
    one_line,
    serving_label,
)
from core.registry import NoModelError, StoreError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

STARTING_DETAIL = "the registry's model is still loading; the local fallback answers meanwhile"
# A request that arrives before any model serves looks this often for one to be installed.
FIRST_MODEL_POLL_SECONDS = 0.02
# After a registry failure, predictions skip the registry (and serve local) this long.
BREAKER_COOLDOWN_SECONDS = 10.0

FallbackKind = Literal["disabled", "no_model", "untrusted", "unavailable", "cooldown", "starting"]


@dataclass(frozen=True)
class FallbackReason:
    """Why the local fallback serves (or would serve) instead of the registry.

    Fields: `kind` — "disabled" (USE_MLFLOW_REGISTRY is false), "no_model" (nobody holds the
    stage), "untrusted" (the stage's version failed verification), "unavailable" (the registry
    failed or overran its deadline), "cooldown" (skipped after a recent failure), "starting" (a
    fresh process answers from local while the registry loads: `load_local_first()`); `detail` —
    one line for people; `stage` — the stage asked for (for "no_model"); `store_fault` — when
    the tracking store itself failed, its StoreError kind ("locked", "corrupt", "read_only",
    "disk_full", "schema", "unreachable"), else ""; `versions`, `other_holder` — for "no_model",
    whether any version exists and who holds the other stage (the ways out NoModelError names).
    """

    kind: FallbackKind
    detail: str
    stage: str = ""
    store_fault: str = ""
    versions: bool = True
    other_holder: int | None = None

    @classmethod
    def no_model(cls, error: NoModelError) -> FallbackReason:
        """The reason for a NoModelError, keeping the ways out it names."""
        return cls("no_model", error.detail, error.stage, versions=error.versions,
                   other_holder=error.other_holder)  # fmt: skip

    def __str__(self) -> str:
        if self.kind == "no_model":
            return f"No model found in stage '{self.stage}' {self.detail}"
        return self.detail


@dataclass(frozen=True)
class ServingStatus:
    """What serves now, for a sidebar or /model.

    Fields: `model_name`, `model_version`, `source` ("registry"/"local"), `model_type` (all None
    before the first load), `tracking_uri` (credentials masked), `use_registry`, `stage`,
    `fallback` (a FallbackReason when local serves because of the registry, else None),
    `last_error` (the latest refusal or load failure, one line), `registry_skipped_for_seconds`
    (the circuit breaker's remaining cool-down, seconds).
    """

    model_name: str | None
    model_version: str | None
    source: Source | None
    model_type: str | None
    tracking_uri: str
    use_registry: bool
    stage: str
    fallback: FallbackReason | None
    last_error: str | None
    registry_skipped_for_seconds: float

    @property
    def fallback_reason(self) -> str | None:
        """The fallback reason as one line, or None."""
        return None if self.fallback is None else str(self.fallback)

    @property
    def label(self) -> str:
        """'v3' (registry), 'v3 (local fallback)', 'unversioned local model' or 'no model'."""
        return serving_label(self.source, self.model_version)

    @property
    def serving_stage(self) -> str | None:
        """The stage whose holder serves ('Production'), None when the local fallback serves."""
        return self.stage if self.source == "registry" else None


class PredictionModel:
    """The model that answers predictions: registry first, local fallback, safe and hot-reloaded.

    Thread-safe: one thread refreshes while the others keep serving the current model.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        breaker_cooldown_seconds: float = BREAKER_COOLDOWN_SECONDS,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.breaker = CircuitBreaker(breaker_cooldown_seconds)
        self.registry = RegistrySource(self.settings)
        self.local = LocalSource(self.settings)
        self._refresh_lock = threading.Lock()
        self._served: ServedModel | None = None
        self._next_check = -math.inf  # monotonic time after which the alias is checked again
        self._logged: str | None = None  # the fallback reason last logged
        self.fallback: FallbackReason | None = None  # why local serves, when it does
        self.last_error: str | None = None  # the latest refusal or load failure, for the UI

    @property
    def fallback_reason(self) -> str | None:
        """Why local serves, as one line (None while the registry serves)."""
        return None if self.fallback is None else str(self.fallback)

    @property
    def served(self) -> ServedModel | None:
        """The model serving now (None before the first load)."""
        return self._served

    @property
    def is_loaded(self) -> bool:
        """True once a model serves."""
        return self._served is not None

    def status(self) -> ServingStatus:
        """What serves, from where, and the last problem (does not load anything)."""
        served = self._served
        return ServingStatus(
            model_name=served.model_name if served else None,
            model_version=served.model_version if served else None,
            source=served.source if served else None,
            model_type=served.model_type if served else None,
            tracking_uri=mask_uri(self.settings.tracking_uri),
            use_registry=self.settings.use_registry,
            stage=self.settings.model_stage,
            fallback=self.fallback,
            last_error=self.last_error,
            registry_skipped_for_seconds=self.breaker.remaining(),
        )

    def get_model(self) -> ServedModel:
        """The model to serve now, re-checking the registry alias once the TTL has passed.

        Raises:
            NoModelError: no registry model and no local fallback.
            LocalModelError: only the local model could serve, and it is refused.
        """
        served = self._served
        if served is not None and time.monotonic() < self._next_check:
            return served
        if served is not None:
            # Another thread is already refreshing: keep answering with the current model.
            if not self._refresh_lock.acquire(blocking=False):
                return served
        else:
            # Nothing serves yet: wait for the thread that is loading, but answer as soon as it
            # installs a model (the start-up's local fallback, `load_local_first`), not when
            # its whole refresh (mlflow's import, the registry's download) ends.
            while not self._refresh_lock.acquire(timeout=FIRST_MODEL_POLL_SECONDS):
                if self._served is not None:
                    return self._served
        try:
            if served is None and self._served is not None:
                return self._served  # loaded by another thread while this one waited
            return self._refresh(force=False)
        finally:
            self._refresh_lock.release()

    def load(self) -> ServedModel:
        """Resolve and load now (the seed's PredictionModel.load()), ignoring TTL and breaker."""
        with self._refresh_lock:
            self.registry.forget_refusals()
            return self._refresh(force=True)

    # --- answers --------------------------------------------------------------------------------

    def predict_winner(
        self,
        pokemon_a: str,
        pokemon_b: str,
        level_a: int = 50,
        level_b: int = 50,
        moves_a: answers.Moves = None,
        moves_b: answers.Moves = None,
        simulate: int = 0,
        *,
        explain: bool = False,
    ) -> answers.Prediction:
        """answers.predict_winner() with the model serving now (see there for fields, errors)."""
        return answers.predict_winner(
            self.get_model(), pokemon_a, pokemon_b, level_a, level_b, moves_a, moves_b,
            simulate, explain,
        )  # fmt: skip

    def predict_matrix(self, names: Sequence[str], level: int = 50) -> pd.DataFrame:
        """answers.predict_matrix() with the model serving now."""
        return answers.predict_matrix(self.get_model(), names, level)

    # --- refresh --------------------------------------------------------------------------------

    def _refresh(self, force: bool) -> ServedModel:
        """Pick the model to serve: registry, else local, else the last good one, else raise."""
        settings = self.settings
        wait = settings.registry_ttl_seconds  # next look at the registry
        if not settings.use_registry:
            reason = FallbackReason("disabled", "USE_MLFLOW_REGISTRY is false")
        elif not force and self.breaker.is_open:
            wait = self.breaker.remaining()  # the cool-down of the last failure
            detail = str(self.fallback) if self.fallback else "the registry failed moments ago"
            fault = self.fallback.store_fault if self.fallback else ""
            reason = FallbackReason("cooldown", detail, store_fault=fault)
        else:
            try:
                served = self.registry.fetch(self._served)
            except UntrustedModelError as error:
                self.last_error = self.registry.last_refusal or one_line(error, 500)
                reason = FallbackReason("untrusted", one_line(error, 500))
                if self._served is not None:
                    self._next_check = time.monotonic() + wait
                    return self._served
            except NoModelError as error:
                reason = FallbackReason.no_model(error)
            except Exception as error:  # noqa: BLE001 - any registry failure means fallback
                fault = error.kind if isinstance(error, StoreError) else ""
                reason = FallbackReason("unavailable", one_line(error), store_fault=fault)
                wait = self.breaker.trip()
            else:
                self.breaker.reset()
                self.fallback = self._logged = None
                return self._install(served, wait)
            self._log_fallback(reason)
        self.fallback = reason
        return self._serve_local(reason, wait)

    def _log_fallback(self, reason: FallbackReason) -> None:
        if str(reason) != self._logged:
            logger.warning("MLflow not available, using local files: %s", reason)
            self._logged = str(reason)

    def _install(self, served: ServedModel, wait: float) -> ServedModel:
        previous = self._served
        self._served = served
        self._next_check = time.monotonic() + wait
        if previous is None or (previous.source, previous.model_version) != (
            served.source,
            served.model_version,
        ):
            why = f" ({self.fallback})" if served.source == "local" else ""
            logger.info("serving %s%s", served.describe(), why)
        return served

    def _keep_serving(self, wait: float) -> ServedModel | None:
        if self._served is not None:
            self._next_check = time.monotonic() + wait
        return self._served

    def _serve_local(self, reason: FallbackReason, wait: float) -> ServedModel:
        """Serve models/; if it is missing or refused, keep the last good model, else raise."""
        try:
            local = self.local.fetch()
        except NoLocalModel:
            if (kept := self._keep_serving(wait)) is not None:
                return kept
            stage = self.settings.model_stage
            detail = reason.detail if reason.kind == "no_model" else f"({reason})"
            raise NoModelError(
                stage, detail, fallback_dir=str(self.settings.models_dir),
                versions=reason.versions, other_holder=reason.other_holder,
            ) from None  # fmt: skip
        except (UntrustedModelError, LocalModelError) as error:
            message = f"local model refused: {one_line(error, 500)}"
            repeated, self.last_error = message == self.last_error, message
            if self._served is not None:
                if not repeated:  # once, not at every TTL
                    logger.error("%s; still serving %s", message, self._served.describe())
                self._next_check = time.monotonic() + wait
                return self._served
            if isinstance(error, LocalModelError):
                raise
            raise LocalModelError(
                f"the local model in {self.settings.models_dir} cannot be served: "
                f"{one_line(error, 500)}. Re-create it with `python -m core.predict export` or "
                "`python -m core.train`."
            ) from None
        return self._install(local, wait)


def load_local_first(model: PredictionModel) -> ServedModel:
    """Start-up of a server: models/ answers at once (no mlflow import), then the registry.

    With the registry on and nothing served yet, a trusted local fallback serves first with the
    fallback reason "starting" while this call resolves the registry as get_model() would;
    concurrent get_model() calls keep answering from local and see the registry's version as
    soon as it is installed. Without a local model, or with the registry off, this is
    get_model(). Returns the model serving at the end.

    Raises:
        NoModelError, LocalModelError: as PredictionModel.get_model().
    """
    if model.settings.use_registry and model.served is None:
        with model._refresh_lock:
            local = None
            if model.served is None:
                with contextlib.suppress(NoLocalModel, UntrustedModelError, LocalModelError):
                    local = model.local.fetch()  # a refusal is reported by the registry path
            if local is not None:
                model.fallback = FallbackReason("starting", STARTING_DETAIL)
                model._install(local, math.inf)  # no request refreshes (imports mlflow) first
        if model.fallback is not None and model.fallback.kind == "starting":
            with model._refresh_lock:
                served = model._refresh(force=False)
                if model.fallback is not None and model.fallback.kind == "starting":
                    # The registry's version was refused while local served: say so.
                    model.fallback = FallbackReason("untrusted", model.last_error or "refused")
                return served
    return model.get_model()
