"""Serving: the Production model from the registry, a local fallback in seconds, predictions.

`PredictionModel` resolves the configured stage alias (Production/Staging) to a concrete version,
loads it through core.registry (hash-checked, never pickle, never MLflow's loaders) and caches it
by version. The alias is re-checked after `registry_ttl_seconds`, so a promotion or rollback made
by another process is served without a restart. When the registry is disabled or failing, the
local fallback in `models/` serves, and every answer says which version and source served it.

Why the registry path has three guards: MLflow's REST client retries for minutes against an
unreachable server (about 20 minutes when the server accepts the connection but never answers),
and its timeout variables are process-global, so lowering them would also hurt training in the
same process. Instead: a health probe with a sub-second timeout, a hard deadline on the MLflow
calls (run in a daemon worker thread that we stop waiting for), and a circuit breaker that skips
the registry for a cool-down after a failure.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import shutil
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
import requests

from core import artifacts, battle, features, registry
from core.artifacts import ModelBundle, UntrustedModelError
from core.config import ConfigError, Settings, mask_uri
from core.errors import PredictionDexError
from core.pokedex import Pokedex, PokedexError, load_pokedex
from core.registry import (
    NoModelError,
    RegistryError,
    RegistryUnavailable,
    VersionInfo,
    probe_server,
)

logger = logging.getLogger(__name__)

Source = Literal["registry", "local"]
T = TypeVar("T")

# The health probe must answer well under a second, or the registry counts as down.
PROBE_TIMEOUT_SECONDS = 0.5
# After a registry failure, predictions skip the registry (and serve local) this long.
BREAKER_COOLDOWN_SECONDS = 10.0
# Hard deadline on MLflow calls against a tracking server: the budget of one request, twice
# (alias resolution, then the download of a version not cached yet).
SERVER_DEADLINE_FACTOR = 2.0
# An embedded SQLite store cannot hang like a network, but its first open in a process (schema
# check) takes about a second; a busy CPU must not turn that into a fallback.
EMBEDDED_DEADLINE_SECONDS = 15.0
# Registry calls that overran their deadline and may still be running in the background.
MAX_ABANDONED_CALLS = 3
# Loaded registry versions kept in memory (a rollback is then instant).
CACHED_VERSIONS = 4
TOP_CONTRIBUTIONS = 8
DEFAULT_POLICY = "best"
MODEL_PRESENCE_FILES = (
    artifacts.MANIFEST_FILE,
    artifacts.METADATA_FILE,
    *artifacts.MODEL_FILES.values(),
)


class LocalModelError(PredictionDexError, RuntimeError):
    """The local fallback model exists but cannot be served; the message says what to do."""


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and where it came from."""

    bundle: ModelBundle
    source: Source
    model_name: str | None
    model_version: str | None
    loaded_at: float  # time.time()

    @property
    def model_type(self) -> str:
        """The model family: xgboost or random_forest."""
        return self.bundle.model_type

    @property
    def roster(self) -> str:
        """The roster the model was trained on (its names resolve against it)."""
        return str(self.bundle.metadata.get("roster") or "letsgo")

    def describe(self) -> str:
        """'battle_winner_predictor v3 (registry, xgboost)'."""
        version = f" v{self.model_version}" if self.model_version else ""
        return f"{self.model_name or 'model'}{version} ({self.source}, {self.model_type})"


@dataclass(frozen=True)
class Prediction:
    """One answer: who wins, how sure, which model said so and why."""

    pokemon_a: str  # Showdown ids
    pokemon_b: str
    name_a: str
    name_b: str
    winner_id: str
    winner: str  # display name
    p_a_wins: float
    model_version: str | None
    source: Source
    model_type: str
    model_name: str | None
    level_a: int
    level_b: int
    moves_a: list[str]
    moves_b: list[str]
    contributions: list[dict]  # {"feature", "value", "contribution"}, largest |contribution| first
    simulated_p_a_wins: float | None = None
    simulated_battles: int = 0

    @property
    def confidence(self) -> float:
        """The probability of the predicted winner."""
        return max(self.p_a_wins, 1.0 - self.p_a_wins)

    def to_dict(self) -> dict:
        """Plain JSON-ready data."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Guards of the registry path


class _DeadlineRunner:
    """Run a blocking call in a daemon thread and stop waiting for it after a deadline.

    A call that overruns cannot be interrupted: it is abandoned (its result dropped) and goes on
    in the background until MLflow's own retries give up. A server that recovers must be used
    again at once, so later calls do not wait for abandoned ones, but at most
    MAX_ABANDONED_CALLS may be stuck at a time (each holds a thread and a socket).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned: list[threading.Thread] = []

    def stuck(self) -> int:
        """How many abandoned calls have not returned yet."""
        with self._lock:
            self._abandoned = [thread for thread in self._abandoned if thread.is_alive()]
            return len(self._abandoned)

    def run(self, call: Callable[[], T], deadline: float, what: str) -> T:
        """call() within `deadline` seconds, else RegistryUnavailable; its errors are re-raised."""
        if self.stuck() >= MAX_ABANDONED_CALLS:
            raise RegistryUnavailable(
                f"{MAX_ABANDONED_CALLS} earlier registry calls have not returned yet (it hangs)"
            )
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                outcome["value"] = call()
            except BaseException as error:  # handed over to the waiting thread
                outcome["error"] = error
            finally:
                finished.set()

        # A daemon thread: a stuck call must never keep the process (a CLI, the app) alive.
        worker = threading.Thread(target=target, name=f"predictiondex-{what}", daemon=True)
        worker.start()
        if not finished.wait(deadline):
            with self._lock:
                self._abandoned.append(worker)
            raise RegistryUnavailable(f"the registry did not {what} within {deadline:.1f} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


def _embedded_store_exists(settings: Settings) -> bool:
    path = settings.sqlite_path
    return path is not None and path.is_file() and path.stat().st_size > 0


def _resolve(settings: Settings) -> VersionInfo:
    """The concrete version behind the configured stage alias (runs in the deadline thread)."""
    if settings.is_embedded:
        registry.ensure_store(settings)  # once per process: waits for a creator holding the lock
    return registry.resolve_version(
        settings.model_name, stage=settings.model_stage, settings=settings
    )


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:limit]


# ---------------------------------------------------------------------------------------------
# The serving model


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
        self.breaker_cooldown_seconds = float(breaker_cooldown_seconds)
        self._refresh_lock = threading.Lock()
        self._runner = _DeadlineRunner()
        self._served: ServedModel | None = None
        self._next_check = -math.inf  # monotonic time after which the alias is checked again
        self._breaker_until = -math.inf
        self._versions: OrderedDict[tuple[str, int], ServedModel] = OrderedDict()
        self._refused: dict[tuple[str, int], str] = {}
        self._local: ServedModel | None = None
        self._logged_reason: str | None = None
        self.last_error: str | None = None  # the latest refusal or load failure, for the UI
        self.fallback_reason: str | None = None  # why local serves, when it does

    # --- what serves ----------------------------------------------------------------------------

    @property
    def served(self) -> ServedModel | None:
        """The model serving now (None before the first load)."""
        return self._served

    @property
    def is_loaded(self) -> bool:
        """True once a model serves."""
        return self._served is not None

    def status(self) -> dict:
        """Plain data for a sidebar: what serves, from where, and the last problem."""
        served = self._served
        return {
            "model_name": served.model_name if served else None,
            "model_version": served.model_version if served else None,
            "source": served.source if served else None,
            "model_type": served.model_type if served else None,
            "tracking_uri": mask_uri(self.settings.tracking_uri),
            "use_registry": self.settings.use_registry,
            "stage": self.settings.model_stage,
            "fallback_reason": self.fallback_reason,
            "last_error": self.last_error,
            "registry_skipped_for_seconds": max(0.0, self._breaker_until - time.monotonic()),
        }

    def get_model(self) -> ServedModel:
        """The model to serve now, re-checking the registry alias once the TTL has passed."""
        served = self._served
        if served is not None and time.monotonic() < self._next_check:
            return served
        if served is not None:
            # Another thread is already refreshing: keep answering with the current model.
            if not self._refresh_lock.acquire(blocking=False):
                return served
        else:
            self._refresh_lock.acquire()
        try:
            if served is None and self._served is not None:
                return self._served  # loaded by another thread while this one waited
            return self._refresh(force=False)
        finally:
            self._refresh_lock.release()

    def load(self) -> ServedModel:
        """Resolve and load now (the seed's PredictionModel.load()), ignoring TTL and breaker."""
        with self._refresh_lock:
            self._refused.clear()
            return self._refresh(force=True)

    # --- refresh --------------------------------------------------------------------------------

    def _refresh(self, force: bool) -> ServedModel:
        """Pick the model to serve: registry, else local, else the last good one, else raise."""
        settings = self.settings
        # Next look at the registry: after the TTL, or after the cool-down when it just failed.
        wait = settings.registry_ttl_seconds
        if not settings.use_registry:
            reason = "USE_MLFLOW_REGISTRY is false"
        elif not force and time.monotonic() < self._breaker_until:
            wait = self._breaker_until - time.monotonic()  # the cool-down of the last failure
            reason = self.fallback_reason or "the registry failed moments ago"
        else:
            try:
                served = self._from_registry()
            except UntrustedModelError as error:
                reason = _one_line(error, 500)
                if self._served is not None:
                    self._next_check = time.monotonic() + wait
                    return self._served
            except NoModelError as error:
                reason = f"No model found in stage '{error.stage}' {error.detail}"
            except Exception as error:  # noqa: BLE001 - any registry failure means fallback
                reason = _one_line(error)
                wait = self.breaker_cooldown_seconds
                self._breaker_until = time.monotonic() + wait
            else:
                self._breaker_until = -math.inf
                self.fallback_reason = None
                self._logged_reason = None
                return self._install(served, wait)
            self._log_fallback(reason)
        self.fallback_reason = reason
        return self._serve_local(reason, wait)

    def _log_fallback(self, reason: str) -> None:
        if reason != self._logged_reason:
            logger.warning("MLflow not available, using local files: %s", reason)
            self._logged_reason = reason

    def _install(self, served: ServedModel, wait: float) -> ServedModel:
        previous = self._served
        self._served = served
        self._next_check = time.monotonic() + wait
        if previous is None or (previous.source, previous.model_version) != (
            served.source,
            served.model_version,
        ):
            why = f" ({self.fallback_reason})" if served.source == "local" else ""
            logger.info("serving %s%s", served.describe(), why)
        return served

    # --- the registry ---------------------------------------------------------------------------

    def _deadline(self) -> float:
        if self.settings.is_embedded:
            return EMBEDDED_DEADLINE_SECONDS
        return SERVER_DEADLINE_FACTOR * self.settings.registry_timeout_seconds

    def _is_http(self) -> bool:
        return self.settings.tracking_uri.lower().startswith(("http://", "https://"))

    def _from_registry(self) -> ServedModel:
        """Resolve the alias (cheap) and load that version unless cached; bounded in time."""
        settings = self.settings
        if self._is_http():
            probe_server(
                settings.tracking_uri, min(PROBE_TIMEOUT_SECONDS, settings.registry_timeout_seconds)
            )
        elif settings.is_embedded and not _embedded_store_exists(settings):
            # Creating the store is training's job (under its lock): serving only reads it.
            raise NoModelError(f"the embedded store {settings.sqlite_path} does not exist yet")
        started = time.monotonic()
        deadline = self._deadline()
        info: VersionInfo = self._runner.run(
            lambda: _resolve(settings), deadline, "resolve the model alias"
        )
        key = (info.model_name, int(info.version))
        current = self._served
        if (
            current is not None
            and current.source == "registry"
            and current.model_version == str(info.version)
        ):
            return current
        if key in self._versions:
            self._versions.move_to_end(key)
            return self._versions[key]
        if key in self._refused:
            raise UntrustedModelError(self._refused[key].removeprefix("untrusted model: "))
        remaining = max(deadline - (time.monotonic() - started), 0.1)
        try:
            bundle = self._runner.run(
                lambda: registry.load_model_version(info, settings),
                remaining,
                f"download {info.model_name} v{info.version}",
            )
            _check_compatible(bundle)
        except UntrustedModelError as error:
            self._refuse(key, error, keeping=self._served)
            raise
        served = ServedModel(
            bundle=bundle,
            source="registry",
            model_name=info.model_name,
            model_version=str(info.version),
            loaded_at=time.time(),
        )
        self._versions[key] = served
        while len(self._versions) > CACHED_VERSIONS:
            self._versions.popitem(last=False)
        return served

    def _refuse(self, key: tuple[str, int], error: Exception, keeping: ServedModel | None) -> None:
        message = _one_line(error, 500)
        self._refused[key] = message
        self.last_error = f"{key[0]} v{key[1]} refused: {message}"
        kept = f"; still serving {keeping.describe()}" if keeping else ""
        logger.error("refusing %s v%s: %s%s", key[0], key[1], message, kept)

    # --- the local fallback ---------------------------------------------------------------------

    def _serve_local(self, reason: str, wait: float) -> ServedModel:
        """Serve models/; if it is missing or refused, keep the last good model, else raise."""
        try:
            local = self._load_local()
        except FileNotFoundError:
            if self._served is not None:
                self._next_check = time.monotonic() + wait
                return self._served
            stage = self.settings.model_stage
            detail = reason.removeprefix(f"No model found in stage '{stage}' ").rstrip(".")
            detail = detail if detail.startswith("for ") else f"({detail})"
            raise NoModelError(stage, detail, fallback_dir=str(self.settings.models_dir)) from None
        except (UntrustedModelError, LocalModelError) as error:
            message = f"local model refused: {_one_line(error, 500)}"
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
                f"{_one_line(error, 500)}. Re-create it with `python -m core.predict export` or "
                "`python -m core.train`."
            ) from None
        return self._install(local, wait)

    def _load_local(self) -> ServedModel:
        """The verified model in models_dir, reusing the loaded one while its manifest is unchanged."""
        folder = Path(self.settings.models_dir)
        if not any((folder / name).exists() for name in MODEL_PRESENCE_FILES):
            raise FileNotFoundError(folder)
        manifest = folder / artifacts.MANIFEST_FILE
        if self._local is not None and manifest.is_file():
            if artifacts.sha256_file(manifest) == self._local.bundle.manifest_sha256:
                # Same model: re-check the files (milliseconds) so tampering is reported, while
                # the copy verified at load time keeps serving.
                artifacts.verify_model_dir(folder)
                return self._local
        try:
            bundle = artifacts.load_model_dir(folder)
            _check_compatible(bundle)
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
        except UntrustedModelError:
            raise
        except (OSError, ValueError) as error:
            raise LocalModelError(
                f"the local model in {folder} cannot be read ({_one_line(error)}). Re-create it "
                "with `python -m core.predict export` or `python -m core.train`."
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

    # --- predictions ----------------------------------------------------------------------------

    def predict_winner(
        self,
        pokemon_a: str,
        pokemon_b: str,
        level_a: int = 50,
        level_b: int = 50,
        moves_a: Sequence[str] | str | None = None,
        moves_b: Sequence[str] | str | None = None,
        simulate: int = 0,
    ) -> Prediction:
        """Who wins A vs B, P(A wins), the serving version and source, and the main reasons."""
        served = self.get_model()
        dex = load_pokedex(served.roster)
        matchup = battle.resolve_matchup(
            pokemon_a, pokemon_b, level_a, level_b, _as_list(moves_a), _as_list(moves_b), dex
        )
        X = features.build_features(_matchup_batch(dex, matchup), dex)
        p_a_wins = float(served.bundle.predict_proba(X)[0])
        simulated = None
        if simulate:
            simulated = battle.win_probability(
                matchup.pokemon_a,
                matchup.pokemon_b,
                matchup.level_a,
                matchup.level_b,
                matchup.moves_a,
                matchup.moves_b,
                n=simulate,
                seed=0,
                dex=dex,
            )["p_a_wins"]
        a, b = dex.get(matchup.pokemon_a), dex.get(matchup.pokemon_b)
        winner = a if p_a_wins >= 0.5 else b
        return Prediction(
            pokemon_a=a.id,
            pokemon_b=b.id,
            name_a=a.name,
            name_b=b.name,
            winner_id=winner.id,
            winner=winner.name,
            p_a_wins=p_a_wins,
            model_version=served.model_version,
            source=served.source,
            model_type=served.model_type,
            model_name=served.model_name,
            level_a=matchup.level_a,
            level_b=matchup.level_b,
            moves_a=list(matchup.moves_a),
            moves_b=list(matchup.moves_b),
            contributions=top_contributions(served.bundle, X),
            simulated_p_a_wins=simulated,
            simulated_battles=int(simulate or 0),
        )

    def predict_matrix(self, names: Sequence[str], level: int = 50) -> pd.DataFrame:
        """All-pairs P(row wins against column) with default movesets; NaN on the diagonal."""
        served = self.get_model()
        dex = load_pokedex(served.roster)
        level = battle.check_level(level)
        ids = list(dict.fromkeys(dex.resolve_pokemon(name).id for name in names))
        size = len(ids)
        values = np.full((size, size), np.nan)
        if size >= 2:
            index = np.array([dex.pokemon_index[pid] for pid in ids], dtype=np.int64)
            rows, cols = np.nonzero(~np.eye(size, dtype=bool))
            X = features.build_features(_pair_batch(dex, index[rows], index[cols], level), dex)
            values[rows, cols] = served.bundle.predict_proba(X)
        frame = pd.DataFrame(values, index=ids, columns=ids)
        frame.index.name = "pokemon_a"
        frame.columns.name = "pokemon_b"
        return frame


def _matchup_batch(dex: Pokedex, matchup: battle.Matchup) -> battle.BattleArrays:
    """The one configuration row of a resolved matchup, as simulator arrays (no pandas round trip)."""

    def moves(ids: list[str]) -> np.ndarray:
        indices = [dex.move_index[m] for m in ids][: battle.MAX_MOVES]
        return np.array([indices + [-1] * (battle.MAX_MOVES - len(indices))], dtype=np.int32)

    return battle.BattleArrays(
        a=np.array([dex.pokemon_index[matchup.pokemon_a]], dtype=np.int32),
        b=np.array([dex.pokemon_index[matchup.pokemon_b]], dtype=np.int32),
        level_a=np.array([matchup.level_a], dtype=np.int32),
        level_b=np.array([matchup.level_b], dtype=np.int32),
        moves_a=moves(matchup.moves_a),
        moves_b=moves(matchup.moves_b),
        random_a=np.zeros(1, dtype=bool),  # DEFAULT_POLICY "best" on both sides
        random_b=np.zeros(1, dtype=bool),
    )


def _pair_batch(dex: Pokedex, a: np.ndarray, b: np.ndarray, level: int) -> battle.BattleArrays:
    """Simulator arrays for many pairs at one level, default movesets computed vectorised."""
    levels = np.full(len(a), level, dtype=np.int32)
    no_random = np.zeros(len(a), dtype=bool)
    return battle.BattleArrays(
        a=a.astype(np.int32),
        b=b.astype(np.int32),
        level_a=levels,
        level_b=levels,
        moves_a=battle.default_moves_indices(dex, a, b, levels, levels),
        moves_b=battle.default_moves_indices(dex, b, a, levels, levels),
        random_a=no_random,
        random_b=no_random,
    )


def _as_list(moves: Sequence[str] | str | None) -> list[str] | str | None:
    if moves is None or isinstance(moves, str):
        return moves
    return list(moves)


def _check_compatible(bundle: ModelBundle) -> None:
    """Refuse a model that needs features this code does not build (it could not answer)."""
    missing = [c for c in bundle.feature_columns if c not in features.FEATURE_COLUMNS]
    if missing:
        raise UntrustedModelError(
            f"the model needs features this version of PredictionDex does not build "
            f"({', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}): retrain it"
        )


def top_contributions(
    bundle: ModelBundle, X: pd.DataFrame, top: int = TOP_CONTRIBUTIONS
) -> list[dict]:
    """The features that moved this prediction most: name, feature value and contribution."""
    row = bundle.contributions(X.iloc[:1]).iloc[0].drop("bias")
    names = row.index.to_list()
    values = row.to_numpy(dtype=np.float64)
    order = np.argsort(-np.abs(values), kind="stable")[:top]
    first = X.iloc[0]
    return [
        {
            "feature": str(names[i]),
            "value": float(first[names[i]]),
            "contribution": float(values[i]),
        }
        for i in order
    ]


# ---------------------------------------------------------------------------------------------
# Module-level convenience: one default model per process, from the environment


_DEFAULT_LOCK = threading.Lock()


@functools.cache
def _default_model() -> PredictionModel:
    return PredictionModel(Settings.from_env())


def get_default_model() -> PredictionModel:
    """The process-wide PredictionModel built from Settings.from_env()."""
    with _DEFAULT_LOCK:
        return _default_model()


def predict_winner(
    pokemon_a: str,
    pokemon_b: str,
    level_a: int = 50,
    level_b: int = 50,
    moves_a: Sequence[str] | str | None = None,
    moves_b: Sequence[str] | str | None = None,
    simulate: int = 0,
) -> Prediction:
    """predict_winner() on the default model."""
    return get_default_model().predict_winner(
        pokemon_a, pokemon_b, level_a, level_b, moves_a, moves_b, simulate
    )


def predict_matrix(names: Sequence[str], level: int = 50) -> pd.DataFrame:
    """predict_matrix() on the default model."""
    return get_default_model().predict_matrix(names, level)


# ---------------------------------------------------------------------------------------------
# Export of the local fallback


def export_local_model(version: int | str | None = None, settings: Settings | None = None) -> dict:
    """Write the registry's stage version (or `version`) into models_dir as the local fallback."""
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
    return {
        "model_name": info.model_name,
        "model_version": str(info.version),
        "models_dir": str(settings.models_dir),
        "model_type": model_type,
    }


# ---------------------------------------------------------------------------------------------
# CLI


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other error here."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _split_moves(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def _predict_main(argv: list[str]) -> dict:
    parser = _Parser(
        prog="python -m core.predict",
        description="Predict who wins a 1v1 battle with the Production model (or `export`).",
    )
    parser.add_argument("--a", required=True, help="Pokémon A (forgiving: 'Mr. Mime', 'mr-mime')")
    parser.add_argument("--b", required=True, help="Pokémon B")
    parser.add_argument("--level-a", default="50")
    parser.add_argument("--level-b", default="50")
    parser.add_argument("--moves-a", help="comma-separated moves (default: best 4 of the learnset)")
    parser.add_argument("--moves-b")
    parser.add_argument("--simulate", type=int, default=0, help="also simulate N battles")
    args = parser.parse_args(argv)
    model = PredictionModel(Settings.from_env())
    prediction = model.predict_winner(
        args.a,
        args.b,
        level_a=battle.check_level(args.level_a, "a"),
        level_b=battle.check_level(args.level_b, "b"),
        moves_a=_split_moves(args.moves_a),
        moves_b=_split_moves(args.moves_b),
        simulate=args.simulate,
    )
    # The log lines go to stderr, which holds only the error line when there is one: the answer
    # itself says why local files served.
    return {
        **prediction.to_dict(),
        "fallback_reason": model.fallback_reason,
        "last_error": model.last_error,
    }


def _export_main(argv: list[str]) -> dict:
    parser = _Parser(
        prog="python -m core.predict export",
        description="Write the local fallback model (models/) from the registry.",
    )
    parser.add_argument("--version", default=None, help="version to export (default: the stage's)")
    args = parser.parse_args(argv)
    return export_local_model(args.version, Settings.from_env())


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m core.predict --a NAME --b NAME ...` or `python -m core.predict export`."""
    from core.config import setup_logging

    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging(logging.ERROR)
    try:
        if argv[:1] == ["export"]:
            result = _export_main(argv[1:])
        else:
            result = _predict_main(argv)
    except (
        PokedexError,
        RegistryError,
        UntrustedModelError,
        LocalModelError,
        ConfigError,
        RegistryUnavailable,
        OSError,
    ) as error:
        print(f"error: {_one_line(error, 2000)}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
