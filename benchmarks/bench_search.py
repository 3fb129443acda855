"""Hyperparameter search: trials per minute with 1 and 2 workers, the cached dataset's saving,
and TPE after 20 trials against the seed's `fast` grid on the same data.

Run: `python -m benchmarks.bench_search [--battles 10000] [--trials 20] [--throughput-trials 8]`;
prints one JSON object. Everything lives in a temporary folder (embedded MLflow store, SQLite
study storage, dataset cache). Nothing is registered: the studies are run by their workers
(`core.search.study`'s own steps), without the final retraining. Figures:
- `dataset`: seconds to build the shared dataset (simulate, split, features, parquet) against
  reading it from the cache; the difference is what each trial would pay without the cache;
- `throughput`: trials per minute (from the first trial's start to the last one's end) with
  1 and 2 local workers on the same study settings, and their ratio;
- `quality`: best held-out log loss of TPE after `--trials` trials against the `fast` grid's
  best (all its combinations), same dataset, same objective, same run, with their wall times.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from core.config import Settings, disable_usage_reporting
from core.search import SearchConfig
from core.search.data import build_table, load_search_data
from core.search.report import count_states
from core.search.study import _prepare, _run_workers


def _study(root: Path, settings: Settings, name: str, workers: int, trials: int, battles: int,
           grid: str | None = None) -> dict:  # fmt: skip
    url = f"sqlite:///{root / 'optuna.db'}"
    config = SearchConfig(study=name, trials=trials, workers=workers, storage=url,
                          n_battles=battles, grid_type=grid)  # fmt: skip
    study, _ = _prepare(config, url, settings)
    clock = time.perf_counter()
    _run_workers(config, url, settings)
    wall = time.perf_counter() - clock
    finished = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete]
    span = (max(t.datetime_complete for t in finished)
            - min(t.datetime_start for t in finished)).total_seconds()  # fmt: skip
    counts = count_states(study)
    best = study.best_value if counts.get("COMPLETE") else None
    return {"workers": workers, "trials": len(finished), "counts": counts, "best_log_loss": best,
            "trials_per_minute": round(60 * len(finished) / span, 2), "span_s": round(span, 1),
            "wall_s": round(wall, 1), "best_params": study.best_params if best else {}}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements; print one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_search")
    parser.add_argument("--battles", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--throughput-trials", type=int, default=8)
    args = parser.parse_args(argv)
    disable_usage_reporting()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as scratch:
        root = Path(scratch)
        settings = Settings(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                            artifacts_dir=root / "mlartifacts", models_dir=root / "models")  # fmt: skip
        clock = time.perf_counter()
        build_table(args.battles, 42)
        built = time.perf_counter() - clock
        load_search_data(args.battles, 42, root / "search_cache")  # fills the cache
        cached = load_search_data(args.battles, 42, root / "search_cache").seconds
        one = _study(root, settings, "one", 1, args.throughput_trials, args.battles)
        two = _study(root, settings, "two", 2, args.throughput_trials, args.battles)
        tpe = _study(root, settings, "tpe", 2, args.trials, args.battles)
        grid = _study(root, settings, "grid", 2, 100, args.battles, grid="fast")
    print(json.dumps({
        "battles": args.battles,
        "dataset": {"build_s": round(built, 2), "cached_read_s": round(cached, 3),
                    "saving_per_trial_s": round(built - cached, 2)},
        "throughput": {"one_worker": one, "two_workers": two,
                       "ratio": round(two["trials_per_minute"] / one["trials_per_minute"], 2)},
        "quality": {"tpe": tpe, "fast_grid": grid},
    }, indent=1, default=str))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
