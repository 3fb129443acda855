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

from core.config import PROMOTION_POLICIES, Settings, setup_logging
from core.errors import PredictionDexError
from core.jobs.estimate import calibrate, describe_estimate, estimate_training
from core.jobs.queue import TRAINING_QUEUE, TrainingJob

EXIT_CANCELLED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other error here."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _label(text: str) -> str:
    """--version: core.train's label rule, checked at parse time (before any work)."""
    from core.train.cli import parse_version_label

    return parse_version_label(text)


def build_parser() -> argparse.ArgumentParser:
    """The flags shared by `train` and `estimate` (a subset of `python -m core.train`'s)."""
    from core.evaluate.compare import DEFAULT_COMPARE_BATTLES

    parser = _Parser(prog="python -m core.jobs", description=__doc__)
    parser.add_argument("command", choices=["train", "estimate", "calibrate"])
    parser.add_argument("--model", choices=["xgboost", "random_forest"], default="xgboost")
    parser.add_argument("--n-battles", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--version", default="", type=_label,
                        help="a label for this model version: up to 100 characters")  # fmt: skip
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--use-gridsearch", action="store_true")
    parser.add_argument("--grid-type", choices=["fast", "full"], default=None,
                        help="with --use-gridsearch: fast (default) or full")  # fmt: skip
    parser.add_argument("--oracle-sample", type=int, default=2000)
    parser.add_argument("--oracle-replays", type=int, default=400)
    parser.add_argument("--promotion-policy", choices=PROMOTION_POLICIES, default=None,
                        help="default: PREDICTIONDEX_PROMOTION_POLICY")  # fmt: skip
    parser.add_argument("--promotion-battles", type=int, default=DEFAULT_COMPARE_BATTLES,
                        help="beats_production's fresh battles: 1,000..1,000,000 "
                        f"(default: {DEFAULT_COMPARE_BATTLES:,})")  # fmt: skip
    return parser


def _config(args: argparse.Namespace):  # noqa: ANN202 - TrainConfig, imported lazily
    from core.train import TrainConfig
    from core.train.cli import parse_params

    if args.grid_type is not None and not args.use_gridsearch:
        raise PredictionDexError("--grid-type only applies to a grid search: add --use-gridsearch.")
    params = parse_params(args.param)
    return TrainConfig(
        model_type=args.model,
        params=params,
        n_battles=args.n_battles,
        seed=args.seed,
        version_label=args.version,
        threshold=args.threshold,
        use_gridsearch=args.use_gridsearch,
        grid_type=args.grid_type or "fast",
        oracle_sample=args.oracle_sample,
        oracle_replays=args.oracle_replays,
        promotion_policy=args.promotion_policy,
        promotion_battles=args.promotion_battles,
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
    for line in result_lines(view.result):
        print(line)
    return 0


def result_lines(result) -> list[str]:  # noqa: ANN001 - a core.jobs.messages.JobResult
    """The decision of a finished job, in the words `python -m core.train` prints."""
    if result is None:
        return []
    oracle = result.metrics.get("oracle_accuracy")
    lines = [f"✅ Model trained: test_accuracy={result.metrics.get('test_accuracy', float('nan')):.4f}"
             + (f" (oracle {oracle:.4f})" if oracle is not None else "")]  # fmt: skip
    if result.version is not None:
        lines.append(f"✅ Registered as version {result.version} in Model Registry")
    if result.promotion_message:
        lines.append(("✅ " if result.promoted else "⚠️ ") + result.promotion_message)
    if result.promotion_evidence:
        lines.append(f"📊 {result.promotion_evidence}")
    if result.run_url:
        lines.append(f"🔗 {result.run_url}")
    if result.exported_to:
        lines.append(f"✅ Local fallback updated in {result.exported_to}")
    return lines


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
        settings = Settings.from_env()
        estimate = estimate_training(config, settings)
        print(f"estimated duration: {describe_estimate(estimate)}", flush=True)
        if args.command == "estimate":
            return 0
        job = TRAINING_QUEUE.submit(TrainingJob(config.checked(), settings))
        return _follow(job)
    except (PredictionDexError, ValueError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
