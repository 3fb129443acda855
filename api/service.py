"""What the endpoints do, over one PredictionModel (the dashboard's serving code, unchanged).

The model is loaded in a background thread when the app starts, so /health answers at once and
/ready says 503 "loading" until a model serves. A fresh process serves the local fallback first
(source "local", fallback reason "starting") while the registry's version loads, then switches.
After that, every request goes through `PredictionModel.get_model()`, which re-checks the
registry alias after the TTL: a promotion or rollback anywhere is served without a restart, and
the local fallback answers when the registry is away.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from api import batch
from api.model_info import MeasuredOn, public_metrics
from core.errors import PredictionDexError
from core.pokedex import PokedexError, load_pokedex
from core.predict import PredictionModel, ServedModel
from core.predict.policy import load_local_first

logger = logging.getLogger(__name__)

_PREDICTION_FIELDS = (
    "pokemon_a",
    "pokemon_b",
    "name_a",
    "name_b",
    "winner",
    "winner_id",
    "p_a_wins",
    "level_a",
    "level_b",
    "moves_a",
    "moves_b",
    "model_name",
    "model_version",
    "source",
    "model_type",
)


def _takes_explain() -> bool:
    """True when core's predict_winner computes contributions only when asked (explain=)."""
    return "explain" in inspect.signature(PredictionModel.predict_winner).parameters


def served_fields(served: ServedModel | None) -> dict[str, Any]:
    """model_name, model_version, source and model_type of a served model (None before one)."""
    return {
        "model_name": served.model_name if served else None,
        "model_version": served.model_version if served else None,
        "source": served.source if served else None,
        "model_type": served.model_type if served else None,
    }


def _number(value: Any) -> float | int | None:
    """A metric as a JSON number (NaN and non-numbers become None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value


class PredictionService:
    """The API's one PredictionModel, its start-up load and the answers of each endpoint."""

    def __init__(self, model: PredictionModel) -> None:
        self.model = model
        self._explain_arg = _takes_explain()
        self._loading = threading.Lock()
        self._loader: threading.Thread | None = None
        self.load_error: str | None = None
        self._measured_on = MeasuredOn(model.settings)

    # --- start-up and readiness -----------------------------------------------------------------

    def start_loading(self) -> None:
        """Load the model in a daemon thread (no-op while one is loading or a model serves)."""
        with self._loading:
            busy = self._loader is not None and self._loader.is_alive()
            if busy or self.model.served is not None:
                return
            self._loader = threading.Thread(
                target=self._load, name="predictiondex-api-load", daemon=True
            )
            self._loader.start()

    def _load(self) -> None:
        try:
            # models/ answers first (no mlflow import), then the registry's version takes over.
            served = load_local_first(self.model)
        except PredictionDexError as error:
            self.load_error = error.full_text()
            logger.error("no model to serve yet: %s", self.load_error)
        except Exception as error:  # noqa: BLE001 - reported by /ready, retried on the next call
            self.load_error = f"{type(error).__name__}: {error}"
            logger.exception("loading the model failed")
        else:
            self.load_error = None
            logger.info("serving %s", served.describe())

    def readiness(self) -> dict[str, Any]:
        """{ready, reason, model_version, source}; starts a new load attempt when none serves."""
        served = self.model.served
        if served is not None:
            return {"ready": True, "reason": None, **_who(served)}
        self.start_loading()
        reason = self.load_error or "loading the model"
        return {"ready": False, "reason": reason, "model_version": None, "source": None}

    # --- answers --------------------------------------------------------------------------------

    def predict(self, request: Any) -> dict[str, Any]:
        """One matchup (a PredictRequest): the prediction as JSON-ready data."""
        arguments = {
            "level_a": request.level_a,
            "level_b": request.level_b,
            "moves_a": request.moves_a,
            "moves_b": request.moves_b,
        }
        if self._explain_arg:
            arguments["explain"] = request.explain
        prediction = self.model.predict_winner(request.pokemon_a, request.pokemon_b, **arguments)
        # Field by field, not Prediction.to_dict(): dataclasses.asdict deep-copies every value,
        # a measurable share of the fast path's budget; the moves are fresh lists already.
        answer = {name: getattr(prediction, name) for name in _PREDICTION_FIELDS}
        answer["contributions"] = (
            [asdict(item) for item in prediction.contributions] if request.explain else None
        )
        return answer

    def predict_batch(self, rows: list[Any]) -> dict[str, Any]:
        """Many matchups, one answer per row (see api.batch.predict_rows)."""
        return batch.predict_rows(self.model, rows)

    def matrix(self, names: list[str], level: int) -> dict[str, Any]:
        """All-pairs P(row wins) for the given Pokémon at one level (default movesets)."""
        served = self.model.get_model()
        frame = self.model.predict_matrix(names, level)
        if len(frame) < 2:  # 'Pikachu,pikachu' is one Pokémon: no pair to predict
            raise PokedexError(
                f"{len(names)} names but {len(frame)} distinct Pokémon: a matrix needs at least "
                "two different ones.",
                hint="List 2..40 different Pokémon in ?pokemon=.",
            ).about("pokemon")
        dex = load_pokedex(served.roster)
        ids = [str(pid) for pid in frame.index]
        values = frame.to_numpy()
        table = [[None if math.isnan(v) else float(v) for v in row] for row in values]
        return {
            **served_fields(served),
            "level": level,
            "pokemon": ids,
            "names": [dex.get(pid).name for pid in ids],
            "p_row_wins": table,
        }

    def model_info(self) -> dict[str, Any]:
        """The model serving now (after the TTL check), with its training metrics (one name
        each, api.model_info) and what they were measured on."""
        served = self.model.get_model()
        metrics = public_metrics(served.bundle.metadata.get("metrics") or {})
        return {
            **served_fields(served),
            "label": served.label,  # a local model is never named by the stage it stands in for
            "stage": self.model.settings.model_stage,
            "loaded_at": datetime.fromtimestamp(served.loaded_at, UTC).isoformat(),
            "fallback_reason": self.model.fallback_reason,
            "registry_ttl_seconds": self.model.settings.registry_ttl_seconds,
            "metrics": {str(k): _number(v) for k, v in metrics.items()},
            "measured_on": self._measured_on.of(served),
        }


def _who(served: ServedModel) -> dict[str, Any]:
    return {"model_version": served.model_version, "source": served.source}
