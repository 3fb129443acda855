"""The one dataset every trial shares: simulated once, split by matchup, cached by its hash.

Trials fit on the `fit` part and are scored on the `valid` part: matchups held out of the
training rows (the split the final retraining uses keeps its test matchups out of both). The
features and labels are written once as parquet under the cache folder, named by a hash of
what defines them; every worker (and every later search on the same data) reads that file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.dataset import (
    DEFAULT_TEST_FRACTION,
    LevelRange,
    generate_dataset,
    split_by_matchup,
    write_parquet_atomically,
)
from core.evaluate import FeatureRows
from core.features import FEATURE_COLUMNS

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the cached table's layout or the split rule changes
VALID_FRACTION = 0.25  # share of the training matchups that scores the trials
SCENARIO = "all"
ROSTER = "letsgo"
LEVEL = LevelRange(50, 50)


@dataclass(frozen=True)
class SearchData:
    """Features (FEATURE_COLUMNS) and labels (1 = A wins) of the fit and valid parts.

    Fields: fit_x (n_fit, n_features), fit_y (n_fit,), valid_x, valid_y, key (the cache key),
    data_hash (of the simulated battles), seconds (to build, or to read the cache).
    """

    fit_x: pd.DataFrame
    fit_y: np.ndarray
    valid_x: pd.DataFrame
    valid_y: np.ndarray
    key: str
    data_hash: str
    seconds: float
    from_cache: bool


def cache_key(n_battles: int, seed: int) -> str:
    """A hash of everything that defines the shared dataset (16 hex characters)."""
    spec = {
        "format": CACHE_FORMAT, "n_battles": n_battles, "seed": seed, "scenario": SCENARIO,
        "roster": ROSTER, "level": [LEVEL.low, LEVEL.high], "test": DEFAULT_TEST_FRACTION,
        "valid": VALID_FRACTION, "features": list(FEATURE_COLUMNS),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_table(n_battles: int, seed: int) -> tuple[pd.DataFrame, str]:
    """Simulate, split by matchup, build features: (table with 'winner' and 'part', data_hash)."""
    from core.train import data_hash

    data = generate_dataset(n_battles, seed, SCENARIO, LEVEL, ROSTER)
    # The same train/test split as the final retraining (train_model), then a held-out part of
    # the training matchups to score trials: the test matchups are never seen by the search.
    train_rows = split_by_matchup(data, DEFAULT_TEST_FRACTION, seed)["train"]
    inner = split_by_matchup(data.take(train_rows), VALID_FRACTION, seed + 1)
    features = FeatureRows.of(data)
    parts = []
    for name, rows in (("fit", train_rows[inner["train"]]), ("valid", train_rows[inner["test"]])):
        table = features.rows(rows)
        table["winner"] = data.winner[rows].astype(np.int8)
        table["part"] = name
        parts.append(table)
    return pd.concat(parts, ignore_index=True), data_hash(data)


def load_search_data(n_battles: int, seed: int, folder: Path) -> SearchData:
    """The shared dataset from the cache, built (under a file lock) when it is not there yet."""
    from filelock import FileLock

    key = cache_key(n_battles, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path, sidecar = folder / f"search-{key}.parquet", folder / f"search-{key}.json"
    clock = time.perf_counter()
    from_cache = True
    with FileLock(str(folder / f"search-{key}.lock"), timeout=600):
        if not (path.is_file() and sidecar.is_file()):
            table, digest = build_table(n_battles, seed)
            write_parquet_atomically(table, path)
            sidecar.write_text(json.dumps({"data_hash": digest, "rows": len(table)}))
            from_cache = False
    table = pd.read_parquet(path)
    digest = json.loads(sidecar.read_text())["data_hash"]
    seconds = time.perf_counter() - clock
    fit, valid = table[table["part"] == "fit"], table[table["part"] == "valid"]
    logger.info("search data %s: %d fit, %d valid rows", key, len(fit), len(valid))
    return SearchData(
        fit[list(FEATURE_COLUMNS)].reset_index(drop=True), fit["winner"].to_numpy(),
        valid[list(FEATURE_COLUMNS)].reset_index(drop=True), valid["winner"].to_numpy(),
        key, digest, seconds, from_cache,
    )  # fmt: skip
