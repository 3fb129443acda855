"""Many matchups at once: each row checked alone, the valid ones predicted together.

`predict_batch` does what `predict_winner` does for one row (same name resolution, same default
movesets, same features, same scoring function `answers.score_configurations`), vectorised over
the rows: one model version answers the whole batch, and 10,000 rows cost one feature build and
one scoring call (over the distinct configurations) instead of 10,000. A row that cannot be
resolved (unknown name, bad level, unlearnable move) is reported with its reason; the others are
still answered. The CSV side (upload and download) is `core.predict.batch_csv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core import battle
from core.errors import PredictionDexError
from core.pokedex import STRUGGLE_ID, Pokedex, PokedexError, load_pokedex
from core.predict.answers import EVEN, score_configurations
from core.predict.sources import ServedModel, Source

if TYPE_CHECKING:
    import pandas as pd

MAX_BATCH_ROWS = 10_000

ANSWER_COLUMNS = [
    "row",
    "pokemon_a",
    "pokemon_b",
    "name_a",
    "name_b",
    "level_a",
    "level_b",
    "moves_a",
    "moves_b",
    "p_a_wins",
    "winner_id",
    "winner",
]


class BatchTooLargeError(PredictionDexError):
    """A batch over MAX_BATCH_ROWS rows."""

    def __init__(self, rows: int) -> None:
        super().__init__(
            f"The batch has {rows:,} rows; at most {MAX_BATCH_ROWS:,} are answered at once.",
            hint=f"Split it into batches of {MAX_BATCH_ROWS:,} rows or fewer.",
        )


@dataclass(frozen=True)
class MatchupInput:
    """One requested matchup as given (not yet checked): names, levels, moves (None = default).

    `row` is the caller's own number for it (a CSV line, a request index), echoed in answers.
    """

    row: int
    pokemon_a: object
    pokemon_b: object
    level_a: object = 50
    level_b: object = 50
    moves_a: Sequence[str] | str | None = None
    moves_b: Sequence[str] | str | None = None


@dataclass(frozen=True)
class RowError:
    """Why one row was not answered: `row` (the caller's number), `message`, `hint`, `error`."""

    row: int
    message: str
    hint: str
    error: PredictionDexError


@dataclass(frozen=True)
class BatchResult:
    """Answers for the valid rows and the reasons for the invalid ones, from one model version.

    Fields: `answers` (a DataFrame with ANSWER_COLUMNS, one line per valid row in input order:
    ids, names, levels, `moves_a`/`moves_b` as lists of move ids, `p_a_wins` in [0, 1], the
    predicted winner), `errors` (RowError per invalid row, in input order), `count` (rows given)
    and the serving model's `model_name`, `model_version`, `source`, `model_type`.
    """

    answers: pd.DataFrame
    errors: tuple[RowError, ...]
    count: int
    model_name: str | None
    model_version: str | None
    source: Source
    model_type: str

    @property
    def succeeded(self) -> int:
        """Number of rows answered."""
        return len(self.answers)

    @property
    def failed(self) -> int:
        """Number of rows refused."""
        return len(self.errors)


@dataclass(frozen=True)
class _Resolved:
    """One valid row as roster and move indices (moves None = the default moveset)."""

    row: int
    a: int
    b: int
    level_a: int
    level_b: int
    moves_a: list[int] | None
    moves_b: list[int] | None


class _Memo:
    """Per-batch answers of the pokedex's lookups: a 10,000-row batch names few distinct things.

    Each lookup (a name, a level, a moveset) is resolved once per batch; a refusal is kept and
    raised again for every row that repeats it.
    """

    def __init__(self, dex: Pokedex) -> None:
        self.dex = dex
        self._seen: dict[tuple, object] = {}

    def _memo(self, key: tuple, resolve):
        # The value's type is part of the key: True == 1 and 50 == 50.0 must not share an answer.
        key = (*key, type(key[-1]))
        try:
            hash(key)
        except TypeError:  # an odd, unhashable value: resolved without the memo
            return resolve()
        if key not in self._seen:
            try:
                self._seen[key] = resolve()
            except PredictionDexError as error:
                self._seen[key] = error
        found = self._seen[key]
        if isinstance(found, PredictionDexError):
            raise found
        return found

    def row(self, given: MatchupInput) -> _Resolved:
        """Names, levels and moves to indices; PokedexError (with suggestions) when one is wrong.

        The error names the input it is about (`field`: pokemon_a, level_b, moves_a, ...); the
        memo's keys start with that field, so a refusal cached for one side never names the other.
        """
        dex = self.dex
        pokemon_a = self._once("pokemon_a", given.pokemon_a, dex.resolve_pokemon)
        pokemon_b = self._once("pokemon_b", given.pokemon_b, dex.resolve_pokemon)
        level_a = self._once("level_a", given.level_a, lambda level: battle.check_level(level, "a"))
        level_b = self._once("level_b", given.level_b, lambda level: battle.check_level(level, "b"))
        return _Resolved(
            row=given.row,
            a=dex.pokemon_index[pokemon_a.id],
            b=dex.pokemon_index[pokemon_b.id],
            level_a=level_a,
            level_b=level_b,
            moves_a=self._moveset("moves_a", pokemon_a, given.moves_a),
            moves_b=self._moveset("moves_b", pokemon_b, given.moves_b),
        )

    def _once(self, field: str, value: object, resolve, *context: object):
        """resolve(value), once per (field, context, value); its PokedexError names `field`."""

        def named():
            try:
                return resolve(value)
            except PokedexError as error:
                raise error.about(field) from None

        return self._memo((field, *context, value), named)

    def _moveset(self, field: str, pokemon, moves: Sequence[str] | str | None) -> list[int] | None:
        if moves is None:
            return None
        listed = moves if isinstance(moves, str) else tuple(moves)

        def resolve(names: tuple[str, ...] | str) -> list[int] | None:
            chosen = self.dex.resolve_moveset(
                pokemon, names if isinstance(names, str) else [*names]
            )
            return None if chosen is None else [self.dex.move_index[m] for m in chosen]

        return self._once(field, listed, resolve, pokemon.id)


def resolve_rows(
    dex: Pokedex, rows: Sequence[MatchupInput]
) -> tuple[list[_Resolved], list[RowError]]:
    """The valid rows resolved, and a RowError for each invalid one (both in input order)."""
    memo = _Memo(dex)
    valid: list[_Resolved] = []
    errors: list[RowError] = []
    for given in rows:
        try:
            valid.append(memo.row(given))
        except PredictionDexError as error:
            errors.append(RowError(given.row, error.message, error.hint, error))
    return valid, errors


def _moves_matrix(
    dex: Pokedex,
    given: list[list[int] | None],
    attacker: np.ndarray,
    defender: np.ndarray,
    level_attacker: np.ndarray,
    level_defender: np.ndarray,
) -> np.ndarray:
    """(n, 4) move indices: the given moves, else the default moveset (Struggle when empty)."""
    moves = np.full((len(given), battle.MAX_MOVES), -1, dtype=np.int32)
    default = np.array([m is None for m in given], dtype=bool)
    for position, chosen in enumerate(given):
        if chosen is not None:
            moves[position, : len(chosen)] = chosen[: battle.MAX_MOVES]
    if default.any():
        moves[default] = battle.default_moves_indices(
            dex,
            attacker[default],
            defender[default],
            level_attacker[default],
            level_defender[default],
        )
    # default_moveset() answers Struggle for a side with no damaging move; so does the batch.
    moves[(moves < 0).all(axis=1), 0] = dex.move_index[STRUGGLE_ID]
    return moves


def batch_arrays(dex: Pokedex, rows: Sequence[_Resolved]) -> battle.BattleArrays:
    """Simulator arrays (policy "best") for resolved rows, default movesets vectorised."""
    a = np.array([r.a for r in rows], dtype=np.int32)
    b = np.array([r.b for r in rows], dtype=np.int32)
    level_a = np.array([r.level_a for r in rows], dtype=np.int32)
    level_b = np.array([r.level_b for r in rows], dtype=np.int32)
    no_random = np.zeros(len(rows), dtype=bool)
    return battle.BattleArrays(
        a=a,
        b=b,
        level_a=level_a,
        level_b=level_b,
        moves_a=_moves_matrix(dex, [r.moves_a for r in rows], a, b, level_a, level_b),
        moves_b=_moves_matrix(dex, [r.moves_b for r in rows], b, a, level_b, level_a),
        random_a=no_random,
        random_b=no_random,
    )


def _distinct(arrays: battle.BattleArrays) -> tuple[battle.BattleArrays, np.ndarray]:
    """The distinct configurations among `arrays` and, per row, the index of its configuration."""
    key = np.column_stack(
        [arrays.a, arrays.b, arrays.level_a, arrays.level_b, arrays.moves_a, arrays.moves_b]
    )
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    distinct = battle.BattleArrays(
        a=arrays.a[first],
        b=arrays.b[first],
        level_a=arrays.level_a[first],
        level_b=arrays.level_b[first],
        moves_a=arrays.moves_a[first],
        moves_b=arrays.moves_b[first],
        random_a=arrays.random_a[first],
        random_b=arrays.random_b[first],
    )
    return distinct, inverse.reshape(-1)


def _answer_table(
    dex: Pokedex, rows: list[_Resolved], arrays: battle.BattleArrays, p_a_wins: np.ndarray
) -> pd.DataFrame:
    """The answers as a DataFrame with ANSWER_COLUMNS (names from the roster, never the input)."""
    import pandas as pd

    ids = np.array(dex.pokemon_ids, dtype=object)
    names = np.array([dex.pokemon[pid].name for pid in dex.pokemon_ids], dtype=object)
    move_ids = dex.move_ids
    winner = np.where(p_a_wins > 0.5, arrays.a, arrays.b)
    even = np.asarray(p_a_wins) == 0.5  # a mirror: nobody is named (as predict_winner)
    return pd.DataFrame(
        {
            "row": np.array([r.row for r in rows], dtype=np.int64),
            "pokemon_a": ids[arrays.a],
            "pokemon_b": ids[arrays.b],
            "name_a": names[arrays.a],
            "name_b": names[arrays.b],
            "level_a": arrays.level_a.astype(np.int64),
            "level_b": arrays.level_b.astype(np.int64),
            "moves_a": [[move_ids[m] for m in line if m >= 0] for line in arrays.moves_a.tolist()],
            "moves_b": [[move_ids[m] for m in line if m >= 0] for line in arrays.moves_b.tolist()],
            "p_a_wins": np.asarray(p_a_wins, dtype=np.float64),
            # object, not str: pandas' string dtype would turn the mirror's None into NaN.
            "winner_id": pd.Series(np.where(even, None, ids[winner]), dtype=object),
            "winner": np.where(even, EVEN, names[winner]),
        },
        columns=ANSWER_COLUMNS,
    )


def predict_batch(served: ServedModel, rows: Sequence[MatchupInput]) -> BatchResult:
    """P(A wins) for every valid row with one model version; the invalid rows with their reason.

    Raises:
        BatchTooLargeError: more than MAX_BATCH_ROWS rows (split the batch).
    """
    import pandas as pd

    if len(rows) > MAX_BATCH_ROWS:
        raise BatchTooLargeError(len(rows))
    dex = load_pokedex(served.roster)
    valid, errors = resolve_rows(dex, rows)
    if valid:
        arrays = batch_arrays(dex, valid)
        distinct, inverse = _distinct(arrays)
        p_a_wins = np.asarray(score_configurations(served, dex, distinct), dtype=np.float64)
        answers = _answer_table(dex, valid, arrays, p_a_wins[inverse])
    else:
        answers = pd.DataFrame({name: [] for name in ANSWER_COLUMNS}, columns=ANSWER_COLUMNS)
    return BatchResult(
        answers=answers,
        errors=tuple(errors),
        count=len(rows),
        model_name=served.model_name,
        model_version=served.model_version,
        source=served.source,
        model_type=served.model_type,
    )
