"""`python -m core.jobs`: train as a cancellable job, estimate a training, calibrate the estimate.

- `train [--model xgboost] [--n-battles N] [--param KEY=VALUE ...] [--version LABEL] ...`: the
  training runs in its own process with progress lines; Ctrl-C cancels it (the run ends KILLED,
  nothing is registered) and exits 130.
- `estimate [same flags]`: the expected duration, by part, without training.
- `calibrate`: re-measure the estimate's constants on this machine (about a minute).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from core.config import Settings, setup_logging
from core.errors import PredictionDexError
from core.jobs.estimate import calibrate, estimate_training, format_duration
from core.jobs.queue import TRAINING_QUEUE, TrainingJob

EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    """The flags shared by `train` and `estimate` (a subset of `python -m core.train`'s)."""
    parser = argparse.ArgumentParser(prog="python -m core.jobs", description=__doc__)
    parser.add_argument("command", choices=["train", "estimate", "calibrate"])
    parser.add_argument("--model", choices=["xgboost", "random_forest"], default="xgboost")
    parser.add_argument("--n-battles", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--version", default="", help="a label for this model version")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--use-gridsearch", action="store_true")
    parser.add_argument("--grid-type", choices=["fast", "full"], default="fast")
    parser.add_argument("--oracle-sample", type=int, default=2000)
    parser.add_argument("--oracle-replays", type=int, default=400)
    return parser


def _config(args: argparse.Namespace):  # noqa: ANN202 - TrainConfig, imported lazily
    from core.train import TrainConfig
    from core.train.cli import parse_params

    params = parse_params(args.param)
    return TrainConfig(
        model_type=args.model,
        params=params,
        n_battles=args.n_battles,
        seed=args.seed,
        version_label=args.version,
        threshold=args.threshold,
        use_gridsearch=args.use_gridsearch,
        grid_type=args.grid_type,
        oracle_sample=args.oracle_sample,
        oracle_replays=args.oracle_replays,
    )


def _follow(job: TrainingJob) -> int:
    """Print each new message until the job ends; Ctrl-C cancels it."""
    shown = ""
    try:
        while not job.wait(0.5):
            view = job.view()
            if view.message != shown:
                shown = view.message
                print(f"[{view.elapsed_seconds:6.1f} s] {view.state}: {shown}", flush=True)
    except KeyboardInterrupt:
        print("cancelling ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        job.cancel()
        job.wait(30)
        print(f"{job.view().message} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
        return EXIT_CANCELLED
    view = job.view()
    if view.state != "done":
        print(f"error: {view.error or view.message}", file=sys.stderr)
        return 2
    for line in getattr(view.result, "messages", []):
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit 0 done, 2 on an error (one `error:` line), 130 when cancelled."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    setup_logging(logging.WARNING)
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "calibrate":
            print(json.dumps(calibrate(), indent=2))
            return 0
        config = _config(args)
        estimate = estimate_training(config)
        print(f"estimated duration: {format_duration(estimate.total_seconds)} {estimate}")
        if args.command == "estimate":
            return 0
        job = TRAINING_QUEUE.submit(TrainingJob(config.checked(), Settings.from_env()))
        return _follow(job)
    except (PredictionDexError, ValueError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
