"""Answers: predict_winner (one matchup), predict_matrix (all pairs), contributions.

A matchup is resolved once into a frozen `battle.Matchup` (names, levels, default movesets);
its one feature row is built as a numpy array and cached, so a warm prediction costs little more
than the booster's own single-row prediction. Explanations are computed only when asked.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from core import battle, features
from core.pokedex import Pokedex, PokedexError, load_pokedex
from core.predict.sources import ServedModel, Source

if TYPE_CHECKING:
    import pandas as pd

TOP_CONTRIBUTIONS = 8
# Resolved matchups (and their feature rows) kept per process; each entry is ~1 KB.
CACHED_MATCHUPS = 4096

Moves = Sequence[str] | str | None


@dataclass(frozen=True)
class Contribution:
    """How much one feature moved a prediction.

    Fields: `feature` (a FEATURE_COLUMNS name), `value` (the feature's value in this matchup, in
    the feature's own unit) and `contribution` (its share of the model's score: log-odds for
    XGBoost, probability for a random forest; > 0 favours A).
    """

    feature: str
    value: float
    contribution: float


EVEN = "even"  # the winner of an answer that favours neither side (P(A wins) exactly ½)


@dataclass(frozen=True)
class Prediction:
    """One answer: who wins, how sure, which model said so and (when asked) why.

    Fields: `pokemon_a`/`pokemon_b` (Showdown ids), `name_a`/`name_b`, `winner_id`/`winner`
    (the side with P > ½; when P(A wins) is exactly ½, as in every mirror match, `winner` is
    EVEN and `winner_id` None: naming A would be a coin the model never flipped),
    `p_a_wins` (probability in [0, 1]), `model_version`, `source` ("registry" or "local"),
    `model_type`, `model_name`, the resolved `level_a`/`level_b` and `moves_a`/`moves_b` (move
    ids), `contributions` (largest |contribution| first; empty unless explained),
    `simulated_p_a_wins` (share of `simulated_battles` seeded battles won by A, or None).
    """

    pokemon_a: str
    pokemon_b: str
    name_a: str
    name_b: str
    winner_id: str | None
    winner: str
    p_a_wins: float
    model_version: str | None
    source: Source
    model_type: str
    model_name: str | None
    level_a: int
    level_b: int
    moves_a: list[str]
    moves_b: list[str]
    contributions: tuple[Contribution, ...] = ()
    simulated_p_a_wins: float | None = None
    simulated_battles: int = 0

    @property
    def confidence(self) -> float:
        """The probability of the predicted winner."""
        return max(self.p_a_wins, 1.0 - self.p_a_wins)

    @property
    def matchup(self) -> battle.Matchup:
        """The resolved configuration this answer is about."""
        return battle.Matchup(
            self.pokemon_a,
            self.pokemon_b,
            self.level_a,
            self.level_b,
            list(self.moves_a),
            list(self.moves_b),
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready data (contributions as a list of dicts)."""
        return asdict(self)


def matchup_arrays(dex: Pokedex, matchup: battle.Matchup) -> battle.BattleArrays:
    """The one configuration row of a resolved matchup as simulator arrays (policy "best")."""

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
        random_a=np.zeros(1, dtype=bool),
        random_b=np.zeros(1, dtype=bool),
    )


def _resolve_uncached(
    roster: str, a: str, b: str, level_a: object, level_b: object, moves_a: Moves, moves_b: Moves
) -> tuple[battle.Matchup, np.ndarray]:
    dex = load_pokedex(roster)
    listed_a = list(moves_a) if isinstance(moves_a, tuple) else moves_a
    listed_b = list(moves_b) if isinstance(moves_b, tuple) else moves_b
    matchup = battle.resolve_matchup(a, b, level_a, level_b, listed_a, listed_b, dex)
    row = np.ascontiguousarray(features.feature_matrix(matchup_arrays(dex, matchup), dex))
    row.setflags(write=False)  # shared by every caller of the cache
    return matchup, row


_resolve_cached = functools.lru_cache(maxsize=CACHED_MATCHUPS)(_resolve_uncached)


def _plain_moves(moves: Moves) -> tuple[str, ...] | str | None | bool:
    """A hashable stand-in for a moves argument, or False when it is not plain strings."""
    if moves is None or isinstance(moves, str):
        return moves
    if isinstance(moves, (list, tuple)) and all(isinstance(m, str) for m in moves):
        return tuple(moves)
    return False


def resolve(
    roster: str, a: str, b: str, level_a: object, level_b: object, moves_a: Moves, moves_b: Moves
) -> tuple[battle.Matchup, np.ndarray]:
    """The resolved Matchup and its feature row (shape (1, len(FEATURE_COLUMNS)), read-only).

    Plain inputs (strings, whole levels) are served from a per-process cache; anything else is
    resolved without it, so an odd value can never alias a cached one.

    Raises:
        PokedexError: an unknown name or move, a move it cannot learn, a level outside 1..100.
    """
    plain_a, plain_b = _plain_moves(moves_a), _plain_moves(moves_b)
    if isinstance(a, str) and isinstance(b, str) and plain_a is not False and plain_b is not False:
        la, lb = battle.check_level(level_a, "a"), battle.check_level(level_b, "b")
        return _resolve_cached(roster, a, b, la, lb, plain_a, plain_b)
    return _resolve_uncached(roster, a, b, level_a, level_b, moves_a, moves_b)


def simulate(dex: Pokedex, matchup: battle.Matchup, battles: int, seed: int = 0) -> float:
    """Share of `battles` seeded simulated battles that A wins, for an already resolved matchup.

    Raises:
        PokedexError: `battles` is not a whole number from 1 to battle.MAX_SIMULATIONS.
    """
    if (
        isinstance(battles, bool)
        or not isinstance(battles, (int, np.integer))
        or not 1 <= battles <= battle.MAX_SIMULATIONS
    ):
        raise PokedexError(f"simulate must be a whole number from 0 to {battle.MAX_SIMULATIONS:,}.")
    one = matchup_arrays(dex, matchup)
    winners = battle.simulate_arrays(dex, one, seed, index=np.zeros(int(battles), dtype=np.int64))
    return float(winners.mean())


def score_configurations(
    served: ServedModel,
    dex: Pokedex,
    arrays: battle.BattleArrays,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """P(A wins) per configuration, shape (n,): the one scoring step of every entry point.

    predict_winner, predict_matrix and the batch all score through here, so a change to how a
    served probability is made (e.g. antisymmetry) reaches all of them. `rows` are the
    configurations' feature rows when the caller already has them (predict_winner's cache).
    """
    if rows is None:
        rows = features.feature_matrix(arrays, dex)
    return served.scorer.predict_proba(rows)


def predict_winner(
    served: ServedModel,
    pokemon_a: str,
    pokemon_b: str,
    level_a: int = 50,
    level_b: int = 50,
    moves_a: Moves = None,
    moves_b: Moves = None,
    simulate_battles: int = 0,
    explain: bool = False,
) -> Prediction:
    """Who wins A vs B with `served`: P(A wins), the version and source, and why if `explain`.

    Raises:
        PokedexError: bad names, moves, levels or `simulate_battles` (the message lists fixes).
    """
    matchup, row = resolve(served.roster, pokemon_a, pokemon_b, level_a, level_b, moves_a, moves_b)
    dex = load_pokedex(served.roster)
    p_a_wins = float(score_configurations(served, dex, matchup_arrays(dex, matchup), row)[0])
    simulated = simulate(dex, matchup, simulate_battles) if simulate_battles else None
    a, b = dex.get(matchup.pokemon_a), dex.get(matchup.pokemon_b)
    winner = None if p_a_wins == 0.5 else a if p_a_wins > 0.5 else b
    return Prediction(
        pokemon_a=a.id,
        pokemon_b=b.id,
        name_a=a.name,
        name_b=b.name,
        winner_id=None if winner is None else winner.id,
        winner=EVEN if winner is None else winner.name,
        p_a_wins=p_a_wins,
        model_version=served.model_version,
        source=served.source,
        model_type=served.model_type,
        model_name=served.model_name,
        level_a=matchup.level_a,
        level_b=matchup.level_b,
        moves_a=list(matchup.moves_a),
        moves_b=list(matchup.moves_b),
        contributions=contributions(served, row) if explain else (),
        simulated_p_a_wins=simulated,
        simulated_battles=int(simulate_battles or 0),
    )


def contributions(
    served: ServedModel, row: np.ndarray, top: int = TOP_CONTRIBUTIONS
) -> tuple[Contribution, ...]:
    """The `top` features that moved this one-row prediction most, largest |contribution| first."""
    X = served.scorer.frame(row[:1])
    values_row = served.bundle.contributions(X).iloc[0].drop("bias")
    names = values_row.index.to_list()
    values = values_row.to_numpy(dtype=np.float64)
    order = np.argsort(-np.abs(values), kind="stable")[:top]
    first = X.iloc[0]
    return tuple(
        Contribution(str(names[i]), float(first[names[i]]), float(values[i])) for i in order
    )


def _pair_arrays(dex: Pokedex, a: np.ndarray, b: np.ndarray, level: int) -> battle.BattleArrays:
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


def predict_matrix(served: ServedModel, names: Sequence[str], level: int = 50) -> pd.DataFrame:
    """All-pairs P(row wins against column) with default movesets; NaN on the diagonal.

    Returns a square DataFrame indexed by Pokémon id (duplicates dropped, order kept).

    Raises:
        PokedexError: an unknown name or a level outside 1..100.
    """
    import pandas as pd

    dex = load_pokedex(served.roster)
    level = battle.check_level(level)
    ids = list(dict.fromkeys(dex.resolve_pokemon(name).id for name in names))
    size = len(ids)
    values = np.full((size, size), np.nan)
    if size >= 2:
        index = np.array([dex.pokemon_index[pid] for pid in ids], dtype=np.int64)
        rows, cols = np.nonzero(~np.eye(size, dtype=bool))
        pairs = _pair_arrays(dex, index[rows], index[cols], level)
        values[rows, cols] = score_configurations(served, dex, pairs)
    frame = pd.DataFrame(values, index=ids, columns=ids)
    frame.index.name = "pokemon_a"
    frame.columns.name = "pokemon_b"
    return frame
