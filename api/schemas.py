"""The API's request and response bodies (pydantic): validated once, at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.settings import MAX_BATCH_ROWS, MAX_MOVES, MAX_NAME_CHARS
from core.pokedex import MAX_LEVEL, MIN_LEVEL

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
# Strict: JSON `true` or 50.5 is refused, not served at level 1 or 50.
Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL, strict=True, description="1..100")]
Moves = Annotated[
    list[Name] | None,
    Field(max_length=MAX_MOVES, description="up to 4 damaging moves; omitted = the best 4"),
]
Source = Literal["registry", "local"]


class MatchupRequest(BaseModel):
    """One battle to predict: two Pokémon, their levels and (optionally) their moves."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"pokemon_a": "Pikachu", "pokemon_b": "Onix"}]},
    )

    pokemon_a: Name = Field(description="Pokémon A, forgiving: 'Mr. Mime', 'mr-mime'")
    pokemon_b: Name = Field(description="Pokémon B")
    level_a: Level = 50
    level_b: Level = 50
    moves_a: Moves = None
    moves_b: Moves = None


class PredictRequest(MatchupRequest):
    """A matchup, plus whether to explain the answer (costs a few milliseconds more)."""

    explain: bool = Field(False, strict=True)


class BatchRequest(BaseModel):
    """Up to 10,000 matchups; each row is checked on its own, so one bad row fails alone."""

    model_config = ConfigDict(extra="forbid")

    rows: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ROWS,
        description="objects with the fields of POST /predict (without explain)",
    )


class Served(BaseModel):
    """Which model answered: present in every answer (and as X-Model-* headers)."""

    model_name: str | None
    model_version: str | None
    source: Source
    model_type: str


class Contribution(BaseModel):
    """How much one feature pushed the prediction (log-odds for XGBoost)."""

    model_config = ConfigDict(extra="allow")

    feature: str
    value: float
    contribution: float


class PredictResponse(Served):
    """Who wins, how sure, with what, and (when asked) why."""

    pokemon_a: str
    pokemon_b: str
    name_a: str
    name_b: str
    winner: str = Field(
        description='the favoured Pokémon\'s name; "even" when p_a_wins is exactly 0.5'
    )
    winner_id: str | None = Field(description="its Showdown id; null when even")
    p_a_wins: float = Field(description="P(A wins), 0..1")
    level_a: int
    level_b: int
    moves_a: list[str]
    moves_b: list[str]
    contributions: list[Contribution] | None = Field(
        default=None, description="only with explain=true"
    )


class FieldProblem(BaseModel):
    """One invalid field and what to do about it."""

    field: str
    problem: str
    what_to_do: str


class ErrorBody(BaseModel):
    """Why a request (or one batch row) was refused, and what to do."""

    kind: str
    message: str
    hint: str = ""
    fields: list[FieldProblem] = []


class BatchRow(BaseModel):
    """One batch row's answer: a prediction, or its error (naming its fields) and what was sent."""

    index: int
    ok: bool
    prediction: PredictResponse | None = None
    error: ErrorBody | None = None
    given: dict[str, Any] | None = Field(
        default=None,
        description="a refused row's matchup fields as sent (text made printable and cut to 60 "
        "characters); null for an answered row or a row that is not an object",
    )


class BatchResponse(Served):
    """One answer per row, in order; all rows answered by the same model version."""

    count: int
    succeeded: int
    failed: int
    results: list[BatchRow]


class MatrixResponse(Served):
    """P(row Pokémon beats column Pokémon) with default movesets; null on the diagonal."""

    level: int
    pokemon: list[str]
    names: list[str]
    p_row_wins: list[list[float | None]]


class ModelResponse(Served):
    """The model serving now, the metrics recorded when it was trained (one name per figure,
    as MLflow logs them) and what they were measured on."""

    label: str = Field(
        description="'v3' (the registry's stage holder), 'v3 (local fallback)' (models/, named by "
        "the version it recorded) or 'unversioned local model'"
    )
    stage: str
    loaded_at: str
    fallback_reason: str | None
    registry_ttl_seconds: float
    metrics: dict[str, float | int | None] = Field(
        description="training's metrics by their MLflow names (test_accuracy, test_f1, "
        "test_log_loss, excess_error, matchup_mae, ...); README › The prediction API lists them"
    )
    measured_on: dict[str, Any] | None = Field(
        default=None,
        description="what the metrics were measured on: kind ('held-out test'), battles, seed, "
        "heldout, scenario, level, and recorded_in (the version's stored evaluation report, or "
        "the model's metadata, which does not record the battle count); null without metrics",
    )


class ReadyResponse(BaseModel):
    """Whether a model is loaded (503 with the reason if not)."""

    ready: bool
    reason: str | None = None
    model_version: str | None = None
    source: Source | None = None
