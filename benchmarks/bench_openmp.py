"""OMP_WAIT_POLICY side by side: one XGBoost fit alone and under a competing load, PASSIVE vs default.

Each fit runs in a fresh interpreter (the OpenMP runtime reads the variable when it loads), with
2 threads as training uses, on the same seeded features (the Train page's default model: 150
trees of depth 6). The competing load is one CPU-bound Python process per core minus one (what a
busy web server is to the fit). Prints one JSON object: seconds per case (median of --repeats),
the machine's cores and its 1-minute load average before the run.
Run: `python -m benchmarks.bench_openmp [--battles 40000] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIT = """
import sys, time
import pandas as pd
from xgboost import XGBClassifier
frame = pd.read_parquet(sys.argv[1])
y = frame.pop("winner").to_numpy()
model = XGBClassifier(n_estimators=150, max_depth=6, tree_method="hist", n_jobs=2)
started = time.perf_counter()
model.fit(frame, y)
print(time.perf_counter() - started)
"""
SPIN = "while True: pass"


def make_features(battles: int, path: Path) -> None:
    """The seeded training features and labels, written once for every case."""
    from core.dataset import generate_dataset
    from core.features import build_features

    data = generate_dataset(battles, 0, "all", 50, "letsgo")
    frame = build_features(data.arrays, data.dex)
    frame["winner"] = data.winner
    frame.to_parquet(path)


def time_fit(path: Path, policy: str | None, load: int) -> float:
    """Seconds of one fit in a fresh interpreter, with `load` spinning processes beside it."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(load)]
    try:
        done = subprocess.run(
            [sys.executable, "-c", FIT, str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    return float(done.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    """Measure the four cases and print them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_openmp")
    parser.add_argument("--battles", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    load = max(cores - 1, 1)
    with tempfile.TemporaryDirectory(prefix="bench-openmp-") as scratch:
        path = Path(scratch) / "features.parquet"
        make_features(args.battles, path)
        before = os.getloadavg()[0]
        result: dict[str, object] = {
            "battles": args.battles,
            "cores": cores,
            "competing_processes": load,
            "load_average_1m_before": round(before, 2),
        }
        started = time.perf_counter()
        for policy in ("PASSIVE", None):
            for competing in (0, load):
                name = f"{'passive' if policy else 'default'}_{'loaded' if competing else 'alone'}"
                times = [time_fit(path, policy, competing) for _ in range(args.repeats)]
                result[f"{name}_median_s"] = round(statistics.median(times), 3)
        result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
