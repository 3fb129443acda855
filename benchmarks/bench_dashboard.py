"""Dashboard server time with AppTest: the Models page over N versions, a Predict interaction.

Builds a fresh embedded store with one real trained model (v1) and N-1 more registered versions
of a real XGBoost model on the real features (with varied metrics and a trail of promotions),
then times the real app/main.py router with Streamlit's AppTest (script run time, no browser):

- Models page, cold: the registry tables are re-read from the store on every run;
- Models page, warm: a rerun with the tables cached (the TTL cache of app/cache.py);
- Predict interaction: change Pokémon A (the prediction and the page re-render).

Targets (issue 5): Models page with 200 versions <= 2 s, a Predict interaction <= 300 ms.
Run: `python -m benchmarks.bench_dashboard [--versions 200] [--repeats 7]`; prints one JSON object.

`--during-training` (issue 14) instead times the Models page (cold) idle, then while a default
training (the Train page's defaults) runs as a job in its own process (core.jobs), and reports
the ratio; target <= 2x.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core import artifacts
from core.config import Settings
from core.dataset import generate_dataset
from core.features import FEATURE_COLUMNS, build_features
from core.registry import MLflowTracker
from core.train import TrainConfig, make_estimator, train_model

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"
MODELS_TARGET_SECONDS = 2.0
PREDICT_TARGET_SECONDS = 0.3
PROMOTIONS = 20
GROUP_EXTRA = [
    "pikachu",
    "charizard",
    "onix",
    "lapras",
    "jolteon",
    "arcanine",
    "machamp",
    "golem",
    "starmie",
    "exeggutor",
    "kangaskhan",
    "aerodactyl",
    "articuno",
    "zapdos",
]
OPPONENTS = ["mewtwo", "snorlax", "gengar", "dragonite", "blastoise", "venusaur", "alakazam"]


def build_store(root: Path, versions: int) -> Settings:
    """A store with `versions` registered versions (v1 really trained, the rest registered)."""
    settings = Settings(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifacts_dir=root / "mlartifacts",
        models_dir=root / "models",
    )
    train_model(
        TrainConfig(n_battles=4000, oracle_sample=200, oracle_replays=100, threshold=0.0), settings
    )
    data = generate_dataset(4000, 3, "all", 50, "letsgo")
    features = build_features(data.arrays, data.dex)
    estimator = make_estimator("xgboost", {"n_estimators": 150, "max_depth": 6}, 3)
    estimator.fit(features, data.winner)
    tracker = MLflowTracker(settings=settings)
    rng = np.random.default_rng(0)
    promote_every = max((versions - 1) // PROMOTIONS, 1)
    for index in range(2, versions + 1):
        folder = root / "scratch" / f"model-{index}"
        metadata = {"feature_columns": FEATURE_COLUMNS, "roster": "letsgo"}
        sha = artifacts.write_model_dir(estimator, "xgboost", metadata, folder)
        accuracy = float(rng.uniform(0.86, 0.95))
        tracker.start_run(f"bench_{index}", tags={"model_type": "xgboost"})
        tracker.log_params({"n_estimators": 150, "max_depth": 6})
        tracker.log_metrics(
            {
                "test_accuracy": accuracy,
                "test_f1": accuracy + 0.002,
                "test_roc_auc": accuracy + 0.04,
                "oracle_accuracy": 0.95,
                "oracle_gap": 0.95 - accuracy,
                "train_accuracy": 0.99,
                "overfitting": 0.99 - accuracy,
                "test_log_loss": 0.2,
                "test_brier": 0.05,
            }
        )
        tracker.log_model_dir(folder, sha)
        version = tracker.register_model(settings.model_name, f"bench version {index}")
        tracker.end_run()
        shutil.rmtree(folder)
        if index % promote_every == 0:
            tracker.promote_to_production(
                settings.model_name, version, reason="bench", user="bench"
            )
    return settings


def _timed_run(app, action=None) -> float:
    started = time.perf_counter()
    (action(app) if action else app).run()
    seconds = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"the page raised: {[e.value for e in app.exception]}")
    return seconds


def measure(settings: Settings, repeats: int) -> dict:
    """Time the Models page (cold and warm) and Predict interactions with AppTest."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update(
        MLFLOW_TRACKING_URI=settings.tracking_uri,
        PREDICTIONDEX_ARTIFACTS_DIR=str(settings.artifacts_dir),
        PREDICTIONDEX_MODELS_DIR=str(settings.models_dir),
    )
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(MAIN), default_timeout=120)
    app.run()  # Home: loads the serving model once, as a real first visit does
    app.switch_page("../pages/models.py")
    first = _timed_run(app)
    cold, warm = [], []
    for _ in range(repeats):
        st.cache_data.clear()  # registry tables re-read from the store
        cold.append(_timed_run(app))
        warm.append(_timed_run(app))
    rows = len(app.dataframe[0].value)  # the versions table really holds every version

    app.switch_page("../pages/predict.py").run()
    app.button(key="predict_ask").click().run()
    interactions = []
    for opponent in OPPONENTS * max(1, repeats // len(OPPONENTS) + 1):
        interactions.append(
            _timed_run(app, lambda a, o=opponent: a.selectbox(key="predict_pokemon_a").set_value(o))
        )
    asks = [_timed_run(app, lambda a: a.button(key="predict_ask").click()) for _ in range(repeats)]
    groups = []  # a new heat-map group: predict_matrix over every pair (not cached yet)
    for start in range(repeats):
        group = [OPPONENTS[(start + i) % len(OPPONENTS)] for i in range(5)] + GROUP_EXTRA[start:][
            :7
        ]
        groups.append(
            _timed_run(app, lambda a, g=group: a.multiselect(key="predict_group").set_value(g))
        )
    cold_median, interaction_median = statistics.median(cold), statistics.median(interactions)
    return {
        "models_page_first_run_s": round(first, 4),
        "models_page_cold_median_s": round(cold_median, 4),
        "models_page_cold_max_s": round(max(cold), 4),
        "models_page_warm_median_s": round(statistics.median(warm), 4),
        "predict_change_pokemon_median_s": round(interaction_median, 4),
        "predict_change_pokemon_max_s": round(max(interactions), 4),
        "predict_ask_median_s": round(statistics.median(asks), 4),
        "predict_new_heatmap_group_of_12_median_s": round(statistics.median(groups), 4),
        "versions_table_rows": rows,
        "models_target_s": MODELS_TARGET_SECONDS,
        "predict_target_s": PREDICT_TARGET_SECONDS,
        "models_within_target": cold_median <= MODELS_TARGET_SECONDS,
        "predict_within_target": interaction_median <= PREDICT_TARGET_SECONDS,
    }


def measure_during_training(settings: Settings, repeats: int) -> dict:
    """Models page (cold) idle, then while a default training job runs; medians and ratio."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.jobs import JobQueue, TrainingJob
    from core.train import STARTER_BATTLES

    os.environ.update(settings.to_env())
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(MAIN), default_timeout=120)
    app.run()
    app.switch_page("../pages/models.py")
    _timed_run(app)

    def cold() -> float:
        st.cache_data.clear()
        return _timed_run(app)

    idle = [cold() for _ in range(repeats)]
    config = TrainConfig(n_battles=STARTER_BATTLES, version_label="bench-load")
    job = JobQueue().submit(TrainingJob(config, settings))
    while job.view().state == "queued" or job.view().steps[0].state == "pending":
        time.sleep(0.2)  # measure once the training process works, not while it starts
    loaded, steps = [], []
    while not job.finished and len(loaded) < repeats * 3:
        loaded.append(cold())
        steps.append(next((s.name for s in job.view().steps if s.state == "running"), "-"))
    job.wait(600)
    idle_median, loaded_median = statistics.median(idle), statistics.median(loaded)
    return {
        "models_page_idle_median_s": round(idle_median, 4),
        "models_page_during_training_median_s": round(loaded_median, 4),
        "models_page_during_training_max_s": round(max(loaded), 4),
        "samples_during_training": len(loaded),
        "training_steps_seen": sorted(set(steps)),
        "training_seconds": round(job.view().elapsed_seconds, 1),
        "training_state": job.view().state,
        "ratio": round(loaded_median / idle_median, 2),
        "within_target": loaded_median <= 2 * idle_median,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Build the store, measure, print JSON; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_dashboard")
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--during-training", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("mlflow", "alembic", "streamlit", "core"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    try:
        started = time.perf_counter()
        settings = build_store(root, args.versions)
        build_seconds = time.perf_counter() - started
        result = {"versions": args.versions, "repeats": args.repeats}
        if args.during_training:
            result.update(measure_during_training(settings, args.repeats))
        else:
            result.update(measure(settings, args.repeats))
        result["store_build_s"] = round(build_seconds, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.during_training:
        return 0 if result["within_target"] else 1
    return 0 if result["models_within_target"] and result["predict_within_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
