"""Registry timings on a fresh SQLite store: log+register, promote, load, compare over N versions.

Run: `python -m benchmarks.bench_registry [--versions 200] [--repeats 7]`; prints one JSON object
(medians in seconds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost

from core import artifacts, registry
from core.config import Settings

COLUMNS = [f"feature_{i}" for i in range(30)]
MODEL_NAME = "bench_battle_winner_predictor"


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def run(versions: int, repeats: int) -> dict:
    """Build a store with `versions` versions and time the registry operations on it."""
    root = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    settings = Settings(
        tracking_uri=f"sqlite:///{root}/mlflow.db",
        artifacts_dir=root / "mlartifacts",
        models_dir=root / "models",
    )
    store_seconds, tracker = _timed(registry.MLflowTracker, settings=settings)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2000, len(COLUMNS))).astype(np.float32), columns=COLUMNS)
    y = (X.iloc[:, 0] > 0).astype(int).to_numpy()
    estimator = xgboost.XGBClassifier(n_estimators=100, max_depth=6).fit(X, y)
    write_times, log_register_times = [], []
    for index in range(versions):
        folder = root / f"model-{index}"
        seconds, sha = _timed(
            artifacts.write_model_dir, estimator, "xgboost", {"feature_columns": COLUMNS}, folder
        )
        write_times.append(seconds)
        tracker.start_run(f"bench_{index}")
        tracker.log_params({"n_estimators": 100, "max_depth": 6, "index": index})
        tracker.log_metrics(
            {
                "test_accuracy": 0.8 + index / (versions * 10),
                "test_f1": 0.8,
                "test_roc_auc": 0.9,
                "oracle_accuracy": 0.95,
            }
        )
        start = time.perf_counter()
        tracker.log_model_dir(folder, sha)
        tracker.register_model(MODEL_NAME, f"xgboost - Accuracy: {0.8:.4f}")
        log_register_times.append(time.perf_counter() - start)
        tracker.end_run()
    promote_times = []
    for index in range(repeats):
        seconds, _ = _timed(
            tracker.promote_to_production, MODEL_NAME, index % versions + 1, reason="bench"
        )
        promote_times.append(seconds)
    compare_times = [_timed(tracker.compare_models, MODEL_NAME)[0] for _ in range(repeats)]
    load_times = [
        _timed(registry.load_model_from_registry, MODEL_NAME, settings=settings)[0]
        for _ in range(repeats)
    ]
    frame = tracker.compare_models(MODEL_NAME)
    assert len(frame) == versions
    shutil.rmtree(root, ignore_errors=True)
    return {
        "versions": versions,
        "repeats": repeats,
        "store_create_s": round(store_seconds, 4),
        "write_model_dir_median_s": round(statistics.median(write_times[1:] or write_times), 4),
        "write_model_dir_first_s": round(write_times[0], 4),
        "log_model_dir_plus_register_median_s": round(statistics.median(log_register_times), 4),
        "log_model_dir_plus_register_max_s": round(max(log_register_times), 4),
        "promote_median_s": round(statistics.median(promote_times), 4),
        f"compare_models_{versions}_versions_median_s": round(statistics.median(compare_times), 4),
        "load_model_from_registry_median_s": round(statistics.median(load_times), 4),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: print the registry benchmark as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_registry")
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.versions, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
