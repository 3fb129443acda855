"""Matchup calibration against the truth: held-out ordered pairs at default movesets, level 50.

q comes from the serving code's probability function (`core.predict`'s scorer), so what is
measured is what the dashboard and the API answer; p is re-simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.battle import BattleArrays, default_moves_indices
from core.dataset import BattleDataset
from core.evaluate.oracle import oracle_probabilities
from core.pokedex import Pokedex

MATCHUP_LEVEL = 50
WRONG_SIDE_MARGIN = 0.05  # a pair counts as "wrong side" only when |p - ½| > this
DEFAULT_MATCHUP_PAIRS = 600  # unordered pairs sampled (each measured in both orders)
MATCHUP_SALT = 7727


@dataclass(frozen=True)
class MatchupCalibration:
    """|q − p| over held-out ordered pairs (probabilities in [0, 1]).

    Fields: matchup_mae (mean), matchup_p95 (95th percentile), matchup_max (maximum),
    matchup_wrong_side (share of pairs with |p − ½| > 0.05 where q is on the other side of ½),
    antisymmetry_max (max |q(A,B) + q(B,A) − 1|), pairs (ordered pairs measured).
    """

    matchup_mae: float
    matchup_p95: float
    matchup_max: float
    matchup_wrong_side: float
    antisymmetry_max: float
    pairs: int

    def as_dict(self) -> dict[str, float]:
        """The five MLflow metrics (pairs excluded)."""
        return {
            "matchup_mae": self.matchup_mae,
            "matchup_p95": self.matchup_p95,
            "matchup_max": self.matchup_max,
            "matchup_wrong_side": self.matchup_wrong_side,
            "antisymmetry_max": self.antisymmetry_max,
        }


def pair_arrays(dex: Pokedex, a: np.ndarray, b: np.ndarray, level: int = MATCHUP_LEVEL):
    """Simulator arrays for the ordered pairs (a[i], b[i]) at one level, default movesets."""
    levels = np.full(len(a), level, dtype=np.int32)
    no = np.zeros(len(a), dtype=bool)
    a, b = a.astype(np.int32), b.astype(np.int32)
    moves_a = default_moves_indices(dex, a, b, levels, levels)
    moves_b = default_moves_indices(dex, b, a, levels, levels)
    return BattleArrays(a, b, levels, levels, moves_a, moves_b, no, no)


def held_out_pairs(data: BattleDataset, rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Up to `limit` distinct unordered pairs (shape (k, 2), a < b) among `rows`' matchups."""
    size = len(data.dex.pokemon_ids)
    keys = np.unique(data.matchup_keys()[np.asarray(rows)])
    keys = keys[(keys // size) != (keys % size)]  # no mirror: its truth is ½ by symmetry
    if keys.size > limit:
        keys = np.sort(np.random.default_rng([seed, MATCHUP_SALT]).choice(keys, limit, False))
    return np.column_stack([keys // size, keys % size])


def served_probability(model, arrays: BattleArrays, dex: Pokedex) -> np.ndarray:
    """P(A wins) as serving answers it, shape (n,): the model wrapped in serving's scorer."""
    from core.artifacts import ModelBundle
    from core.features import FEATURE_COLUMNS, feature_matrix
    from core.predict.scoring import RowScorer

    if not isinstance(model, ModelBundle):
        kind = "xgboost" if type(model).__name__.startswith("XGB") else "random_forest"
        model = ModelBundle(estimator=model, model_type=kind, feature_columns=list(FEATURE_COLUMNS))
    return np.asarray(RowScorer(model).predict_proba(feature_matrix(arrays, dex)), dtype=float)


def pair_truth(dex: Pokedex, pairs: np.ndarray, *, replays: int = 400, seed: int = 0):
    """(arrays, p) for unordered `pairs` (k, 2) as (A,B) then (B,A): 2k rows, p re-simulated."""
    a = np.concatenate([pairs[:, 0], pairs[:, 1]])
    b = np.concatenate([pairs[:, 1], pairs[:, 0]])
    arrays = pair_arrays(dex, a, b)
    fake = BattleDataset(dex, arrays, np.zeros(len(a), np.uint8), np.zeros(len(a), np.int8), seed)
    return arrays, oracle_probabilities(fake, replays=replays, seed=seed + MATCHUP_SALT)


def matchup_calibration(
    model, dex: Pokedex, pairs: np.ndarray, *, replays: int = 400, seed: int = 0, truth=None
) -> MatchupCalibration:
    """Calibration of `model` on unordered `pairs` (k, 2), each measured as (A,B) and (B,A).

    `truth` reuses `pair_truth`'s answer (two models on the same pairs simulate once). Raises
    DatasetError when replays < 1; returns NaN metrics for no pairs.
    """
    if len(pairs) == 0:
        nan = float("nan")
        return MatchupCalibration(nan, nan, nan, nan, nan, 0)
    arrays, p = truth or pair_truth(dex, pairs, replays=replays, seed=seed)
    q = served_probability(model, arrays, dex)
    error = np.abs(q - p)
    decided = np.abs(p - 0.5) > WRONG_SIDE_MARGIN
    wrong = decided & ((q > 0.5) != (p > 0.5))
    half = len(pairs)
    return MatchupCalibration(
        matchup_mae=float(error.mean()),
        matchup_p95=float(np.quantile(error, 0.95)),
        matchup_max=float(error.max()),
        matchup_wrong_side=float(wrong.sum() / max(int(decided.sum()), 1)),
        antisymmetry_max=float(np.abs(q[:half] + q[half:] - 1.0).max()),
        pairs=len(p),
    )
