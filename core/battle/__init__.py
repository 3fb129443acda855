"""The seeded, vectorised turn-based battle simulator (DESIGN §3 and §8).

One-versus-one singles battles, turn by turn, many at once with numpy. Each side has up to four
damaging moves; the `best` policy uses the move with the highest expected damage against this
defender, the `random` policy picks uniformly each turn. Order: priority, then Speed, then a coin.
Damage: floor(floor(floor(2L/5+2)·P·A/D)/50)+2, then critical (1/24, ×1.5), random roll
(85..100 %), STAB (×1.5) and type effectiveness, flooring after each step; at least 1 unless immune.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.pokedex import (
    MAX_LEVEL,
    MIN_LEVEL,
    STRUGGLE_ID,
    TYPELESS,
    Pokedex,
    PokedexError,
    load_pokedex,
)

Policy = Literal["best", "random"]
POLICIES: tuple[str, ...] = ("best", "random")
CRIT_CHANCE = 1.0 / 24.0
CRIT_MULTIPLIER = 1.5
STAB_MULTIPLIER = 1.5
ROLL_MIN, ROLL_MAX = 85, 100
MAX_TURNS = 100
MAX_MOVES = 4
CHUNK_SIZE = 1 << 18  # battles simulated together; results do not depend on the caller's batch
MAX_SIMULATIONS = 10_000_000  # one call's ceiling (memory is bounded by CHUNK_SIZE anyway)


@dataclass
class BattleArrays:
    """A batch of battle configurations as roster/move indices (the simulator's input)."""

    a: np.ndarray  # (n,) roster index of side A
    b: np.ndarray  # (n,) roster index of side B
    level_a: np.ndarray  # (n,)
    level_b: np.ndarray  # (n,)
    moves_a: np.ndarray  # (n, 4) move indices, -1 = empty slot
    moves_b: np.ndarray  # (n, 4)
    random_a: np.ndarray  # (n,) True = random policy
    random_b: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.a)

    def take(self, rows: slice | np.ndarray) -> BattleArrays:
        """A sub-batch."""
        return BattleArrays(**{name: value[rows] for name, value in self.__dict__.items()})


def stats_at_level(dex: Pokedex, index: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(n, 6) stats for roster indices at levels: IV 31, EV 0, neutral nature."""
    level = level.astype(np.int64)[:, None]
    core = (2 * dex.base_stats[index].astype(np.int64) + 31) * level // 100
    stats = core + 5
    stats[:, 0] = core[:, 0] + level[:, 0] + 10
    return stats


@dataclass
class SideMoves:
    """Per-battle, per-slot figures of one side attacking the other."""

    base_damage: np.ndarray  # (n, 4) before crit/roll/STAB/type
    stab: np.ndarray  # (n, 4) bool
    effectiveness: np.ndarray  # (n, 4)
    accuracy: np.ndarray  # (n, 4)
    priority: np.ndarray  # (n, 4)
    expected: np.ndarray  # (n, 4) expected damage used by the `best` policy, -inf for empty
    count: np.ndarray  # (n,) number of moves


def _side_moves(
    dex: Pokedex,
    moves: np.ndarray,
    attacker: np.ndarray,
    defender: np.ndarray,
    level: np.ndarray,
    attacker_stats: np.ndarray,
    defender_stats: np.ndarray,
) -> SideMoves:
    valid = moves >= 0
    index = np.where(valid, moves, 0)
    power = dex.move_power[index]
    physical = dex.move_physical[index]
    move_type = dex.move_type[index]
    attack = np.where(physical, attacker_stats[:, 1:2], attacker_stats[:, 3:4])
    defence = np.where(physical, defender_stats[:, 2:3], defender_stats[:, 4:5])
    level_factor = (2 * level.astype(np.int64) // 5 + 2)[:, None]
    base_damage = np.floor(np.floor(level_factor * power * attack / defence) / 50) + 2
    types = dex.type_indices[attacker]
    stab = (move_type != TYPELESS) & ((move_type == types[:, 0:1]) | (move_type == types[:, 1:2]))
    effectiveness = dex.effectiveness[move_type, defender[:, None]]
    accuracy = dex.move_accuracy[index]
    expected = (
        power * np.where(stab, STAB_MULTIPLIER, 1.0) * effectiveness * accuracy * attack / defence
    )
    return SideMoves(
        base_damage=np.where(valid, base_damage, 0.0),
        stab=stab,
        effectiveness=np.where(valid, effectiveness, 0.0),
        accuracy=accuracy,
        priority=np.where(valid, dex.move_priority[index], -128).astype(np.int16),
        expected=np.where(valid, expected, -np.inf),
        count=valid.sum(axis=1),
    )


def roll_damage(
    base: np.ndarray,
    stab: np.ndarray,
    effectiveness: np.ndarray,
    crit: np.ndarray,
    roll: np.ndarray,
) -> np.ndarray:
    """Damage of one hit from its base damage, with crit and random roll (85..100) given."""
    damage = np.where(crit, np.floor(base * CRIT_MULTIPLIER), base)
    damage = np.floor(damage * roll / 100)
    damage = np.where(stab, np.floor(damage * STAB_MULTIPLIER), damage)
    damage = np.floor(damage * effectiveness)
    return np.where(effectiveness > 0, np.maximum(damage, 1.0), 0.0)


@dataclass
class BattleTables:
    """Everything per configuration that does not change during a battle."""

    side_a: SideMoves
    side_b: SideMoves
    best_a: np.ndarray  # (c,) slot of the best move
    best_b: np.ndarray
    hp_a: np.ndarray  # (c,) max HP
    hp_b: np.ndarray
    speed_a: np.ndarray
    speed_b: np.ndarray
    random_a: np.ndarray
    random_b: np.ndarray
    stats_a: np.ndarray  # (c, 6)
    stats_b: np.ndarray
    can_hurt: np.ndarray  # (c,) False when neither side can damage the other


def build_tables(dex: Pokedex, batch: BattleArrays) -> BattleTables:
    """Per-configuration figures of both sides (also the raw material of the features)."""
    stats_a = stats_at_level(dex, batch.a, batch.level_a)
    stats_b = stats_at_level(dex, batch.b, batch.level_b)
    side_a = _side_moves(dex, batch.moves_a, batch.a, batch.b, batch.level_a, stats_a, stats_b)
    side_b = _side_moves(dex, batch.moves_b, batch.b, batch.a, batch.level_b, stats_b, stats_a)
    return BattleTables(
        side_a=side_a,
        side_b=side_b,
        best_a=np.argmax(side_a.expected, axis=1),
        best_b=np.argmax(side_b.expected, axis=1),
        hp_a=stats_a[:, 0].astype(np.float64),
        hp_b=stats_b[:, 0].astype(np.float64),
        speed_a=stats_a[:, 5],
        speed_b=stats_b[:, 5],
        random_a=batch.random_a.astype(bool),
        random_b=batch.random_b.astype(bool),
        stats_a=stats_a,
        stats_b=stats_b,
        can_hurt=(side_a.effectiveness > 0).any(axis=1) | (side_b.effectiveness > 0).any(axis=1),
    )


def hit_damage(
    attacker: str,
    defender: str,
    move: str,
    level_attacker: int = 50,
    level_defender: int = 50,
    roll: int = 100,
    crit: bool = False,
    dex: Pokedex | None = None,
) -> int:
    """Damage of one hit that lands, with the random roll (85..100) and the critical fixed."""
    dex = dex or load_pokedex()
    if not ROLL_MIN <= roll <= ROLL_MAX:
        raise PokedexError(f"roll={roll} is out of range: use {ROLL_MIN}..{ROLL_MAX}.")
    att, dfn = dex.resolve_pokemon(attacker), dex.resolve_pokemon(defender)
    one = arrays_from_frame(
        Matchup(
            att.id, dfn.id, level_attacker, level_defender, [dex.resolve_move(move).id], []
        ).to_frame(),
        dex,
    )
    tables = build_tables(dex, one)
    side = tables.side_a
    damage = roll_damage(
        side.base_damage[:, 0], side.stab[:, 0], side.effectiveness[:, 0], np.array([crit]), roll
    )
    return int(damage[0])


def _choose(
    best: np.ndarray,
    random_policy: np.ndarray,
    count: np.ndarray,
    config: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    choice = best[config]
    if random_policy.any():
        chooses_randomly = random_policy[config]
        pick = (rng.random(len(config)) * count[config]).astype(np.int64)
        choice = np.where(chooses_randomly, pick, choice)
    return choice


def _hit(
    side: SideMoves, config: np.ndarray, choice: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    draws = rng.random((3, config.size))
    crit = draws[0] < CRIT_CHANCE
    roll = ROLL_MIN + np.floor(draws[1] * (ROLL_MAX - ROLL_MIN + 1))
    damage = roll_damage(
        side.base_damage[config, choice],
        side.stab[config, choice],
        side.effectiveness[config, choice],
        crit,
        roll,
    )
    return np.where(draws[2] < side.accuracy[config, choice], damage, 0.0)


def _simulate_chunk(
    tables: BattleTables, configs: np.ndarray, rng: np.random.Generator, max_turns: int
) -> tuple[np.ndarray, np.ndarray]:
    n = configs.size
    hp_a = tables.hp_a[configs].copy()
    hp_b = tables.hp_b[configs].copy()
    winner = np.zeros(n, dtype=np.uint8)
    turns = np.zeros(n, dtype=np.int16)
    can_hurt = tables.can_hurt[configs]
    active = np.flatnonzero(can_hurt)
    for turn in range(1, max_turns + 1):
        if active.size == 0:
            break
        config = configs[active]
        choice_a = _choose(tables.best_a, tables.random_a, tables.side_a.count, config, rng)
        choice_b = _choose(tables.best_b, tables.random_b, tables.side_b.count, config, rng)
        damage_a = _hit(tables.side_a, config, choice_a, rng)
        damage_b = _hit(tables.side_b, config, choice_b, rng)
        priority_a = tables.side_a.priority[config, choice_a]
        priority_b = tables.side_b.priority[config, choice_b]
        speed_a, speed_b = tables.speed_a[config], tables.speed_b[config]
        coin = rng.random(active.size) < 0.5
        a_first = (priority_a > priority_b) | (
            (priority_a == priority_b) & ((speed_a > speed_b) | ((speed_a == speed_b) & coin))
        )
        ha, hb = hp_a[active], hp_b[active]
        a_acts = a_first | (ha - damage_b > 0)
        b_acts = ~a_first | (hb - damage_a > 0)
        hb = hb - np.where(a_acts, damage_a, 0.0)
        ha = ha - np.where(b_acts, damage_b, 0.0)
        hp_a[active], hp_b[active] = ha, hb
        done = (ha <= 0) | (hb <= 0)
        finished = active[done]
        winner[finished] = (hb[done] <= 0).astype(np.uint8)
        turns[finished] = turn
        active = active[~done]
    # Tie-break for the rest (no damage possible, or the turn cap): HP fraction, Speed, coin.
    undecided = np.flatnonzero(~can_hurt)
    if active.size:
        undecided = np.concatenate([undecided, active])
        turns[active] = max_turns
    if undecided.size:
        config = configs[undecided]
        fraction_a = hp_a[undecided] / tables.hp_a[config]
        fraction_b = hp_b[undecided] / tables.hp_b[config]
        speed_a, speed_b = tables.speed_a[config], tables.speed_b[config]
        coin = rng.random(undecided.size) < 0.5
        a_wins = (fraction_a > fraction_b) | (
            (fraction_a == fraction_b) & ((speed_a > speed_b) | ((speed_a == speed_b) & coin))
        )
        winner[undecided] = a_wins.astype(np.uint8)
    return winner, turns


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
    tables = build_tables(dex, batch)
    winners = np.empty(n, dtype=np.uint8)
    turns = np.empty(n, dtype=np.int16)
    for start in range(0, n, CHUNK_SIZE):
        stop = min(start + CHUNK_SIZE, n)
        configs = np.arange(start, stop) if index is None else np.asarray(index[start:stop])
        winners[start:stop], turns[start:stop] = _simulate_chunk(tables, configs, rng, max_turns)
    return (winners, turns) if return_turns else winners


def _moves_to_indices(dex: Pokedex, moves: Sequence[str]) -> list[int]:
    indices = [dex.move_index[m] for m in moves][:MAX_MOVES]
    return indices + [-1] * (MAX_MOVES - len(indices))


def arrays_from_frame(configs: pd.DataFrame, dex: Pokedex) -> BattleArrays:
    """Convert a configuration table (CONTRACTS.md) to simulator arrays; ids must be valid."""
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


def expected_damage_table(
    dex: Pokedex,
    attacker: np.ndarray,
    defender: np.ndarray,
    level_attacker: np.ndarray,
    level_defender: np.ndarray,
) -> np.ndarray:
    """(n, learnset width) expected damage of each learnset move, -inf for empty slots."""
    stats_att = stats_at_level(dex, attacker, level_attacker)
    stats_def = stats_at_level(dex, defender, level_defender)
    moves = dex.learnset_matrix[attacker]
    side = _side_moves(dex, moves, attacker, defender, level_attacker, stats_att, stats_def)
    return side.expected


def default_moves_indices(
    dex: Pokedex,
    attacker: np.ndarray,
    defender: np.ndarray,
    level_attacker: np.ndarray,
    level_defender: np.ndarray,
) -> np.ndarray:
    """(n, 4) the default movesets: the 4 learnset moves with the highest expected damage."""
    key = (
        (attacker.astype(np.int64) * len(dex.pokemon_ids) + defender) * (MAX_LEVEL + 1)
        + level_attacker
    ) * (MAX_LEVEL + 1) + level_defender
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    expected = expected_damage_table(
        dex, attacker[first], defender[first], level_attacker[first], level_defender[first]
    )
    # Highest expected damage first; ties keep learnset (alphabetical) order.
    order = np.argsort(-expected, axis=1, kind="stable")[:, :MAX_MOVES]
    chosen = np.take_along_axis(dex.learnset_matrix[attacker[first]], order, axis=1)
    top = np.take_along_axis(expected, order, axis=1)
    chosen = np.where(np.isfinite(top), chosen, -1)
    if chosen.shape[1] < MAX_MOVES:
        pad = np.full((len(unique), MAX_MOVES - chosen.shape[1]), -1, dtype=chosen.dtype)
        chosen = np.concatenate([chosen, pad], axis=1)
    return chosen[inverse.reshape(-1)].astype(np.int32)


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


def resolve_matchup(
    a: str,
    b: str,
    level_a: object = 50,
    level_b: object = 50,
    moves_a: list[str] | str | None = None,
    moves_b: list[str] | str | None = None,
    dex: Pokedex | None = None,
) -> Matchup:
    """Resolve names, levels and movesets (default movesets where none are given)."""
    dex = dex or load_pokedex()
    pokemon_a, pokemon_b = dex.resolve_pokemon(a), dex.resolve_pokemon(b)
    la, lb = check_level(level_a, "a"), check_level(level_b, "b")
    chosen_a = dex.resolve_moveset(pokemon_a, moves_a)
    chosen_b = dex.resolve_moveset(pokemon_b, moves_b)
    if chosen_a is None:
        chosen_a = default_moveset(dex, pokemon_a.id, pokemon_b.id, la, lb)
    if chosen_b is None:
        chosen_b = default_moveset(dex, pokemon_b.id, pokemon_a.id, lb, la)
    return Matchup(pokemon_a.id, pokemon_b.id, la, lb, chosen_a, chosen_b)


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
) -> dict:
    """Monte-Carlo P(A wins) over n seeded battles, with the resolved configuration."""
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
    return {
        "pokemon_a": matchup.pokemon_a,
        "pokemon_b": matchup.pokemon_b,
        "level_a": matchup.level_a,
        "level_b": matchup.level_b,
        "moves_a": matchup.moves_a,
        "moves_b": matchup.moves_b,
        "policy_a": policy_a,
        "policy_b": policy_b,
        "n": int(n),
        "seed": int(seed),
        "p_a_wins": float(winners.mean()),
    }


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
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
