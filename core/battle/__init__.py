"""The seeded, vectorised turn-based battle simulator (DESIGN §3 and §8).

One-versus-one singles battles, turn by turn, many at once with numpy. Each side has up to four
damaging moves; the `best` policy uses the move with the highest expected damage against this
defender, the `random` policy picks uniformly each turn. Order: priority, then Speed, then a coin.
Damage: floor(floor(floor(2L/5+2)·P·A/D)/50)+2, then critical (×1.5, at the move's own rate),
random roll (85..100 %), STAB (×1.5) and type effectiveness, flooring after each step; at least 1
unless immune. Each move follows its own rules from the move data (`core.pokedex.rules`): stat
overrides, crit rates, fixed / level / half-HP damage, hits rolled one by one, recoil and drain,
type and power exceptions. Parts: `tables` (per-configuration figures), `engine` (the turn loop).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.battle.engine import CHUNK_SIZE, MAX_TURNS, simulate_chunk
from core.battle.tables import (
    CRIT_CHANCE,
    CRIT_MULTIPLIER,
    MAX_MOVES,
    MEAN_ROLL,
    ROLL_MAX,
    ROLL_MIN,
    STAB_MULTIPLIER,
    BattleArrays,
    BattleTables,
    SideMoves,
    build_tables,
    default_moves_indices,
    expected_damage_table,
    roll_damage,
    side_moves,
    stats_at_level,
)
from core.pokedex import (
    MAX_LEVEL,
    MIN_LEVEL,
    STRUGGLE_ID,
    Pokedex,
    PokedexError,
    load_pokedex,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHUNK_SIZE", "CRIT_CHANCE", "CRIT_MULTIPLIER", "MAX_MOVES", "MAX_SIMULATIONS", "MAX_TURNS",
    "MEAN_ROLL", "POLICIES", "ROLL_MAX", "ROLL_MIN", "RULES_VERSION", "STAB_MULTIPLIER",
    "BattleArrays", "BattleTables", "Matchup", "Policy", "SideMoves", "arrays_from_frame",
    "build_tables", "check_level", "default_moves_indices", "default_moveset",
    "expected_damage_table", "hit_damage", "hit_damage_per_hit", "resolve_matchup",
    "roll_damage", "side_moves", "simulate_arrays", "simulate_battles", "stats_at_level",
    "win_probability",
]  # fmt: skip

# The battle rules a dataset was simulated with: 1 = one rule for every move (before issue 11),
# 2 = each move's own rules from the move data, unmodelled moves left out of the learnsets.
RULES_VERSION = "2"
Policy = Literal["best", "random"]
POLICIES: tuple[str, ...] = ("best", "random")
MAX_SIMULATIONS = 10_000_000  # one call's ceiling (memory is bounded by CHUNK_SIZE anyway)


def _one_use(
    dex: Pokedex, attacker: str, defender: str, move: str, level_attacker: int, level_defender: int
) -> tuple[SideMoves, int]:
    att, dfn = dex.resolve_pokemon(attacker), dex.resolve_pokemon(defender)
    move_id = dex.resolve_move(move).id
    one = arrays_from_frame(
        Matchup(att.id, dfn.id, level_attacker, level_defender, [move_id], []).to_frame(), dex
    )
    return build_tables(dex, one).side_a, dex.move_index[move_id]


def hit_damage_per_hit(
    attacker: str,
    defender: str,
    move: str,
    level_attacker: int = 50,
    level_defender: int = 50,
    roll: int = 100,
    crit: bool = False,
    dex: Pokedex | None = None,
) -> int:
    """Damage (HP) of ONE hit that lands, with the random roll (85..100) and the critical fixed.

    Fixed and level damage give their amount, Super Fang half the defender's full HP.
    Raises PokedexError for an unknown Pokémon or move, or a roll outside 85..100.
    """
    dex = dex or load_pokedex()
    if not ROLL_MIN <= roll <= ROLL_MAX:
        raise PokedexError(f"roll={roll} is out of range: use {ROLL_MIN}..{ROLL_MAX}.")
    side, move_index = _one_use(dex, attacker, defender, move, level_attacker, level_defender)
    if side.fixed[0, 0] >= 0 or dex.move_half_hp[move_index]:
        return int(side.low[0, 0])  # fixed kinds: low == high == the amount
    damage = roll_damage(
        side.base_damage[:, 0], side.stab[:, 0], side.effectiveness[:, 0], np.array([crit]), roll
    )
    return int(damage[0])


def hit_damage(
    attacker: str,
    defender: str,
    move: str,
    level_attacker: int = 50,
    level_defender: int = 50,
    roll: int = 100,
    crit: bool = False,
    dex: Pokedex | None = None,
    hits: int | None = None,
) -> int:
    """Damage (HP) of one USE of a move that lands: all its hits, each at the given roll and crit.

    `hits` defaults to the move's hit count (its minimum, 2, for a 2-5-hit move); a single-hit
    move ignores it. Raises PokedexError for bad names, a roll outside 85..100 or a hit count
    outside the move's range.
    """
    dex = dex or load_pokedex()
    per_hit = hit_damage_per_hit(
        attacker, defender, move, level_attacker, level_defender, roll, crit, dex
    )
    found = dex.resolve_move(move)
    count = found.min_hits if hits is None or found.max_hits == 1 else hits
    if not found.min_hits <= count <= found.max_hits:
        raise PokedexError(
            f"{found.name} hits {found.min_hits}-{found.max_hits} times, not {count}."
        )
    return per_hit * count


def simulate_arrays(
    dex: Pokedex,
    batch: BattleArrays,
    seed: int | np.random.Generator = 0,
    max_turns: int = MAX_TURNS,
    return_turns: bool = False,
    index: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Simulate battles; 1 = A wins. The same seed gives the same winners.

    `batch` holds configurations; `index` (optional) names the configuration of each battle, so
    that many battles of few configurations (replays, a dataset of pairs) share one table.
    """
    n = len(batch) if index is None else len(index)
    if n > MAX_SIMULATIONS:
        raise ValueError(f"{n} battles in one call is above the ceiling of {MAX_SIMULATIONS}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    tables = build_tables(dex, batch, for_features=False)
    moves = (np.ascontiguousarray(batch.moves_a), np.ascontiguousarray(batch.moves_b))
    winners = np.empty(n, dtype=np.uint8)
    turns = np.empty(n, dtype=np.int16)
    for start in range(0, n, CHUNK_SIZE):
        stop = min(start + CHUNK_SIZE, n)
        configs = np.arange(start, stop) if index is None else np.asarray(index[start:stop])
        winners[start:stop], turns[start:stop] = simulate_chunk(
            dex, tables, moves, configs, rng, max_turns
        )
    return (winners, turns) if return_turns else winners


def _moves_to_indices(dex: Pokedex, moves: Sequence[str]) -> list[int]:
    indices = [dex.move_index[m] for m in moves][:MAX_MOVES]
    return indices + [-1] * (MAX_MOVES - len(indices))


def arrays_from_frame(configs: pd.DataFrame, dex: Pokedex) -> BattleArrays:
    """Convert a configuration table (CONTRACTS.md) to simulator arrays; ids must be valid."""
    import pandas as pd

    a = configs["pokemon_a"].map(dex.pokemon_index).to_numpy()
    b = configs["pokemon_b"].map(dex.pokemon_index).to_numpy()
    cache: dict[str, list[int]] = {}

    def encode(column: str) -> np.ndarray:
        out = []
        for text in configs[column].astype(str):
            if text not in cache:
                cache[text] = _moves_to_indices(dex, [m for m in text.split(",") if m])
            out.append(cache[text])
        return np.array(out, dtype=np.int32).reshape(len(configs), MAX_MOVES)

    policy_a = configs["policy_a"] if "policy_a" in configs else pd.Series("best", configs.index)
    policy_b = configs["policy_b"] if "policy_b" in configs else pd.Series("best", configs.index)
    return BattleArrays(
        a=a.astype(np.int32),
        b=b.astype(np.int32),
        level_a=configs["level_a"].to_numpy(np.int32),
        level_b=configs["level_b"].to_numpy(np.int32),
        moves_a=encode("moves_a"),
        moves_b=encode("moves_b"),
        random_a=(policy_a == "random").to_numpy(),
        random_b=(policy_b == "random").to_numpy(),
    )


def simulate_battles(
    configs: pd.DataFrame, seed: int | np.random.Generator = 0, dex: Pokedex | None = None
) -> np.ndarray:
    """Simulate the battles of a configuration table; returns 1 where A wins, else 0."""
    dex = dex or load_pokedex()
    return simulate_arrays(dex, arrays_from_frame(configs, dex), seed)


def default_moveset(
    dex: Pokedex,
    attacker_id: str,
    defender_id: str,
    level_attacker: int = 50,
    level_defender: int = 50,
) -> list[str]:
    """The (up to) 4 damaging moves with the highest expected damage against this opponent."""
    row = default_moves_indices(
        dex,
        np.array([dex.pokemon_index[attacker_id]]),
        np.array([dex.pokemon_index[defender_id]]),
        np.array([level_attacker]),
        np.array([level_defender]),
    )[0]
    return [dex.move_ids[i] for i in row if i >= 0] or [STRUGGLE_ID]


def check_level(level: object, side: str = "") -> int:
    """A level as int in 1..100, or a PokedexError saying what to type."""
    label = f"level{'_' + side if side else ''}"
    if isinstance(level, bool) or not isinstance(level, (int, np.integer, str, float)):
        raise PokedexError(f"{label} must be a whole number from {MIN_LEVEL} to {MAX_LEVEL}.")
    try:
        value = int(str(level).strip())
    except ValueError:
        raise PokedexError(
            f"{label}={str(level)[:20]!r} is not a whole number: use {MIN_LEVEL}..{MAX_LEVEL}."
        ) from None
    if not MIN_LEVEL <= value <= MAX_LEVEL:
        raise PokedexError(f"{label}={value} is out of range: use {MIN_LEVEL}..{MAX_LEVEL}.")
    return value


@dataclass(frozen=True)
class Matchup:
    """A fully resolved battle configuration for one pair."""

    pokemon_a: str
    pokemon_b: str
    level_a: int
    level_b: int
    moves_a: list[str]
    moves_b: list[str]

    def to_frame(self, policy_a: Policy = "best", policy_b: Policy = "best") -> pd.DataFrame:
        """One-row configuration table."""
        import pandas as pd

        return pd.DataFrame(
            {
                "pokemon_a": [self.pokemon_a],
                "pokemon_b": [self.pokemon_b],
                "level_a": [self.level_a],
                "level_b": [self.level_b],
                "moves_a": [",".join(self.moves_a)],
                "moves_b": [",".join(self.moves_b)],
                "policy_a": [policy_a],
                "policy_b": [policy_b],
            }
        )


def _about(field: str, step, *arguments):
    """step(*arguments); a PokedexError it raises names the input `field`."""
    try:
        return step(*arguments)
    except PokedexError as error:
        raise error.about(field) from None


def resolve_matchup(
    a: str,
    b: str,
    level_a: object = 50,
    level_b: object = 50,
    moves_a: list[str] | str | None = None,
    moves_b: list[str] | str | None = None,
    dex: Pokedex | None = None,
) -> Matchup:
    """Resolve names, levels and movesets (default movesets where none are given).

    Raises:
        PokedexError: an unknown name or move, a move the Pokémon cannot learn, a bad level;
            its `field` names the argument (pokemon_a, pokemon_b, level_a, level_b, moves_a,
            moves_b).
    """
    dex = dex or load_pokedex()
    pokemon_a = _about("pokemon_a", dex.resolve_pokemon, a)
    pokemon_b = _about("pokemon_b", dex.resolve_pokemon, b)
    la, lb = (
        _about("level_a", check_level, level_a, "a"),
        _about("level_b", check_level, level_b, "b"),
    )
    chosen_a = _about("moves_a", dex.resolve_moveset, pokemon_a, moves_a)
    chosen_b = _about("moves_b", dex.resolve_moveset, pokemon_b, moves_b)
    if chosen_a is None:
        chosen_a = default_moveset(dex, pokemon_a.id, pokemon_b.id, la, lb)
    if chosen_b is None:
        chosen_b = default_moveset(dex, pokemon_b.id, pokemon_a.id, lb, la)
    return Matchup(pokemon_a.id, pokemon_b.id, la, lb, chosen_a, chosen_b)


@dataclass(frozen=True)
class WinEstimate:
    """A simulated estimate of one configuration's win probability.

    Fields: pokemon_a, pokemon_b (Showdown ids), level_a, level_b, moves_a, moves_b (move ids),
    policy_a, policy_b ("best" or "random"), n (battles simulated), seed, p_a_wins (share of the
    n battles A won, 0..1; its standard error is at most 0.5/sqrt(n)).
    """

    pokemon_a: str
    pokemon_b: str
    level_a: int
    level_b: int
    moves_a: list[str]
    moves_b: list[str]
    policy_a: str
    policy_b: str
    n: int
    seed: int
    p_a_wins: float

    def to_dict(self) -> dict:
        """Plain JSON-ready data (the CLI's output)."""
        return asdict(self)


def win_probability(
    a: str,
    b: str,
    level_a: int = 50,
    level_b: int = 50,
    moves_a: list[str] | str | None = None,
    moves_b: list[str] | str | None = None,
    n: int = 10_000,
    seed: int = 0,
    policy_a: Policy = "best",
    policy_b: Policy = "best",
    dex: Pokedex | None = None,
) -> WinEstimate:
    """Monte-Carlo P(A wins) over n seeded battles, with the resolved configuration.

    Raises PokedexError for an unknown Pokémon or move, a bad level, n outside
    1..MAX_SIMULATIONS, an unknown policy or a negative seed.
    """
    dex = dex or load_pokedex()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_SIMULATIONS:
        raise PokedexError(f"n must be a whole number from 1 to {MAX_SIMULATIONS:,}.")
    if policy_a not in POLICIES or policy_b not in POLICIES:
        raise PokedexError(f"policy must be one of {', '.join(POLICIES)}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PokedexError(f"seed={str(seed)[:20]!r} is not valid: use a whole number >= 0.")
    matchup = resolve_matchup(a, b, level_a, level_b, moves_a, moves_b, dex)
    one = arrays_from_frame(matchup.to_frame(policy_a, policy_b), dex)
    winners = simulate_arrays(dex, one, seed, index=np.zeros(n, dtype=np.int64))
    return WinEstimate(
        pokemon_a=matchup.pokemon_a,
        pokemon_b=matchup.pokemon_b,
        level_a=matchup.level_a,
        level_b=matchup.level_b,
        moves_a=list(matchup.moves_a),
        moves_b=list(matchup.moves_b),
        policy_a=policy_a,
        policy_b=policy_b,
        n=int(n),
        seed=int(seed),
        p_a_wins=float(winners.mean()),
    )


def _split_moves(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    """CLI: simulate one matchup many times and print P(A wins) as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m core.battle", description="Estimate who wins a 1v1 battle."
    )
    parser.add_argument("--a", required=True, help="Pokémon A (forgiving: 'Mr. Mime', 'mr-mime')")
    parser.add_argument("--b", required=True, help="Pokémon B")
    parser.add_argument("--level-a", default="50")
    parser.add_argument("--level-b", default="50")
    parser.add_argument("--moves-a", help="comma-separated moves (default: best 4 of the learnset)")
    parser.add_argument("--moves-b")
    parser.add_argument("--policy-a", choices=POLICIES, default="best")
    parser.add_argument("--policy-b", choices=POLICIES, default="best")
    parser.add_argument("--n", type=int, default=10_000, help=f"battles, 1..{MAX_SIMULATIONS:,}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--roster", default="letsgo")
    args = parser.parse_args(argv)
    try:
        result = win_probability(
            args.a,
            args.b,
            level_a=args.level_a,
            level_b=args.level_b,
            moves_a=_split_moves(args.moves_a),
            moves_b=_split_moves(args.moves_b),
            n=args.n,
            seed=args.seed,
            policy_a=args.policy_a,
            policy_b=args.policy_b,
            dex=load_pokedex(args.roster),
        )
    except PokedexError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
