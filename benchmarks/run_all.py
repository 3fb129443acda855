"""Run every benchmark in turn and print their JSON results (copy the figures to BENCHMARKS.md).

Run: `make bench` or `python -m benchmarks.run_all`. Run it on an otherwise idle machine: the
figures are medians, but two cores shared with other work still move them.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "benchmarks.bench_simulator",
    "benchmarks.bench_registry",
    "benchmarks.bench_pipeline",
    "benchmarks.bench_predict",
    "benchmarks.bench_dashboard",
    "benchmarks.bench_api",
)


def main() -> int:
    """Run each benchmark module as its own process; stop at the first failure."""
    for module in BENCHMARKS:
        print(f"## {module}", flush=True)
        done = subprocess.run([sys.executable, "-m", module], check=False)
        if done.returncode != 0:
            print(f"{module} failed with exit code {done.returncode}", file=sys.stderr)
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
