"""Per-configuration tables of the simulator: stats, per-slot damage rules and expected damage.

Everything that does not change during a battle is computed once per configuration here, from the
per-move rule arrays of `core.pokedex` (stat overrides, crit chance, hits, fixed damage, recoil,
drain, type exceptions); the turn loop (`core.battle.engine`) only gathers from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.pokedex import MAX_LEVEL, TYPELESS, Pokedex

CRIT_CHANCE = 1.0 / 24.0  # the default (stage 0); each move has its own in dex.move_crit_chance
CRIT_MULTIPLIER = 1.5
STAB_MULTIPLIER = 1.5
ROLL_MIN, ROLL_MAX = 85, 100
MEAN_ROLL = (ROLL_MIN + ROLL_MAX) / 200.0
MAX_MOVES = 4


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
    """Per-battle, per-slot figures of one side attacking the other (all (n, 4) unless noted)."""

    base_damage: np.ndarray  # formula damage of one hit before crit/roll/STAB/type
    stab: np.ndarray  # bool
    effectiveness: np.ndarray  # type multiplier of the move's own rule (0 = immune)
    accuracy: np.ndarray
    priority: np.ndarray
    crit_chance: np.ndarray
    fixed: np.ndarray  # damage of a fixed/level-damage move (0 if immune), -1 = not fixed
    special: np.ndarray  # bool: several hits, fixed damage, or HP changes for the user
    expected: np.ndarray  # mean damage of one use (HP), -inf for empty: the `best` policy's score
    low: np.ndarray  # least damage of a use that lands (lowest roll, fewest hits, no crit)
    high: np.ndarray  # most damage without a crit (highest roll, most hits)
    self_change: np.ndarray  # mean HP change of the user per use (drain +, recoil -)
    count: np.ndarray  # (n,) number of moves


def roll_damage(
    base: np.ndarray,
    stab: np.ndarray,
    effectiveness: np.ndarray,
    crit: np.ndarray,
    roll: np.ndarray | int,
) -> np.ndarray:
    """Damage of one hit from its base damage, with crit and random roll (85..100) given."""
    damage = np.where(crit, np.floor(base * CRIT_MULTIPLIER), base)
    damage = np.floor(damage * roll / 100)
    damage = np.where(stab, np.floor(damage * STAB_MULTIPLIER), damage)
    damage = np.floor(damage * effectiveness)
    return np.where(effectiveness > 0, np.maximum(damage, 1.0), 0.0)


def side_moves(
    dex: Pokedex,
    moves: np.ndarray,
    attacker: np.ndarray,
    defender: np.ndarray,
    level: np.ndarray,
    attacker_stats: np.ndarray,
    defender_stats: np.ndarray,
) -> SideMoves:
    """The per-slot tables of `moves` (n, k) used by `attacker` against `defender`."""
    valid = moves >= 0
    index = np.where(valid, moves, 0)
    rows = np.arange(len(attacker))[:, None]
    # The move's own stats: Foul Play reads the target's Attack, Psyshock the target's Defense.
    own = np.where(dex.move_attack_from_target[index], 0, 1).astype(bool)
    attack_stat = dex.move_attack_stat[index]
    attack = np.where(own, attacker_stats[rows, attack_stat], defender_stats[rows, attack_stat])
    defence = defender_stats[rows, dex.move_defense_stat[index]]
    level_factor = (2 * level.astype(np.int64) // 5 + 2)[:, None]
    power = dex.move_power[index]
    base_damage = np.floor(np.floor(level_factor * power * attack / defence) / 50) + 2
    move_type = dex.move_type[index]
    types = dex.type_indices[attacker]
    stab = (move_type != TYPELESS) & ((move_type == types[:, 0:1]) | (move_type == types[:, 1:2]))
    effectiveness = np.where(valid, dex.move_effectiveness[index, defender[:, None]], 0.0)
    accuracy = dex.move_accuracy[index]
    crit_chance = dex.move_crit_chance[index]
    hits_min, hits_max = dex.move_min_hits[index], dex.move_max_hits[index]
    fixed_amount = np.where(
        dex.move_level_damage[index], level[:, None], dex.move_fixed_damage[index]
    )
    is_fixed = dex.move_level_damage[index] | (dex.move_fixed_damage[index] > 0)
    fixed = np.where(is_fixed, np.where(effectiveness > 0, fixed_amount, 0), -1).astype(np.float64)
    half = np.where(effectiveness > 0, np.maximum(defender_stats[:, 0:1] // 2, 1), 0.0)
    half_hp = dex.move_half_hp[index]
    mean_crit = 1.0 + crit_chance * (CRIT_MULTIPLIER - 1.0)
    one_hit = roll_damage(base_damage, stab, effectiveness, False, ROLL_MAX) * MEAN_ROLL
    formula = one_hit * mean_crit * dex.move_expected_hits[index]
    mean = np.where(is_fixed, fixed, np.where(half_hp, half, formula))
    low = roll_damage(base_damage, stab, effectiveness, False, ROLL_MIN) * hits_min
    high = roll_damage(base_damage, stab, effectiveness, False, ROLL_MAX) * hits_max
    low = np.where(is_fixed, fixed, np.where(half_hp, half, low))
    high = np.where(is_fixed, fixed, np.where(half_hp, half, high))
    recoil, drain = dex.move_recoil[index], dex.move_drain[index]
    struggle = np.where(
        dex.move_struggle_recoil[index], np.maximum((attacker_stats[:, 0:1] * 2 + 4) // 8, 1), 0
    )
    self_change = (
        accuracy * mean * (drain[..., 0] / drain[..., 1] - recoil[..., 0] / recoil[..., 1])
    )
    return SideMoves(
        base_damage=np.where(valid, base_damage, 0.0),
        stab=stab,
        effectiveness=effectiveness,
        accuracy=accuracy,
        priority=np.where(valid, dex.move_priority[index], -128).astype(np.int16),
        crit_chance=crit_chance,
        fixed=fixed,
        special=valid & dex.move_special[index],
        expected=np.where(valid, mean * accuracy, -np.inf),
        low=np.where(valid, low, 0.0),
        high=np.where(valid, high, 0.0),
        self_change=np.where(valid, self_change - struggle, 0.0),
        count=valid.sum(axis=1),
    )


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
    side_a = side_moves(dex, batch.moves_a, batch.a, batch.b, batch.level_a, stats_a, stats_b)
    side_b = side_moves(dex, batch.moves_b, batch.b, batch.a, batch.level_b, stats_b, stats_a)
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


def expected_damage_table(
    dex: Pokedex,
    attacker: np.ndarray,
    defender: np.ndarray,
    level_attacker: np.ndarray,
    level_defender: np.ndarray,
) -> np.ndarray:
    """(n, learnset width) mean damage of one use of each learnset move, -inf for empty slots."""
    stats_att = stats_at_level(dex, attacker, level_attacker)
    stats_def = stats_at_level(dex, defender, level_defender)
    moves = dex.learnset_matrix[attacker]
    side = side_moves(dex, moves, attacker, defender, level_attacker, stats_att, stats_def)
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
