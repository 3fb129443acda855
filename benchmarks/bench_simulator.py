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


def measure(scenario: str, battles: int, repeats: int, tree: str | None = None) -> dict:
    """A fresh process: a warm-up, then `repeats` timed dataset generations, and its peak RSS.

    `tree` runs the code of another checkout (e.g. a worktree of the previous main) instead.
    """
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, scenario, str(battles), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
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


def compare(battles: int, repeats: int, baseline_tree: str, scenarios: tuple[str, ...]) -> dict:
    """This tree against `baseline_tree`, scenario by scenario, alternating: ratio of medians."""
    results: dict[str, dict] = {"battles": battles, "repeats": repeats}
    for scenario in scenarios:
        new = measure(scenario, battles, repeats)
        old = measure(scenario, battles, repeats, baseline_tree)
        new_s, old_s = statistics.median(new["seconds"]), statistics.median(old["seconds"])
        results[scenario] = {
            "battles_per_s": round(battles / new_s),
            "baseline_battles_per_s": round(battles / old_s),
            "speed_ratio": round(old_s / new_s, 3),
            "peak_mb": round(new["peak_mb"], 1),
            "baseline_peak_mb": round(old["peak_mb"], 1),
            "memory_ratio": round(new["peak_mb"] / old["peak_mb"], 3),
        }
    return results


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_simulator")
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-tree", help="a checkout of the previous main to compare with")
    parser.add_argument("--scenarios", default="best_move,all")
    args = parser.parse_args()
    if args.baseline_tree:
        scenarios = tuple(args.scenarios.split(","))
        print(
            json.dumps(compare(args.battles, args.repeats, args.baseline_tree, scenarios), indent=2)
        )
    else:
        print(json.dumps(run(args.battles, args.repeats), indent=2))


if __name__ == "__main__":
    main()
