"""FEATURE_COLUMNS and build_features(): the one feature function for training AND serving.

Features come from the battle configuration only (no Pokémon ids as numbers): levels, stats,
types, the move each side would use (power, type effectiveness, STAB, category, accuracy,
priority), expected damage per turn each way, hits and turns to KO, who moves first, and the
analytic race (`core.features.analytic`): each side's win probability and P(KO within 1-3 turns).
Tree models need no scaling, so there is no scaler.

Every column is a side feature (`a_x` and `b_x` trade places when A and B do) or an antisymmetric
pair feature, so `mirror_rows` turns the features of (A, B) into exactly those of (B, A): serving
builds an antisymmetric probability from the two (`core.predict.scoring`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from core.battle import (
    MAX_TURNS,
    BattleArrays,
    BattleTables,
    SideMoves,
    arrays_from_frame,
    build_tables,
)
from core.errors import PredictionDexError
from core.features.analytic import KO_TURNS, race
from core.pokedex import STAT_NAMES, TYPES, Pokedex, load_pokedex

if TYPE_CHECKING:
    import pandas as pd

_SIDE_FEATURES: tuple[str, ...] = (
    "level",
    *(f"stat_{name}" for name in STAT_NAMES),
    *(f"type_{name.lower()}" for name in TYPES),
    "move_power",
    "move_effectiveness",
    "move_stab",
    "move_physical",
    "move_accuracy",
    "move_priority",
    "moves_known",
    "random_policy",
    "best_effectiveness",
    "expected_damage_share",
    "hits_to_ko_low_roll",
    "hits_to_ko_high_roll",
    "turns_to_ko",
    "analytic_win",
    *(f"ko_within_{turn}" for turn in range(1, KO_TURNS + 1)),
)
_PAIR_FEATURES: tuple[str, ...] = (
    "a_moves_first",
    "speed_ratio",
    "turns_to_ko_difference",
    "hits_to_ko_difference",
    "expected_damage_share_difference",
    "analytic_edge",
)
FEATURE_CHUNK = 1 << 14  # configurations per batch: bounds the tables' temporaries (~60 MB)
FEATURE_THREADS = min(2, os.cpu_count() or 1)  # batches built at once (each ~60 MB in flight)
FEATURE_COLUMNS: list[str] = [
    *(f"a_{name}" for name in _SIDE_FEATURES),
    *(f"b_{name}" for name in _SIDE_FEATURES),
    *_PAIR_FEATURES,
]


def _side_features(
    dex: Pokedex,
    side: SideMoves,
    moves: np.ndarray,
    random_policy: np.ndarray,
    best: np.ndarray,
    attacker: np.ndarray,
    level: np.ndarray,
    stats: np.ndarray,
    defender_hp: np.ndarray,
) -> dict[str, np.ndarray]:
    rows = np.arange(len(best))
    move = moves[rows, best]
    # The simulator's own per-use figures: each move's crit rate, hit counts and fixed damage.
    low_roll, high_roll = side.low[rows, best], side.high[rows, best]
    valid = moves >= 0
    slot_damage = np.where(valid, side.expected, 0.0)
    best_expected = slot_damage[rows, best]
    mean_expected = slot_damage.sum(axis=1) / np.maximum(side.count, 1)
    expected = np.where(random_policy, mean_expected, best_expected)
    slot_change = side.self_change
    self_change = np.where(
        random_policy, slot_change.sum(axis=1) / np.maximum(side.count, 1), slot_change[rows, best]
    )
    hits_low, hits_high = (
        np.where(roll > 0, np.ceil(defender_hp / np.maximum(roll, 1)), MAX_TURNS)
        for roll in (low_roll, high_roll)
    )
    turns = np.where(expected > 0, defender_hp / np.maximum(expected, 1e-9), MAX_TURNS)
    types = dex.type_indices[attacker]
    one_hot = np.zeros((len(best), len(TYPES)), dtype=np.float32)
    one_hot[rows, types[:, 0]] = 1.0
    one_hot[rows, types[:, 1]] = 1.0
    features: dict[str, np.ndarray] = {
        "level": level,
        "self_change": self_change,
        "expected": expected,
    }
    for i, name in enumerate(STAT_NAMES):
        features[f"stat_{name}"] = stats[:, i]
    for i, name in enumerate(TYPES):
        features[f"type_{name.lower()}"] = one_hot[:, i]
    features.update(
        move_power=dex.move_power[move] * dex.move_expected_hits[move],
        move_effectiveness=side.effectiveness[rows, best],
        move_stab=side.stab[rows, best],
        move_physical=dex.move_physical[move],
        move_accuracy=side.accuracy[rows, best],
        move_priority=side.priority[rows, best],
        moves_known=side.count,
        random_policy=random_policy,
        best_effectiveness=side.effectiveness.max(axis=1),
        expected_damage_share=expected / defender_hp,
        hits_to_ko_low_roll=np.minimum(hits_low, MAX_TURNS),
        hits_to_ko_high_roll=np.minimum(hits_high, MAX_TURNS),
        turns_to_ko=np.minimum(turns, MAX_TURNS),
    )
    return features


def _write_features(
    dex: Pokedex, batch: BattleArrays, tables: BattleTables, out: np.ndarray
) -> None:
    """Write the feature columns of one batch into `out` (rows of a column-major matrix)."""
    hp_a, hp_b = tables.hp_a, tables.hp_b
    side_a = _side_features(
        dex,
        tables.side_a,
        batch.moves_a,
        tables.random_a,
        tables.best_a,
        batch.a,
        batch.level_a,
        tables.stats_a,
        hp_b,
    )
    side_b = _side_features(
        dex,
        tables.side_b,
        batch.moves_b,
        tables.random_b,
        tables.best_b,
        batch.b,
        batch.level_b,
        tables.stats_b,
        hp_a,
    )
    priority_a, priority_b = side_a["move_priority"], side_b["move_priority"]
    speed_a, speed_b = tables.speed_a, tables.speed_b
    # With the random policy the move (so the priority) changes, so speed is the usual order.
    priority_a = np.where(tables.random_a, 0, priority_a)
    priority_b = np.where(tables.random_b, 0, priority_b)
    faster = np.where(speed_a > speed_b, 1.0, np.where(speed_a < speed_b, 0.0, 0.5))
    a_first = np.where(priority_a > priority_b, 1.0, np.where(priority_a < priority_b, 0.0, faster))
    columns: dict[str, np.ndarray] = {}
    columns.update({f"a_{k}": v for k, v in side_a.items()})
    columns.update({f"b_{k}": v for k, v in side_b.items()})
    columns["a_moves_first"] = a_first
    columns["speed_ratio"] = speed_a / np.maximum(speed_b, 1)
    # Drain and recoil change the HP race: what a side regains per turn slows the other's KO.
    for me, other, other_hp in (("a", side_b, hp_b), ("b", side_a, hp_a)):
        mine = side_a if me == "a" else side_b
        net = mine["expected"] - other["self_change"]
        with np.errstate(divide="ignore"):
            turns = np.where(net > 0, other_hp / np.maximum(net, 1e-9), MAX_TURNS)
        mine["turns_to_ko"] = np.minimum(turns, MAX_TURNS)
        columns[f"{me}_turns_to_ko"] = mine["turns_to_ko"]
    columns["turns_to_ko_difference"] = side_b["turns_to_ko"] - side_a["turns_to_ko"]
    columns["hits_to_ko_difference"] = side_b["hits_to_ko_low_roll"] - side_a["hits_to_ko_low_roll"]
    columns["expected_damage_share_difference"] = (
        side_a["expected_damage_share"] - side_b["expected_damage_share"]
    )
    analytic = race(dex, batch, tables)
    columns["a_analytic_win"], columns["b_analytic_win"] = analytic.a_wins, analytic.b_wins
    columns["analytic_edge"] = analytic.a_wins - analytic.b_wins
    for turn in range(KO_TURNS):
        columns[f"a_ko_within_{turn + 1}"] = analytic.a_ko[:, turn]
        columns[f"b_ko_within_{turn + 1}"] = analytic.b_ko[:, turn]
    for i, name in enumerate(FEATURE_COLUMNS):
        out[:, i] = columns[name]


def release_free_memory() -> None:
    """Hand the C heap's free memory back to the system (glibc's malloc_trim; elsewhere nothing).

    glibc gives each thread that allocates its own heap ("arena") and keeps what is freed there
    for reuse: after the threaded batches ~70 MB of their freed temporaries stayed mapped beside
    the fit's own memory, and the default training run's peak RSS rose 1.14x over the
    single-threaded tree's. One malloc_trim(0) after the pool returns it (BENCHMARKS.md, issue
    13: the side-by-side figures).
    """
    import ctypes  # off the serving start path: only a threaded feature build calls this

    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator keeps no such arenas
        return
    trim(0)


def feature_matrix(
    configs: pd.DataFrame | BattleArrays, dex: Pokedex | None = None, chunk: int = FEATURE_CHUNK
) -> np.ndarray:
    """Features as a float32 array of shape (n, len(FEATURE_COLUMNS)), column-major, no pandas.

    The serving fast path builds its one row with this; `build_features` wraps it in a table.
    """
    dex = dex or load_pokedex()
    batch = configs if isinstance(configs, BattleArrays) else arrays_from_frame(configs, dex)
    # Column-major: each feature is written contiguously and pandas keeps the block as is.
    matrix = np.empty((len(batch), len(FEATURE_COLUMNS)), dtype=np.float32, order="F")

    def write(start: int) -> None:  # one batch into its own rows: batches never share a row
        rows = slice(start, min(start + chunk, len(batch)))
        part = batch.take(rows)
        _write_features(dex, part, build_tables(dex, part), matrix[rows])

    starts = range(0, len(batch), chunk)
    if len(starts) > 1 and FEATURE_THREADS > 1:
        # numpy and scipy.fft release the GIL: on 2 idle cores the default dataset's features
        # take 2.3 s of wall instead of 3.7, bit for bit the same values (tested).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(FEATURE_THREADS, thread_name_prefix="features") as pool:
            for _ in pool.map(write, starts):
                pass
        release_free_memory()
    else:
        for start in starts:
            write(start)
    return matrix


def build_features(
    configs: pd.DataFrame | BattleArrays, dex: Pokedex | None = None, chunk: int = FEATURE_CHUNK
) -> pd.DataFrame:
    """Feature table (columns == FEATURE_COLUMNS, float32) for battle configurations."""
    import pandas as pd

    matrix = feature_matrix(configs, dex, chunk)
    return pd.DataFrame(matrix, columns=FEATURE_COLUMNS, copy=False)


class FeatureError(PredictionDexError, ValueError):
    """Feature rows that cannot be mirrored; the message says what to do."""


def _mirror_plan() -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
    """Source column of each mirrored column, the negated columns, and the Speed columns."""
    position = {name: i for i, name in enumerate(FEATURE_COLUMNS)}
    source = np.arange(len(FEATURE_COLUMNS))
    for name in _SIDE_FEATURES:
        source[position[f"a_{name}"]] = position[f"b_{name}"]
        source[position[f"b_{name}"]] = position[f"a_{name}"]
    negated = np.array([position[name] for name in _PAIR_FEATURES if name.endswith(
        ("_difference", "_edge"))])  # fmt: skip
    return (source, negated, position["a_moves_first"], position["speed_ratio"],
            position["a_stat_spe"], position["b_stat_spe"])  # fmt: skip


_MIRROR = _mirror_plan()


def mirror_rows(rows: np.ndarray) -> np.ndarray:
    """The feature rows of (B, A) from those of (A, B), exactly: shape (n, len(FEATURE_COLUMNS)).

    Side columns trade places, differences and the analytic edge change sign, who moves first
    becomes 1 − it (values 0, ½, 1), the Speed ratio is recomputed from the swapped Speeds as
    `feature_matrix` computes it. An involution: mirror_rows(mirror_rows(x)) == x. Raises
    FeatureError when rows do not have len(FEATURE_COLUMNS) columns.
    """
    rows = np.atleast_2d(rows)
    if rows.shape[1] != len(FEATURE_COLUMNS):
        raise FeatureError(
            f"Feature rows have {rows.shape[1]} columns, expected {len(FEATURE_COLUMNS)}: "
            "build them with core.features.feature_matrix()."
        )
    source, negated, first, ratio, spe_a, spe_b = _MIRROR
    out = rows[:, source]
    out[:, negated] = -out[:, negated]
    out[:, first] = 1 - out[:, first]
    speed_b, speed_a = rows[:, spe_b].astype(np.float64), rows[:, spe_a].astype(np.float64)
    out[:, ratio] = speed_b / np.maximum(speed_a, 1)
    return out
