"""Batch predictions and the Predict page, server time (issue 13).

- batch: `core.predict.batch_csv.predict_csv` on a 10,000-row CSV (random letsgo pairs, levels
  1..100, a quarter of the rows with given moves, 2 % invalid rows), then `write_batch_csv`:
  the work of the page's upload and of `python -m core.predict batch`; wall and CPU seconds.
- Predict interaction: the real app/main.py router under AppTest, Predict page, change Pokémon B
  (prediction, explanation, heat map from cache, re-render); script run time, no browser.

The model is an XGBoost of 100 trees, depth 6, fitted on the real features of 20,000 random
configurations (the default model's size class), served as the local fallback.
Targets: 10,000 rows <= 2 s; a Predict interaction <= 300 ms.
Run: `python -m benchmarks.bench_batch [--repeats 5]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core import artifacts, battle, features
from core.config import Settings
from core.pokedex import load_pokedex

ROOT = Path(__file__).resolve().parent.parent


def install_model(root: Path) -> Settings:
    """A default-sized XGBoost on real features as the local fallback under `root`."""
    import xgboost

    dex = load_pokedex("letsgo")
    rng = np.random.default_rng(0)
    count = 20_000
    a, b = (rng.integers(0, len(dex.pokemon_ids), count) for _ in range(2))
    levels = rng.integers(1, 101, count)
    arrays = battle.BattleArrays(
        a=a.astype(np.int32), b=b.astype(np.int32), level_a=levels, level_b=levels,
        moves_a=battle.default_moves_indices(dex, a, b, levels, levels),
        moves_b=battle.default_moves_indices(dex, b, a, levels, levels),
        random_a=np.zeros(count, dtype=bool), random_b=np.zeros(count, dtype=bool),
    )  # fmt: skip
    X = features.build_features(arrays, dex)
    y = battle.simulate_arrays(dex, arrays, 0)
    estimator = xgboost.XGBClassifier(n_estimators=100, max_depth=6, random_state=0).fit(X, y)
    metadata = {"feature_columns": features.FEATURE_COLUMNS, "roster": "letsgo"}
    artifacts.write_model_dir(estimator, "xgboost", metadata, root / "model")
    settings = Settings(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        use_registry=False,
        models_dir=root / "models",
        artifacts_dir=root / "mlartifacts",
    )
    artifacts.install_local_model(root / "model", settings.models_dir, settings.model_name, "1")
    return settings


def batch_csv(rows: int = 10_000, seed: int = 1) -> bytes:
    """A realistic upload: names as people type them, some levels and moves, a few bad rows."""
    dex = load_pokedex("letsgo")
    rng = np.random.default_rng(seed)
    lines = ["pokemon_a,pokemon_b,level_a,level_b,moves_a,moves_b"]
    for _ in range(rows):
        a, b = (dex.get(dex.pokemon_ids[i]) for i in rng.integers(0, len(dex.pokemon_ids), 2))
        level_a, level_b = rng.integers(1, 101, 2)
        moves = ";".join(dex.moves[m].name for m in a.moves[:2]) if rng.random() < 0.25 else ""
        name_a = a.name if rng.random() > 0.02 else a.name + "zz"  # an unknown name
        lines.append(f'{name_a},{b.name},{level_a},{level_b},"{moves}",')
    return ("\n".join(lines) + "\n").encode("utf-8")


def time_batch(settings: Settings, repeats: int) -> dict:
    from core.predict import PredictionModel
    from core.predict.batch_csv import predict_csv, write_batch_csv

    served = PredictionModel(settings).get_model()
    data = batch_csv()
    predict_csv(served, data[:2000])  # warm: imports, pokedex tables
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        batch = predict_csv(served, data)
        write_batch_csv(batch.table)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "rows": len(batch.table),
        "answered": len(batch.answered),
        "bytes": len(data),
        "wall_seconds_median": round(statistics.median(walls), 3),
        "cpu_seconds_median": round(statistics.median(cpus), 3),
        "wall_seconds": [round(w, 3) for w in walls],
    }


def time_interaction(settings: Settings, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    os.environ.update(settings.to_env())
    app = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    app.run()
    app.switch_page("../pages/predict.py").run()
    app.button(key="predict_ask").click().run()
    opponents = ["onix", "mewtwo", "snorlax", "gengar", "dragonite", "venusaur", "magikarp"]
    times = []
    for index in range(repeats + 1):
        app.selectbox(key="predict_pokemon_b").set_value(opponents[index % len(opponents)])
        started = time.perf_counter()
        app.run()
        if index:  # the first interaction warms the explanation path
            times.append(time.perf_counter() - started)
        assert not app.exception, [e.value for e in app.exception]
    return {
        "median_ms": round(1000 * statistics.median(times)),
        "all_ms": [round(1000 * t) for t in times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = install_model(Path(folder))
        result = {
            "batch_10000_rows": time_batch(settings, args.repeats),
            "predict_interaction": time_interaction(settings, args.repeats),
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
