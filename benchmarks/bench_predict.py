"""Serving latency: one prediction, the all-pairs matrix, loading Production from the registry.

Run: `python -m benchmarks.bench_predict [--battles 20000] [--repeats 7] [--no-server]`; prints
one JSON object with medians. A real model is trained first (before any clock starts) on a fresh
embedded store in a temporary folder; it becomes Production and the local fallback. Figures:
- `predict_p50_ms`: one `predict_winner` with the model loaded (random letsgo pairs, default
  movesets, explanation included, no simulation), target <= 5 ms;
- `fast_path`: warm `predict_winner` without explanation against the booster's own
  `inplace_predict` on the same one-row numpy array, interleaved in one loop (p50/p95 in ms and
  the ratio of the p50s, target <= 2): `repeated` asks about pairs already asked once (the
  resolved matchup and its features are cached), `first_time` about pairs never asked before;
- `matrix_letsgo_median_s`: `predict_matrix` over the whole letsgo roster (~35k pairs), <= 2 s;
- `load_production_*_median_s`: a fresh `PredictionModel(...).load()` resolving the alias,
  downloading and verifying the artifacts and loading them, from the embedded SQLite store and
  (unless --no-server) from a real `mlflow server` on 127.0.0.1, target <= 2 s
  (`..._first_model_s`: the first PredictionModel of the process; training opened the store).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core import artifacts
from core.config import Settings
from core.pokedex import load_pokedex
from core.predict import PredictionModel
from core.predict.answers import resolve
from core.registry import MLflowTracker, ensure_store
from core.train import TrainConfig, train_model

TARGETS = {
    "predict_p50_ms": 5.0,
    "fast_path_ratio": 2.0,
    "matrix_letsgo_median_s": 2.0,
    "load_production_median_s": 2.0,
}


def _percentiles(values: list[float]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 4),
        "p95_ms": round(float(np.percentile(values, 95)), 4),
    }


def _fast_path(model: PredictionModel, pairs: list[tuple[str, str]]) -> dict:
    """predict_winner (no explanation) and booster.inplace_predict, timed side by side."""
    served = model.get_model()
    booster = served.bundle.estimator.get_booster()
    ours, booster_ms = [], []
    for a, b in pairs:
        row = np.ascontiguousarray(resolve(served.roster, a, b, 50, 50, None, None)[1])
        booster.inplace_predict(row)
        start = time.perf_counter()
        booster.inplace_predict(row)
        booster_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        model.predict_winner(a, b)
        ours.append((time.perf_counter() - start) * 1000)
    result = {
        "predict_winner": _percentiles(ours),
        "booster_inplace_predict": _percentiles(booster_ms),
    }
    result["ratio_p50"] = round(float(np.median(ours) / np.median(booster_ms)), 2)
    return result


def _first_time(model: PredictionModel, pairs: list[tuple[str, str]]) -> dict:
    """predict_winner (no explanation) on pairs never asked before: resolution included."""
    times = []
    for a, b in pairs:
        start = time.perf_counter()
        model.predict_winner(a, b)
        times.append((time.perf_counter() - start) * 1000)
    return _percentiles(times)


def _median(values: list[float], digits: int = 4) -> float:
    return round(statistics.median(values), digits)


def _load_times(settings: Settings, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        model = PredictionModel(settings)  # a fresh cache: resolve, download, verify, load
        start = time.perf_counter()
        served = model.load()
        times.append(time.perf_counter() - start)
        assert served.source == "registry", model.fallback_reason
    return times


def _server_load_times(settings: Settings, workdir: Path, repeats: int) -> list[float]:
    """Register the trained model on a real `mlflow server` and time loading it from there."""
    from tests.servers import running_mlflow_server

    with running_mlflow_server(
        f"sqlite:///{workdir / 'server.db'}", workdir / "server-artifacts"
    ) as server:
        remote = replace(settings, tracking_uri=server.url, models_dir=workdir / "unused")
        tracker = MLflowTracker(settings=remote)
        folder = Path(settings.models_dir)
        tracker.start_run("bench_predict")
        tracker.log_model_dir(folder, artifacts.sha256_file(folder / artifacts.MANIFEST_FILE))
        version = tracker.register_model(remote.model_name, "bench_predict")
        tracker.end_run()
        tracker.promote_to_production(remote.model_name, version)
        return _load_times(remote, repeats)


def run(battles: int, repeats: int, with_server: bool) -> dict:
    """Train once, then time predictions, the matrix and loads; medians over the repeats."""
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as root:
        workdir = Path(root)
        settings = Settings(
            tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
            artifacts_dir=workdir / "mlartifacts",
            models_dir=workdir / "models",
            promotion_threshold=0.0,
        )
        ensure_store(settings)
        trained = train_model(
            TrainConfig(n_battles=battles, seed=7, oracle_sample=200, oracle_replays=50), settings
        )

        first_load_start = time.perf_counter()
        model = PredictionModel(settings)
        model.load()
        first_load = time.perf_counter() - first_load_start
        load_times = _load_times(settings, repeats)

        dex = load_pokedex("letsgo")
        rng = np.random.default_rng(0)
        pairs = [tuple(rng.choice(dex.pokemon_ids, size=2, replace=False)) for _ in range(1500)]
        first_time = _first_time(model, pairs[1000:])  # never asked before
        for a, b in pairs[:50]:  # warm-up
            model.predict_winner(a, b, explain=True)
        predict_ms = []
        for a, b in pairs[:500]:
            start = time.perf_counter()
            model.predict_winner(a, b, explain=True)
            predict_ms.append((time.perf_counter() - start) * 1000)
        fast = {"repeated": _fast_path(model, pairs[:500]), "first_time": first_time}

        model.predict_matrix(dex.pokemon_ids[:10])  # warm-up
        matrix_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            matrix = model.predict_matrix(dex.pokemon_ids)
            matrix_times.append(time.perf_counter() - start)

        server_times = _server_load_times(settings, workdir, repeats) if with_server else []

    result = {
        "model": {
            "type": model.served.model_type,
            "version": model.served.model_version,
            "trained_on_battles": battles,
            "test_accuracy": round(trained.metrics["test_accuracy"], 4),
        },
        "repeats": repeats,
        "predict_p50_ms": round(float(np.percentile(predict_ms, 50)), 3),
        "predict_p95_ms": round(float(np.percentile(predict_ms, 95)), 3),
        "predictions_timed": len(predict_ms),
        "fast_path": fast,
        "matrix_letsgo_pairs": int(matrix.notna().to_numpy().sum()),
        "matrix_letsgo_median_s": _median(matrix_times),
        "load_production_sqlite_first_model_s": round(first_load, 4),
        "load_production_sqlite_median_s": _median(load_times),
    }
    if server_times:
        result["load_production_server_median_s"] = _median(server_times)
    load_key = (
        "load_production_server_median_s" if server_times else "load_production_sqlite_median_s"
    )
    result["targets"] = TARGETS
    result["meets_targets"] = {
        "predict_p50_ms": result["predict_p50_ms"] <= TARGETS["predict_p50_ms"],
        "fast_path_ratio": fast["repeated"]["ratio_p50"] <= TARGETS["fast_path_ratio"],
        "matrix_letsgo_median_s": result["matrix_letsgo_median_s"]
        <= TARGETS["matrix_letsgo_median_s"],
        "load_production_median_s": result[load_key] <= TARGETS["load_production_median_s"],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI: print the serving benchmark as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_predict")
    parser.add_argument("--battles", type=int, default=20_000, help="training battles")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-server", action="store_true", help="skip the mlflow server load")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.battles, args.repeats, not args.no_server), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
