"""The seeded, vectorised turn loop: move choice, order, each move's own rules, KOs and tie-break.

Each turn both sides pick a move; the first mover (priority, Speed, coin) acts, then the other if
both are still standing. A use hits with its accuracy; each hit rolls its own critical (the move's
crit chance) and damage roll; a multi-hit move draws its hit count (2-5: 35/35/15/15 %); fixed and
level damage ignore the formula; Super Fang halves the target's current HP. Recoil (rounded, at
least 1) and drain (rounded up, up to max HP) follow the damage actually dealt. If both faint in
one action (recoil), the user of the move wins, as in generation 5+.
"""

from __future__ import annotations

import numpy as np

from core.battle.tables import ROLL_MAX, ROLL_MIN, BattleTables, SideMoves, roll_damage
from core.pokedex import HITS_2_TO_5, Pokedex

MAX_TURNS = 100
CHUNK_SIZE = 1 << 18  # battles simulated together; results do not depend on the caller's batch
_HIT_THRESHOLDS = np.cumsum([share for _, share in HITS_2_TO_5])[:-1]


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


def draw_hits(low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hit counts of uses: fixed where low == high, else 2-5 with 35/35/15/15 %."""
    drawn = 2 + np.searchsorted(_HIT_THRESHOLDS, rng.random(low.size), side="right")
    return np.where(low == high, low, drawn)


def _extra_hits(
    dex: Pokedex, side: SideMoves, move: np.ndarray, flat: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Damage of the hits after the first of multi-hit uses, each with its own crit and roll."""
    hits = draw_hits(dex.move_min_hits[move], dex.move_max_hits[move], rng)
    base, stab = _take(side.base_damage, flat), _take(side.stab, flat)
    effectiveness, crit_chance = _take(side.effectiveness, flat), _take(side.crit_chance, flat)
    extra = np.zeros(flat.size)
    for hit in range(2, int(hits.max(initial=1)) + 1):
        draws = rng.random((2, flat.size))
        roll = ROLL_MIN + np.floor(draws[1] * (ROLL_MAX - ROLL_MIN + 1))
        damage = roll_damage(base, stab, effectiveness, draws[0] < crit_chance, roll)
        extra += np.where(hits >= hit, damage, 0.0)
    return extra


def _take(table: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Gather (config, slot) cells of a C-contiguous (c, 4) table by flat index (fast)."""
    return np.take(table.reshape(-1), flat)


def use_moves(
    dex: Pokedex,
    side: SideMoves,
    moves: np.ndarray,
    flat: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (flat index config * 4 + slot): damage of one use (0 on a miss), the move used,
    and whether its move has a special rule (several hits, fixed damage, recoil, drain)."""
    draws = rng.random((3, flat.size))
    crit = draws[0] < _take(side.crit_chance, flat)
    roll = ROLL_MIN + np.floor(draws[1] * (ROLL_MAX - ROLL_MIN + 1))
    damage = roll_damage(
        _take(side.base_damage, flat),
        _take(side.stab, flat),
        _take(side.effectiveness, flat),
        crit,
        roll,
    )
    move = _take(moves, flat)
    special = _take(side.special, flat)
    if special.any():
        rows = np.flatnonzero(special)
        fixed = _take(side.fixed, flat[rows])
        multi = dex.move_max_hits[move[rows]] > 1
        if multi.any():
            picked = rows[multi]
            damage[picked] += _extra_hits(dex, side, move[picked], flat[picked], rng)
        damage[rows] = np.where(fixed >= 0, fixed, damage[rows])
    return np.where(draws[2] < _take(side.accuracy, flat), damage, 0.0), move, special


def _act(
    dex: Pokedex,
    move: np.ndarray,
    acts: np.ndarray,
    damage: np.ndarray,
    special: np.ndarray,
    hp_user: np.ndarray,
    hp_target: np.ndarray,
    max_hp_user: np.ndarray,
) -> None:
    """Apply one side's action on rows `acts` (in place): damage, then recoil or drain."""
    plain = acts & ~special
    hp_target -= np.where(plain, damage, 0.0)
    rows = np.flatnonzero(acts & special)
    if rows.size == 0:
        return
    used = move[rows]
    dealt = damage[rows]
    target = hp_target[rows]
    half = dex.move_half_hp[used] & (dealt > 0)
    dealt = np.where(half, np.maximum(np.floor(target / 2), 1.0), dealt)
    dealt = np.minimum(dealt, np.maximum(target, 0.0))  # HP actually lost
    recoil_num, recoil_den = dex.move_recoil[used, 0], dex.move_recoil[used, 1]
    drain_num, drain_den = dex.move_drain[used, 0], dex.move_drain[used, 1]
    recoil = np.where(
        (recoil_num > 0) & (dealt > 0),
        np.maximum(np.floor((2 * dealt * recoil_num + recoil_den) / (2 * recoil_den)), 1.0),
        0.0,
    )
    max_hp = max_hp_user[rows]
    recoil += np.where(dex.move_struggle_recoil[used], np.maximum((2 * max_hp + 4) // 8, 1), 0.0)
    heal = np.ceil(dealt * drain_num / drain_den)
    hp_target[rows] = target - dealt
    hp_user[rows] = np.minimum(hp_user[rows] + heal, max_hp) - recoil


def play_turn(
    dex: Pokedex,
    tables: BattleTables,
    moves: tuple[np.ndarray, np.ndarray],
    config: np.ndarray,
    hp: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """One turn of the battles `config` (hp arrays updated in place); True where A won it."""
    ha, hb = hp
    width = moves[0].shape[1]
    choice_a = _choose(tables.best_a, tables.random_a, tables.side_a.count, config, rng)
    choice_b = _choose(tables.best_b, tables.random_b, tables.side_b.count, config, rng)
    flat_a, flat_b = config * width + choice_a, config * width + choice_b
    damage_a, move_a, special_a = use_moves(dex, tables.side_a, moves[0], flat_a, rng)
    damage_b, move_b, special_b = use_moves(dex, tables.side_b, moves[1], flat_b, rng)
    priority_a = _take(tables.side_a.priority, flat_a)
    priority_b = _take(tables.side_b.priority, flat_b)
    speed_a, speed_b = tables.speed_a[config], tables.speed_b[config]
    coin = rng.random(config.size) < 0.5
    a_first = (priority_a > priority_b) | (
        (priority_a == priority_b) & ((speed_a > speed_b) | ((speed_a == speed_b) & coin))
    )
    max_a, max_b = tables.hp_a[config], tables.hp_b[config]
    _act(dex, move_a, a_first, damage_a, special_a, ha, hb, max_a)
    _act(dex, move_b, ~a_first, damage_b, special_b, hb, ha, max_b)
    both_down_first = (ha <= 0) & (hb <= 0)
    standing = (ha > 0) & (hb > 0)
    _act(dex, move_a, ~a_first & standing, damage_a, special_a, ha, hb, max_a)
    _act(dex, move_b, a_first & standing, damage_b, special_b, hb, ha, max_b)
    # Both down in one action only through the user's recoil: the user wins (gen 5+).
    last_actor_a = np.where(both_down_first, a_first, ~a_first)
    return (hb <= 0) & ((ha > 0) | last_actor_a)


def simulate_chunk(
    dex: Pokedex,
    tables: BattleTables,
    moves: tuple[np.ndarray, np.ndarray],
    configs: np.ndarray,
    rng: np.random.Generator,
    max_turns: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Winners (1 = A) and turns played of the battles `configs` (indices into the tables)."""
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
        ha, hb = hp_a[active], hp_b[active]
        a_wins = play_turn(dex, tables, moves, configs[active], (ha, hb), rng)
        hp_a[active], hp_b[active] = ha, hb
        done = (ha <= 0) | (hb <= 0)
        finished = active[done]
        winner[finished] = a_wins[done].astype(np.uint8)
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
