"""Refusals as JSON: the error kinds, their HTTP status, and messages that echo nothing raw.

Pydantic's own error entries carry the rejected input; they are rebuilt here as (field, problem,
what to do) with the input left out, and a field name (which a client chooses for unexpected
keys) is reduced to printable characters and cut short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from api.schemas import ErrorBody, FieldProblem
from core.artifacts import UntrustedModelError
from core.errors import PredictionDexError
from core.pokedex import PokedexError
from core.registry import NoModelError, RegistryError

MAX_SHOWN_CHARS = 60
DOCS_HINT = "See /docs for the request format."

# What to do, by pydantic error type (the rest get a generic sentence).
_WHAT_TO_DO = {
    "missing": "add this field",
    "extra_forbidden": "remove this field (it is not part of the request)",
    "string_type": "send a string",
    "string_too_short": "send a non-empty string",
    "string_too_long": "send at most {max_length} characters",
    "int_type": "send a whole number",
    "int_parsing": "send a whole number",
    "int_from_float": "send a whole number",
    "greater_than_equal": "send a number >= {ge}",
    "less_than_equal": "send a number <= {le}",
    "bool_type": "send true or false",
    "bool_parsing": "send true or false",
    "list_type": "send a JSON array",
    "too_short": "send at least {min_length} item(s)",
    "too_long": "send at most {max_length} items",
    "dict_type": "send a JSON object",
    "model_attributes_type": "send a JSON object",
    "json_invalid": "send valid JSON with Content-Type: application/json",
    "json_type": "send valid JSON with Content-Type: application/json",
}


def shown(text: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """Text made safe to echo: printable characters only, at most `limit` of them."""
    value = "".join(ch if ch.isprintable() else "?" for ch in str(text)[: limit + 1])
    return value if len(value) <= limit else value[: limit - 1] + "…"


def field_problems(errors: Sequence[dict[str, Any]], skip: Iterable[str] = ("body",)) -> list:
    """FieldProblem entries for pydantic errors, without the rejected input."""
    skipped = set(skip)
    problems: list[FieldProblem] = []
    for error in list(errors)[:20]:
        parts = [shown(part, 40) for part in error.get("loc", ()) if part not in skipped]
        if error.get("type") == "json_invalid":
            parts = []  # its location is a character offset in the body, not a field
        context = {key: shown(value, 20) for key, value in (error.get("ctx") or {}).items()}
        advice = _WHAT_TO_DO.get(str(error.get("type")), "fix this field")
        try:
            advice = advice.format(**context)
        except (KeyError, IndexError):
            advice = advice.split("{")[0].strip() or "fix this field"
        message = str(error.get("msg", "invalid value"))
        if error.get("type") in ("value_error", "assertion_error"):
            message = "invalid value"  # custom messages may quote the input
        problems.append(
            FieldProblem(
                field=".".join(parts) or "body",
                problem=shown(message, 120),
                what_to_do=f"{advice}. {DOCS_HINT}",
            )
        )
    return problems


def validation_body(errors: Sequence[dict[str, Any]]) -> ErrorBody:
    """The 422 body of a request that failed validation."""
    problems = field_problems(errors)
    names = ", ".join(p.field for p in problems[:5])
    if any(error.get("type") == "json_invalid" for error in errors):
        names = "the body is not valid JSON"
    return ErrorBody(
        kind="validation",
        message=f"invalid request: {names}",
        hint="Fix the fields listed and send the request again. " + DOCS_HINT,
        fields=problems,
    )


def status_of(error: PredictionDexError) -> int:
    """HTTP status of a project error: 422 for a matchup that cannot be, else 503.

    Bad input reaches core only as a PokedexError (names, moves, levels); any other project
    error means no model can serve right now (none registered, refused, registry down).
    """
    return 422 if isinstance(error, PokedexError) else 503


def kind_of(error: PredictionDexError) -> str:
    """A stable word for the error's class, for clients to branch on."""
    if isinstance(error, PokedexError):
        return "invalid_matchup"
    if isinstance(error, NoModelError):
        return "no_model"
    if isinstance(error, UntrustedModelError):
        return "model_refused"
    if isinstance(error, RegistryError):
        return "registry_unavailable"
    return "model_unavailable"


MATCHUP_HINT = "Fix the field named and send the request again; GET /docs lists the fields."


def error_body(error: PredictionDexError) -> ErrorBody:
    """The body of a refused request or batch row, from a project error. A matchup that cannot
    be (unknown name or move, bad level) names its field, with the suggestions in `problem`."""
    message = shown(error.message, 1500)
    if not isinstance(error, PokedexError):
        return ErrorBody(kind=kind_of(error), message=message, hint=error.hint)
    hint = error.hint or MATCHUP_HINT
    fields = []
    if error.field is not None:
        fields = [
            FieldProblem(field=error.field, problem=shown(error.message, 400), what_to_do=hint)
        ]
    return ErrorBody(kind="invalid_matchup", message=message, hint=hint, fields=fields)
