"""The FastAPI application: routes, error handlers and guards, over one PredictionService.

Endpoints: GET /health, GET /ready, GET /model, POST /predict, POST /predict/batch, GET /matrix,
and the OpenAPI docs at /docs. Every answer names the model version and source that served it,
in the body and in the X-Model-Version / X-Model-Source headers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import DOCS_HINT, error_body, shown, status_of, validation_body
from api.guards import API_KEY_HEADER, OPEN_PATHS, ApiKeyGuard, BodyGuard, ModelHeaders
from api.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorBody,
    MatrixResponse,
    ModelResponse,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
)
from api.service import PredictionService
from api.settings import (
    MAX_MATRIX_POKEMON,
    MAX_NAME_CHARS,
    SOURCE_HEADER,
    VERSION_HEADER,
    ApiSettings,
)
from core.config import Settings
from core.errors import PredictionDexError
from core.pokedex import MAX_LEVEL, MIN_LEVEL
from core.predict import PredictionModel

logger = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "X-API-Key missing or wrong (when keys are set)"},
    413: {"model": ErrorBody, "description": "request body over 2 MB"},
    415: {"model": ErrorBody, "description": "the body is not JSON"},
    422: {"model": ErrorBody, "description": "invalid fields, or unknown Pokémon/moves"},
    503: {"model": ErrorBody, "description": "no model can serve right now"},
}


def _answer(data: dict[str, Any], status: int = 200) -> JSONResponse:
    """JSON with the model headers taken from the answer itself (they always agree)."""
    headers = {
        VERSION_HEADER: str(data.get("model_version") or "none"),
        SOURCE_HEADER: str(data.get("source") or "none"),
    }
    return JSONResponse(data, status_code=status, headers=headers)


def _refusal(status: int, body: ErrorBody) -> JSONResponse:
    return JSONResponse({"error": body.model_dump()}, status_code=status)


def _matrix_names(values: list[str]) -> list[str]:
    """Comma-separated and repeated ?pokemon= values as one list, checked against the limits."""
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    problems = []
    if len(names) > MAX_MATRIX_POKEMON:
        problems.append(
            {
                "loc": ("query", "pokemon"),
                "type": "too_long",
                "msg": "too many Pokémon",
                "ctx": {"max_length": MAX_MATRIX_POKEMON},
            }  # fmt: skip
        )
    if any(len(name) > MAX_NAME_CHARS for name in names):
        problems.append(
            {
                "loc": ("query", "pokemon"),
                "type": "string_too_long",
                "msg": "name too long",
                "ctx": {"max_length": MAX_NAME_CHARS},
            }  # fmt: skip
        )
    if len(names) < 2:
        problems.append(
            {
                "loc": ("query", "pokemon"),
                "type": "too_short",
                "msg": "need 2 Pokémon or more",
                "ctx": {"min_length": 2},
            }  # fmt: skip
        )
    if problems:
        raise RequestValidationError(problems)
    return names


def _add_routes(app: FastAPI, service: PredictionService) -> None:
    @app.get("/health", tags=["probes"])
    def health() -> dict[str, str]:
        """The process is alive (says nothing about the model: see /ready)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["probes"], response_model=ReadyResponse, responses={503: {}})
    def ready() -> JSONResponse:
        """200 once a model serves; 503 with the reason while none does."""
        state = service.readiness()
        return _answer(state, 200 if state["ready"] else 503)

    @app.get("/model", tags=["model"], response_model=ModelResponse, responses=ERRORS)
    def model() -> JSONResponse:
        """The model serving now: name, version, source, type, load time, training metrics."""
        return _answer(service.model_info())

    @app.post("/predict", tags=["predict"], response_model=PredictResponse, responses=ERRORS)
    def predict(request: PredictRequest) -> JSONResponse:
        """Who wins one matchup; with `explain`, the features that weighed most."""
        return _answer(service.predict(request))

    @app.post("/predict/batch", tags=["predict"], response_model=BatchResponse, responses=ERRORS)
    def predict_batch(request: BatchRequest) -> JSONResponse:
        """Up to 10,000 matchups; invalid rows get their error and index, the others an answer."""
        return _answer(service.predict_batch(request.rows))

    @app.get("/matrix", tags=["predict"], response_model=MatrixResponse, responses=ERRORS)
    def matrix(
        pokemon: Annotated[
            list[str], Query(description="2..40 names, comma-separated or repeated")
        ],
        level: Annotated[int, Query(ge=MIN_LEVEL, le=MAX_LEVEL)] = 50,
    ) -> JSONResponse:
        """P(row Pokémon beats column Pokémon) for every pair, default movesets."""
        return _answer(service.matrix(_matrix_names(pokemon), level))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _refusal(422, validation_body(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals: a body that is not parseable JSON (too deep, bad bytes), 404…
        kind, message, hint = "http_error", shown(error.detail, 200), DOCS_HINT
        if error.status_code == 400:
            kind = "invalid_json"
            message = "the request body could not be parsed as JSON (malformed or nested too deep)"
            hint = "Send a flat JSON object as described in /docs."
        body = ErrorBody(kind=kind, message=message, hint=hint)
        return _refusal(error.status_code, body)

    @app.exception_handler(PredictionDexError)
    async def refused(request: Request, error: PredictionDexError) -> JSONResponse:
        status = status_of(error)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, error.message)
        return _refusal(status, error_body(error))

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        body = ErrorBody(
            kind="internal_error",
            message="the server failed to answer this request",
            hint="Try again; if it persists, the API's log says why.",
        )
        return _refusal(500, body)


def _document_the_api_key(app: FastAPI) -> None:
    """With keys configured, the OpenAPI schema declares X-API-Key, so /docs has an Authorize
    button and its "Try it out" requests send the key (ApiKeyGuard does the checking)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["ApiKey"] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
        for path, operations in schema.get("paths", {}).items():
            if path not in OPEN_PATHS:
                for operation in operations.values():
                    operation["security"] = [{"ApiKey": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
    model: PredictionModel | None = None,
) -> FastAPI:
    """The API over `model` (default: a PredictionModel on Settings.from_env())."""
    service = PredictionService(model or PredictionModel(settings or Settings.from_env()))
    api_settings = api_settings or ApiSettings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start_loading()
        yield

    app = FastAPI(
        title="PredictionDex API",
        summary="Who wins a Pokémon battle, answered by the registry's Production model.",
        version="1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    _add_routes(app, service)
    _add_error_handlers(app)

    def current() -> tuple[str | None, str | None]:
        served = service.model.served
        return (served.model_version, served.source) if served else (None, None)

    if api_settings.api_keys:
        _document_the_api_key(app)
    # Added last = outermost: headers on every answer, then the key, then the body checks.
    app.add_middleware(BodyGuard, settings=api_settings)
    app.add_middleware(ApiKeyGuard, settings=api_settings)
    app.add_middleware(ModelHeaders, current=current)
    return app
