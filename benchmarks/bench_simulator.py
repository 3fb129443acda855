"""Simulator throughput and peak memory: 1M battles per scenario, median of several runs in one warmed-up process.

Run: `python -m benchmarks.bench_simulator [--battles 1000000] [--repeats 5]`; prints one JSON
object. Each run is a fresh process, so its peak RSS is the memory one dataset of that size needs
(the interpreter and numpy included; the baseline row is a process that only imports them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

SCENARIOS = ("best_move", "random_move", "all_combinations", "all")

_CHILD = """
import json, resource, sys, time
from core.pokedex import load_pokedex
from core.dataset import generate_dataset
load_pokedex()
scenario, battles, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds = []
if scenario != "baseline":
    generate_dataset(battles, seed=6, scenario=scenario)  # warm-up run, not counted
    for seed in range(repeats):
        start = time.perf_counter()
        generate_dataset(battles, seed=seed, scenario=scenario)
        seconds.append(time.perf_counter() - start)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
"""


def measure(scenario: str, battles: int, repeats: int) -> dict:
    """A fresh process: a warm-up, then `repeats` timed dataset generations, and its peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, scenario, str(battles), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def run(battles: int, repeats: int) -> dict:
    """Median battles/s and peak memory per scenario."""
    results: dict[str, dict] = {"battles": battles, "repeats": repeats}
    results["baseline_peak_mb"] = round(measure("baseline", 0, 0)["peak_mb"], 1)
    for scenario in SCENARIOS:
        run = measure(scenario, battles, repeats)
        seconds = statistics.median(run["seconds"])
        results[scenario] = {
            "median_seconds": round(seconds, 3),
            "battles_per_s": round(battles / seconds),
            "slowest_battles_per_s": round(battles / max(run["seconds"])),
            "peak_mb": round(run["peak_mb"], 1),
        }
    return results


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_simulator")
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.battles, args.repeats), indent=2))


if __name__ == "__main__":
    main()
