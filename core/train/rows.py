"""Training rows from battles: one weighted row per (configuration, outcome), not per battle.

Battles that share a configuration (same Pokémon, levels, movesets and policies) have the same
features, so the fit sees each configuration at most twice: label 1 weighted by its wins and
label 0 weighted by its losses. The log loss (XGBoost) and the impurity (random forest) summed
over these rows equal those over the battles, for fewer rows.

The served probability is antisymmetric (q = ½ + (f(x) − f(mirror(x))) / 2), so the model is
also asked about mirrors: a configuration whose sides play different policies (B random) has a
mirror (A random) that the dataset never holds, and its mirror is added with the labels swapped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluate import FeatureRows
from core.features import FEATURE_COLUMNS, mirror_rows

_RANDOM_A = FEATURE_COLUMNS.index("a_random_policy")
_RANDOM_B = FEATURE_COLUMNS.index("b_random_policy")


def weighted_rows(
    features: FeatureRows, winner: np.ndarray, battles: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(X, y, sample_weight) for the battles `battles` (indices into the dataset).

    X has FEATURE_COLUMNS (float32), y is 0/1 (uint8), the weights are battle counts (float32,
    summing to 2·len(battles) at most: each battle once, plus its mirror when it has one).
    """
    battles = np.asarray(battles)
    table = features.table.to_numpy(np.float32)  # the stored block itself (no copy)
    if features.index is None:  # one row per battle: nothing to share
        used = battles
        wins, total = winner[battles].astype(np.float64), np.ones(len(battles))
    else:
        used, inverse = np.unique(features.index[battles], return_inverse=True)
        wins = np.bincount(inverse, weights=winner[battles], minlength=len(used))
        total = np.bincount(inverse, minlength=len(used)).astype(np.float64)
    mixed = np.flatnonzero(table[used, _RANDOM_A] != table[used, _RANDOM_B])
    # Rows: the configurations, then the mirrors of the mixed ones (labels swapped).
    source = np.concatenate([used, used[mixed]])
    wins = np.concatenate([wins, total[mixed] - wins[mixed]])
    total = np.concatenate([total, total[mixed]])
    losses = total - wins
    won, lost = np.flatnonzero(wins > 0), np.flatnonzero(losses > 0)
    picks = np.concatenate([won, lost])
    y = np.concatenate([np.ones(won.size, np.uint8), np.zeros(lost.size, np.uint8)])
    weight = np.concatenate([wins[won], losses[lost]]).astype(np.float32)
    matrix = np.take(table, source[picks], axis=0)  # the one copy of the training rows
    mirrored = np.flatnonzero(picks >= len(used))
    if mirrored.size:
        matrix[mirrored] = mirror_rows(matrix[mirrored])
    return pd.DataFrame(matrix, columns=FEATURE_COLUMNS, copy=False), y, weight


def with_mirrors(x: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Battle rows (FEATURE_COLUMNS, labels 1 = A wins) plus the mirror of each battle whose
    sides play different policies, label swapped: the rows `weighted_rows` fits, one per battle.

    Returns (X, y) with the original rows first; X is float32.
    """
    rows = x[FEATURE_COLUMNS].to_numpy(np.float32)
    mixed = np.flatnonzero(rows[:, _RANDOM_A] != rows[:, _RANDOM_B])
    matrix = np.concatenate([rows, mirror_rows(rows[mixed])])
    labels = np.concatenate([np.asarray(y), 1 - np.asarray(y)[mixed]])
    return pd.DataFrame(matrix, columns=FEATURE_COLUMNS, copy=False), labels
