"""Evaluation and champion/challenger costs (issue 12).

Run: `python -m benchmarks.bench_evaluate`; prints one JSON object:
- `default_run`: a default training run (200,000 battles, default hyperparameters, MLflow on a
  fresh SQLite store, no Production yet) and the share of its wall time spent in the evaluate
  step, plus what the new parts (matchup calibration, report, paired gap) add over the seed's
  metrics + oracle on the same trained model;
- `second_run`: a second default run under beats_production (the champion/challenger on
  100,000 fresh battles is in its promote step);
- `compare_versions`: 200,000 fresh battles, first call (simulates) and cached call;
- `models_page`: AppTest server time of the Models page with the compare view of two versions,
  once the comparison and the reports are cached (median of 5 reruns).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from core.config import Settings
from core.registry import ensure_store
from core.train import TrainConfig, train_model


def _settings(root: Path) -> Settings:
    settings = Settings(tracking_uri=f"sqlite:///{root}/mlflow.db",
                        artifacts_dir=root / "mlartifacts", models_dir=root / "models")  # fmt: skip
    ensure_store(settings)
    return settings


def _added_cost(seed: int) -> dict:
    """Seconds of evaluate_model with and without the new parts, on one trained model."""
    from core.dataset import generate_dataset, split_by_matchup
    from core.evaluate import FeatureRows, evaluate_model
    from core.train import make_estimator, validate_params

    data = generate_dataset(200_000, seed=seed)
    features, split = FeatureRows.of(data), split_by_matchup(data, 0.2, seed)
    model = make_estimator("xgboost", validate_params("xgboost", {}), seed)
    model.fit(features.rows(split["train"]), data.winner[split["train"]])
    timings = {}
    for name, extra in (("seed_metrics_and_oracle", dict(matchup_pairs=0, with_report=False)),
                        ("full", {})):  # fmt: skip
        start = time.perf_counter()
        evaluate_model(model, data, split["test"], features=features, oracle_sample=2000, seed=seed,
                       **extra)  # fmt: skip
        timings[name] = round(time.perf_counter() - start, 3)
    return timings


def _page_seconds(settings: Settings) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ.update(MLFLOW_TRACKING_URI=settings.tracking_uri,
                      PREDICTIONDEX_ARTIFACTS_DIR=str(settings.artifacts_dir),
                      PREDICTIONDEX_MODELS_DIR=str(settings.models_dir))  # fmt: skip
    main = Path(__file__).resolve().parent.parent / "app" / "main.py"
    app = AppTest.from_file(str(main), default_timeout=300)
    app.run()
    app.switch_page("../pages/models.py").run()
    app.selectbox(key="models_selected_version").set_value(2).run()
    app.selectbox(key="models_compare_with").set_value(1).run()
    app.button(key="models_compare_run").click().run()  # computes and caches the comparison
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - start)
    assert not app.exception, [e.value for e in app.exception]
    return seconds


def run() -> dict:
    """Every figure of the module docstring."""
    from core.evaluate.stored import compare_versions

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as root:
        settings = _settings(Path(root))
        for name, seed in (("default_run", 42), ("second_run", 43)):
            start = time.perf_counter()
            result = train_model(TrainConfig(seed=seed, export_local=False), settings)
            wall = time.perf_counter() - start
            out[name] = {"wall_seconds": round(wall, 2), "steps": result.seconds,
                         "evaluate_share": round(result.seconds["evaluate"] / wall, 3),
                         "promotion": result.promotion_message}  # fmt: skip
        out["default_run"]["added_by_issue_12"] = _added_cost(42)
        for label in ("first", "cached"):
            start = time.perf_counter()
            compared = compare_versions(2, 1, settings=settings, n_battles=200_000)
            out[f"compare_versions_200k_{label}_seconds"] = round(time.perf_counter() - start, 2)
        out["compare_verdict"] = compared.comparison.verdict
        seconds = _page_seconds(settings)
        out["models_page_compare_cached_seconds"] = {"median": round(statistics.median(seconds), 3),
                                                     "max": round(max(seconds), 3)}  # fmt: skip
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
