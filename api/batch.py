"""Many matchups in one call: each row checked alone, the valid ones predicted together.

core has no batch entry point for requests yet, so this lives in the API for now. It does what
`PredictionModel.predict_winner` does for one row (same name resolution, same default movesets,
same features, same model), vectorised over the rows: one model version answers the whole batch,
and 10,000 rows cost one feature build and one `predict_proba` instead of 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from api.errors import error_body, field_problems
from api.schemas import ErrorBody, MatchupRequest
from core import battle, features
from core.errors import PredictionDexError
from core.pokedex import STRUGGLE_ID, Pokedex, load_pokedex
from core.predict import PredictionModel


@dataclass(frozen=True)
class _Row:
    """One valid row as roster and move indices (moves None = the default moveset)."""

    index: int
    a: int
    b: int
    level_a: int
    level_b: int
    moves_a: list[int] | None
    moves_b: list[int] | None


def _resolve_row(dex: Pokedex, index: int, request: MatchupRequest) -> _Row:
    """Names and moves to indices; PokedexError (with suggestions) when one does not exist."""
    pokemon_a = dex.resolve_pokemon(request.pokemon_a)
    pokemon_b = dex.resolve_pokemon(request.pokemon_b)
    level_a = battle.check_level(request.level_a, "a")
    level_b = battle.check_level(request.level_b, "b")
    moves_a = dex.resolve_moveset(pokemon_a, request.moves_a)
    moves_b = dex.resolve_moveset(pokemon_b, request.moves_b)
    return _Row(
        index=index,
        a=dex.pokemon_index[pokemon_a.id],
        b=dex.pokemon_index[pokemon_b.id],
        level_a=level_a,
        level_b=level_b,
        moves_a=None if moves_a is None else [dex.move_index[m] for m in moves_a],
        moves_b=None if moves_b is None else [dex.move_index[m] for m in moves_b],
    )


def _parse_rows(dex: Pokedex, rows: list[Any]) -> tuple[list[_Row], dict[int, dict]]:
    """The valid rows, and an error body for each invalid one (by index)."""
    valid: list[_Row] = []
    errors: dict[int, dict] = {}
    for index, row in enumerate(rows):
        try:
            request = MatchupRequest.model_validate(row)
            valid.append(_resolve_row(dex, index, request))
        except ValidationError as error:
            problems = field_problems(error.errors(include_url=False, include_input=False))
            errors[index] = ErrorBody(
                kind="validation",
                message=f"row {index} is invalid: " + ", ".join(p.field for p in problems[:5]),
                hint="Fix the fields listed; the other rows were answered.",
                fields=problems,
            ).model_dump()
        except PredictionDexError as error:
            errors[index] = error_body(error).model_dump()
    return valid, errors


def _moves_matrix(
    dex: Pokedex, given: list[list[int] | None], attacker, defender, level_att, level_def
) -> np.ndarray:
    """(n, 4) move indices: the given moves, else the default moveset (Struggle when empty)."""
    moves = np.full((len(given), battle.MAX_MOVES), -1, dtype=np.int32)
    default = np.array([m is None for m in given], dtype=bool)
    for row, chosen in enumerate(given):
        if chosen is not None:
            moves[row, : len(chosen)] = chosen[: battle.MAX_MOVES]
    if default.any():
        moves[default] = battle.default_moves_indices(
            dex, attacker[default], defender[default], level_att[default], level_def[default]
        )
    # default_moveset() answers Struggle for a side with no damaging move; so does the batch.
    moves[(moves < 0).all(axis=1), 0] = dex.move_index[STRUGGLE_ID]
    return moves


def _probabilities(dex: Pokedex, bundle, rows: list[_Row]) -> tuple[np.ndarray, ...]:
    """P(A wins) per valid row, with the move matrices used."""
    a = np.array([r.a for r in rows], dtype=np.int32)
    b = np.array([r.b for r in rows], dtype=np.int32)
    level_a = np.array([r.level_a for r in rows], dtype=np.int32)
    level_b = np.array([r.level_b for r in rows], dtype=np.int32)
    moves_a = _moves_matrix(dex, [r.moves_a for r in rows], a, b, level_a, level_b)
    moves_b = _moves_matrix(dex, [r.moves_b for r in rows], b, a, level_b, level_a)
    no_random = np.zeros(len(rows), dtype=bool)
    arrays = battle.BattleArrays(
        a=a,
        b=b,
        level_a=level_a,
        level_b=level_b,
        moves_a=moves_a,
        moves_b=moves_b,
        random_a=no_random,
        random_b=no_random,
    )
    X = features.build_features(arrays, dex)
    return np.asarray(bundle.predict_proba(X), dtype=np.float64), moves_a, moves_b


def predict_rows(model: PredictionModel, rows: list[Any]) -> dict[str, Any]:
    """One answer per row, in order: {index, ok, prediction | error}, plus the serving model.

    Raises:
        PredictionDexError: no model can serve (the whole batch gets 503).
    """
    served = model.get_model()
    dex = load_pokedex(served.roster)
    valid, errors = _parse_rows(dex, rows)
    who = {
        "model_name": served.model_name,
        "model_version": served.model_version,
        "source": served.source,
        "model_type": served.model_type,
    }
    answers: dict[int, dict] = {}
    if valid:
        p_a_wins, moves_a, moves_b = _probabilities(dex, served.bundle, valid)
        ids, names = dex.pokemon_ids, dex.pokemon
        for position, row in enumerate(valid):
            p = float(p_a_wins[position])
            id_a, id_b = ids[row.a], ids[row.b]
            winner = id_a if p >= 0.5 else id_b
            answers[row.index] = {
                "pokemon_a": id_a,
                "pokemon_b": id_b,
                "name_a": names[id_a].name,
                "name_b": names[id_b].name,
                "winner": names[winner].name,
                "winner_id": winner,
                "p_a_wins": p,
                "level_a": row.level_a,
                "level_b": row.level_b,
                "moves_a": [dex.move_ids[m] for m in moves_a[position] if m >= 0],
                "moves_b": [dex.move_ids[m] for m in moves_b[position] if m >= 0],
                **who,
            }
    results = [
        {"index": i, "ok": True, "prediction": answers[i], "error": None}
        if i in answers
        else {"index": i, "ok": False, "prediction": None, "error": errors[i]}
        for i in range(len(rows))
    ]
    return {
        **who,
        "count": len(rows),
        "succeeded": len(answers),
        "failed": len(errors),
        "results": results,
    }
