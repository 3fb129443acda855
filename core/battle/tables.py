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
    crit: np.ndarray | bool,
    roll: np.ndarray | int,
) -> np.ndarray:
    """Damage of one hit from its base damage, with crit and random roll (85..100) given."""
    if crit is False:
        damage = np.floor(base * roll / 100)
    else:
        damage = np.where(crit, np.floor(base * CRIT_MULTIPLIER), base)
        damage = np.floor(damage * roll / 100)
    damage = np.where(stab, np.floor(damage * STAB_MULTIPLIER), damage)
    damage = np.floor(damage * effectiveness)
    return np.where(effectiveness > 0, np.maximum(damage, 1.0), 0.0)


@dataclass
class _Slots:
    """The figures every caller needs, per slot: the formula's inputs and the mean damage."""

    index: np.ndarray
    valid: np.ndarray
    base_damage: np.ndarray
    stab: np.ndarray
    effectiveness: np.ndarray
    accuracy: np.ndarray
    mean: np.ndarray  # mean damage of a use that lands (HP)
    fixed: np.ndarray  # fixed/level damage (0 if immune), -1 = from the formula


def _slots(
    dex: Pokedex,
    moves: np.ndarray,
    attacker: np.ndarray,
    defender: np.ndarray,
    level: np.ndarray,
    attacker_stats: np.ndarray,
    defender_stats: np.ndarray,
) -> _Slots:
    valid = moves >= 0
    index = np.where(valid, moves, 0)
    physical = dex.move_physical[index]
    attack = np.where(physical, attacker_stats[:, 1:2], attacker_stats[:, 3:4])
    defence = np.where(physical, defender_stats[:, 2:3], defender_stats[:, 4:5])
    rows, cols = np.nonzero(dex.move_stat_override[index])
    if rows.size:  # Foul Play reads the target's Attack, Psyshock the target's Defense
        move = index[rows, cols]
        stat = dex.move_attack_stat[move]
        attack[rows, cols] = np.where(
            dex.move_attack_from_target[move],
            defender_stats[rows, stat],
            attacker_stats[rows, stat],
        )
        defence[rows, cols] = defender_stats[rows, dex.move_defense_stat[move]]
    level_factor = (2 * level.astype(np.int64) // 5 + 2)[:, None]
    base_damage = np.floor(np.floor(level_factor * dex.move_power[index] * attack / defence) / 50)
    base_damage += 2
    move_type = dex.move_type[index]
    types = dex.type_indices[attacker]
    stab = (move_type != TYPELESS) & ((move_type == types[:, 0:1]) | (move_type == types[:, 1:2]))
    effectiveness = np.where(valid, dex.move_effectiveness[index, defender[:, None]], 0.0)
    mean = roll_damage(base_damage, stab, effectiveness, False, ROLL_MAX)
    mean *= dex.move_expected_factor[index]
    fixed = np.full(index.shape, -1.0)
    rows, cols = np.nonzero(dex.move_fixed_kind[index])
    if rows.size:  # fixed, level and half-HP damage: no formula, no crit, no roll
        move = index[rows, cols]
        amount = np.where(dex.move_level_damage[move], level[rows], dex.move_fixed_damage[move])
        amount = np.where(
            dex.move_half_hp[move], np.maximum(defender_stats[rows, 0] // 2, 1), amount
        )
        amount = np.where(effectiveness[rows, cols] > 0, amount, 0).astype(np.float64)
        mean[rows, cols] = amount
        fixed[rows, cols] = np.where(dex.move_half_hp[move], -1.0, amount)
    accuracy = dex.move_accuracy[index]
    return _Slots(index, valid, base_damage, stab, effectiveness, accuracy, mean, fixed)


def side_moves(
    dex: Pokedex,
    moves: np.ndarray,
    attacker: np.ndarray,
    defender: np.ndarray,
    level: np.ndarray,
    attacker_stats: np.ndarray,
    defender_stats: np.ndarray,
    for_features: bool = True,
) -> SideMoves:
    """The per-slot tables of `moves` (n, k) used by `attacker` against `defender`.

    Without `for_features`, `low`, `high` and `self_change` are left empty (the turn loop does
    not read them).
    """
    slots = _slots(dex, moves, attacker, defender, level, attacker_stats, defender_stats)
    index, valid = slots.index, slots.valid
    common = {
        "base_damage": np.where(valid, slots.base_damage, 0.0),
        "stab": slots.stab,
        "effectiveness": slots.effectiveness,
        "accuracy": slots.accuracy,
        "priority": np.where(valid, dex.move_priority[index], -128).astype(np.int16),
        "crit_chance": dex.move_crit_chance[index],
        "fixed": slots.fixed,
        "special": valid & dex.move_special[index],
        "expected": np.where(valid, slots.mean * slots.accuracy, -np.inf),
        "count": valid.sum(axis=1),
    }
    if not for_features:
        empty = np.empty((0, index.shape[1]))
        return SideMoves(**common, low=empty, high=empty, self_change=empty)
    fixed_kind = dex.move_fixed_kind[index]
    hits_min, hits_max = dex.move_min_hits[index], dex.move_max_hits[index]
    low = roll_damage(slots.base_damage, slots.stab, slots.effectiveness, False, ROLL_MIN)
    high = roll_damage(slots.base_damage, slots.stab, slots.effectiveness, False, ROLL_MAX)
    low = np.where(fixed_kind, slots.mean, low * hits_min)
    high = np.where(fixed_kind, slots.mean, high * hits_max)
    recoil, drain = dex.move_recoil[index], dex.move_drain[index]
    struggle = np.where(
        dex.move_struggle_recoil[index], np.maximum((attacker_stats[:, 0:1] * 2 + 4) // 8, 1), 0
    )
    share = drain[..., 0] / drain[..., 1] - recoil[..., 0] / recoil[..., 1]
    self_change = slots.accuracy * slots.mean * share - struggle
    return SideMoves(
        **common,
        low=np.where(valid, low, 0.0),
        high=np.where(valid, high, 0.0),
        self_change=np.where(valid, self_change, 0.0),
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


def build_tables(dex: Pokedex, batch: BattleArrays, for_features: bool = True) -> BattleTables:
    """Per-configuration figures of both sides (also the raw material of the features)."""
    stats_a = stats_at_level(dex, batch.a, batch.level_a)
    stats_b = stats_at_level(dex, batch.b, batch.level_b)
    side_a = side_moves(
        dex, batch.moves_a, batch.a, batch.b, batch.level_a, stats_a, stats_b, for_features
    )
    side_b = side_moves(
        dex, batch.moves_b, batch.b, batch.a, batch.level_b, stats_b, stats_a, for_features
    )
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
    slots = _slots(dex, moves, attacker, defender, level_attacker, stats_att, stats_def)
    return np.where(slots.valid, slots.mean * slots.accuracy, -np.inf)


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
