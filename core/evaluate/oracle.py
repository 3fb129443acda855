"""The oracle, and a model's paired gap to it on the SAME rows.

Every configuration has a true win probability p (estimated by re-simulating it). The oracle
accuracy is mean(max(p, 1 - p)); a model answering q has the expected accuracy
mean(p·[q > ½] + (1 − p)·[q ≤ ½]) on the same rows, so the excess error (oracle minus model) is
≥ 0 row by row, by construction. Computed here only, with one random salt, so the dataset CLI
and training agree on the same data and seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.battle import simulate_arrays
from core.dataset import BattleDataset, DatasetError
from core.evaluate.stats import Interval, bootstrap_mean

ORACLE_SAMPLE_SALT = 15485863  # picks which configurations are replayed
ORACLE_REPLAY_SALT = 104729  # drives the replays themselves


def oracle_probabilities(
    data: BattleDataset, replays: int = 400, seed: int = 0, chunk_battles: int = 1 << 20
) -> np.ndarray:
    """P(A wins) of each battle's configuration, shape (n,), from `replays` re-simulations.

    Raises DatasetError when replays < 1.
    """
    if replays < 1:
        raise DatasetError("replays must be at least 1.")
    rng = np.random.default_rng([seed, ORACLE_REPLAY_SALT])
    per_chunk = max(1, chunk_battles // replays)
    out = np.empty(len(data), dtype=np.float64)
    for start in range(0, len(data), per_chunk):
        rows = np.arange(start, min(start + per_chunk, len(data)))
        index = np.repeat(np.arange(rows.size), replays)
        wins = simulate_arrays(data.dex, data.arrays.take(rows), rng, index=index)
        out[rows] = wins.reshape(rows.size, replays).mean(axis=1)
    return out


def oracle_row_accuracy(p: np.ndarray) -> np.ndarray:
    """The best expected accuracy on each row, max(p, 1 - p), shape of p."""
    p = np.asarray(p, dtype=np.float64)
    return np.maximum(p, 1 - p)


def oracle_sample_rows(rows: np.ndarray, sample: int, seed: int) -> np.ndarray:
    """The seeded, sorted sample of `rows` the oracle replays (all when fewer than `sample`).

    Raises DatasetError when there is nothing to sample.
    """
    rows = np.asarray(rows)
    if sample < 1 or rows.size == 0:
        raise DatasetError("The oracle needs at least one battle: use a sample of 1 or more.")
    rng = np.random.default_rng([seed, ORACLE_SAMPLE_SALT])
    return np.sort(rng.choice(rows, size=min(sample, rows.size), replace=False))


def oracle_accuracy(
    data: BattleDataset,
    rows: np.ndarray | None = None,
    *,
    sample: int = 2000,
    replays: int = 400,
    seed: int = 0,
) -> float:
    """mean(max(p, 1 - p)) over a seeded sample of `rows` (all battles when None), in [0.5, 1].

    Raises DatasetError when there is nothing to sample or replays < 1.
    """
    rows = np.arange(len(data)) if rows is None else np.asarray(rows)
    chosen = oracle_sample_rows(rows, sample, seed)
    p = oracle_probabilities(data.take(chosen), replays=replays, seed=seed)
    return float(oracle_row_accuracy(p).mean())


@dataclass(frozen=True)
class OracleGap:
    """A model against the oracle on the same rows (accuracies are expectations in [0, 1]).

    Fields: oracle_accuracy (mean max(p, 1 − p)), expected_accuracy (the model's expected
    accuracy under the true p), excess_error (their difference, ≥ 0, with its bootstrap 95%
    interval), rows (battles replayed).
    """

    oracle_accuracy: float
    expected_accuracy: float
    excess_error: Interval
    rows: int


def paired_oracle_gap(p: np.ndarray, q: np.ndarray, seed: int = 0) -> OracleGap:
    """The paired gap of predictions q to the truth p (both shape (n,)) on the same rows.

    Raises StatisticsError when there are no rows.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    best = oracle_row_accuracy(p)
    expected = np.where(q > 0.5, p, 1.0 - p)
    excess = np.maximum(best - expected, 0.0)  # exactly 0 or |2p - 1| per row; clip rounding
    return OracleGap(float(best.mean()), float(expected.mean()), bootstrap_mean(excess, seed=seed),
                     len(p))  # fmt: skip
