"""POST /predict/batch: each row validated here (pydantic), answered by core's one batch.

The prediction itself is `core.predict.batch.predict_batch`, shared with the dashboard and
`python -m core.predict batch`: the same name resolution, default movesets, features and scoring
as /predict, vectorised over the rows, one model version for the whole batch.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.errors import error_body, field_problems, shown
from api.schemas import ErrorBody, MatchupRequest
from core.predict import PredictionModel
from core.predict.batch import MatchupInput, predict_batch

GIVEN_FIELDS = tuple(MatchupRequest.model_fields)  # pokemon_a, pokemon_b, level_a, ...
LARGEST_ECHOED_NUMBER = 10**15


def _echoed(value: Any, depth: int = 0) -> Any:
    """A value as sent, safe to echo: text printable and cut short (api.errors.shown), numbers
    and booleans as they are (a huge one as text), lists one level deep."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and abs(value) < LARGEST_ECHOED_NUMBER:
        return value
    if isinstance(value, list) and depth == 0:
        return [_echoed(item, 1) for item in value[:8]]
    return shown(value)


def given_fields(row: Any) -> dict[str, Any] | None:
    """A refused row's matchup fields as sent (others left out), safe to echo; None when the
    row is not a JSON object."""
    if not isinstance(row, dict):
        return None
    return {name: _echoed(row[name]) for name in GIVEN_FIELDS if name in row}


def _parse_rows(rows: list[Any]) -> tuple[list[MatchupInput], dict[int, dict]]:
    """The rows that pass the request schema, and an error body for each that does not."""
    valid: list[MatchupInput] = []
    errors: dict[int, dict] = {}
    for index, row in enumerate(rows):
        try:
            request = MatchupRequest.model_validate(row)
        except ValidationError as error:
            problems = field_problems(error.errors(include_url=False, include_input=False))
            errors[index] = ErrorBody(
                kind="validation",
                message=f"row {index} is invalid: " + ", ".join(p.field for p in problems[:5]),
                hint="Fix the fields listed; the other rows were answered.",
                fields=problems,
            ).model_dump()
            continue
        valid.append(
            MatchupInput(
                row=index,
                pokemon_a=request.pokemon_a,
                pokemon_b=request.pokemon_b,
                level_a=request.level_a,
                level_b=request.level_b,
                moves_a=request.moves_a,
                moves_b=request.moves_b,
            )
        )
    return valid, errors


def predict_rows(model: PredictionModel, rows: list[Any]) -> dict[str, Any]:
    """One answer per row, in order: {index, ok, prediction | error and given}, plus the serving
    model. A refused row's error names its field(s); `given` echoes its fields as sent.

    Raises:
        PredictionDexError: no model can serve (the whole batch gets 503).
    """
    valid, errors = _parse_rows(rows)
    result = predict_batch(model.get_model(), valid)
    who = {
        "model_name": result.model_name,
        "model_version": result.model_version,
        "source": result.source,
        "model_type": result.model_type,
    }
    for refused in result.errors:
        errors[refused.row] = error_body(refused.error).model_dump()
    answers = {
        int(answer["row"]): {key: value for key, value in answer.items() if key != "row"} | who
        for answer in result.answers.to_dict("records")
    }
    results = [
        {"index": i, "ok": True, "prediction": answers[i], "error": None, "given": None}
        if i in answers
        else {
            "index": i,
            "ok": False,
            "prediction": None,
            "error": errors[i],
            "given": given_fields(rows[i]),
        }
        for i in range(len(rows))
    ]
    return {
        **who,
        "count": len(rows),
        "succeeded": len(answers),
        "failed": len(errors),
        "results": results,
    }
