"""Tiny real models for tests: a few trees on a small seeded dataset, fitted in milliseconds.

Two kinds, one place each:
- `make_data` / `make_estimator` / `write_tiny_model`: an estimator fitted directly (5 trees) and,
  if needed, written in the model directory format, for tests of artifacts, registry and serving;
- `TINY_TRAINING` / `TINY_TRAINING_ARGS`: the smallest run of the real training pipeline
  (`train_model` or `python -m core.train`), for tests that need a model the pipeline made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_TYPES = ("xgboost", "random_forest")
TREES = 5

# A training that takes well under a second of CPU: the counts are what matter, not the model.
TINY_TRAINING: dict[str, Any] = {
    "n_battles": 1500,
    "oracle_sample": 0,
    "promotion_battles": 1000,  # the champion/challenger's fresh battles: the minimum
    "params": {"n_estimators": TREES, "max_depth": 3},
}
TINY_TRAINING_ARGS = [
    "--n-battles", "1500", "--oracle-sample", "0", "--promotion-battles", "1000",
    "--param", f"n_estimators={TREES}", "--param", "max_depth=3",
]  # fmt: skip


def make_data(
    columns: Sequence[str],
    n: int = 300,
    seed: int = 0,
    signal: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A seeded binary problem: X (n × len(columns), float32 normal) and y (n,) in {0, 1}.

    y = 1 where the weighted sum of the `signal` columns is positive (default: first column
    minus second). A negative weight flips what a model learns from that column.

    Raises:
        KeyError: a signal column is not one of `columns`.
    """
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(columns))).astype(np.float32), columns=list(columns))
    weights = signal if signal is not None else {columns[0]: 1.0, columns[1]: -1.0}
    score = sum(weight * X[column] for column, weight in weights.items())
    return X, (score > 0).astype(int).to_numpy()


def make_estimator(model_type: str, X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> Any:
    """A fitted tiny classifier: XGBoost (5 trees, depth 3) or RandomForest (5 trees, depth 4).

    Raises:
        ValueError: `model_type` is not one of MODEL_TYPES.
    """
    if model_type == "xgboost":
        import xgboost

        estimator = xgboost.XGBClassifier(n_estimators=TREES, max_depth=3, random_state=seed)
    elif model_type == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        estimator = RandomForestClassifier(n_estimators=TREES, max_depth=4, random_state=seed)
    else:
        raise ValueError(f"model_type {model_type!r}: use one of {MODEL_TYPES}")
    return estimator.fit(X, y)


def write_tiny_model(
    folder: Path,
    model_type: str = "xgboost",
    seed: int = 0,
    columns: Sequence[str] | None = None,
    signal: Mapping[str, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """Fit a tiny model and write it to `folder` in the model directory format.

    `columns` defaults to the project's FEATURE_COLUMNS (a model serving can use); `metadata` is
    added to {"feature_columns": columns}. Returns the manifest's sha256 (the trust anchor).
    """
    from core.artifacts import write_model_dir

    if columns is None:
        from core.features import FEATURE_COLUMNS

        columns = FEATURE_COLUMNS
    X, y = make_data(columns, seed=seed, signal=signal)
    estimator = make_estimator(model_type, X, y, seed=seed)
    data = {"feature_columns": list(columns), **(metadata or {})}
    return write_model_dir(estimator, model_type, data, folder)


def write_matchup_model(folder: Path, faster_wins: bool = True, seed: int = 0) -> str:
    """A tiny XGBoost fitted on the REAL features of random level-50 pairs, written to `folder`.

    Its answer moves with the matchup (unlike a model fitted on random numbers): A's chance grows
    with its Speed edge, or shrinks with it when `faster_wins` is False (a model that disagrees
    with the simulator on purpose). Returns the manifest's sha256.
    """
    import xgboost

    from core import artifacts, battle, features
    from core.pokedex import load_pokedex

    dex = load_pokedex("letsgo")
    rng = np.random.default_rng(seed)
    count = 400
    a, b = (rng.integers(0, len(dex.pokemon_ids), count) for _ in range(2))
    levels = np.full(count, 50)
    arrays = battle.BattleArrays(
        a=a.astype(np.int32), b=b.astype(np.int32), level_a=levels, level_b=levels,
        moves_a=battle.default_moves_indices(dex, a, b, levels, levels),
        moves_b=battle.default_moves_indices(dex, b, a, levels, levels),
        random_a=np.zeros(count, dtype=bool), random_b=np.zeros(count, dtype=bool),
    )  # fmt: skip
    X = features.build_features(arrays, dex)
    edge = (X["a_stat_spe"] - X["b_stat_spe"]).to_numpy() / 30.0
    y = (rng.random(count) < 1 / (1 + np.exp(-edge))).astype(int)  # graded, not a step
    y = y if faster_wins else 1 - y
    estimator = xgboost.XGBClassifier(n_estimators=TREES, max_depth=3, random_state=seed)
    metadata = {"feature_columns": features.FEATURE_COLUMNS, "roster": "letsgo"}
    return artifacts.write_model_dir(estimator.fit(X, y), "xgboost", metadata, folder)
