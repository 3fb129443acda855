"""`python -m core.evaluate VERSION [--against production|VERSION] [--n-battles N] [--seed S]
[--replays R]`: one JSON object on stdout; bad input -> one `error:` line on stderr, exit 2.

The version is evaluated on fresh battles held out from its training (the evaluation is then
stored in its run, for the Models page) and compared with `--against` on the same battles.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from core.config import Settings, setup_logging
from core.errors import PredictionDexError

KEYS = ("version", "against", "accuracy", "accuracy_against", "difference", "ci_low", "ci_high",
        "p_value", "verdict", "excess_error", "excess_error_low", "excess_error_high",
        "oracle_accuracy", "expected_accuracy", "matchup_mae", "matchup_p95", "matchup_max",
        "matchup_wrong_side", "antisymmetry_max", "log_loss_difference",
        "matchup_mae_difference", "battles", "heldout", "seed")  # fmt: skip


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every project CLI
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _whole(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low:,}..{high:,}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The CLI's arguments (validated here, before any work)."""
    from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED

    parser = _Parser(prog="python -m core.evaluate", description=__doc__)
    parser.add_argument("version", help="a version number, or production")
    parser.add_argument("--against", default="production", help="production or a version")
    parser.add_argument("--n-battles", type=_whole(1_000, 2_000_000),
                        default=DEFAULT_COMPARE_BATTLES)  # fmt: skip
    parser.add_argument("--seed", type=_whole(0, 2**31 - 1), default=DEFAULT_COMPARE_SEED)
    parser.add_argument("--replays", type=_whole(1, 10_000), default=400)
    return parser


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def evaluate_and_compare(args: argparse.Namespace, settings: Settings) -> dict:
    """The JSON object: the version's evaluation and its comparison with --against."""
    from core.evaluate.stored import compare_versions, evaluate_version, resolve
    from core.registry import Registry

    registry = Registry(settings)
    # Resolve both first: an unknown version or an empty Production fails before any write.
    resolve(registry, args.version), resolve(registry, args.against)
    version, evaluation = evaluate_version(args.version, settings=settings,
                                           n_battles=args.n_battles, seed=args.seed,
                                           replays=args.replays)  # fmt: skip
    compared = compare_versions(version, args.against, settings=settings,
                                n_battles=args.n_battles, seed=args.seed)  # fmt: skip
    c, metrics = compared.comparison, evaluation.metrics()
    out = {"version": version, "against": compared.baseline, "accuracy": c.accuracy,
           "accuracy_against": c.accuracy_against, "difference": c.difference.estimate,
           "ci_low": c.difference.low, "ci_high": c.difference.high, "p_value": c.p_value,
           "verdict": c.verdict, "log_loss_difference": c.log_loss_difference,
           "matchup_mae_difference": c.matchup_mae_difference, "battles": c.battles,
           "heldout": c.heldout, "seed": args.seed}  # fmt: skip
    for key in KEYS:
        if key not in out:
            out[key] = metrics.get(key)
    return {key: _finite(out[key]) for key in KEYS}


def main(argv: list[str] | None = None) -> int:
    """Entry point: print one JSON object (exit 0) or one `error:` line (exit 2)."""
    argv = sys.argv[1:] if argv is None else argv
    setup_logging(logging.WARNING)
    try:
        args = build_parser().parse_args(argv)
        print(json.dumps(evaluate_and_compare(args, Settings.from_env()), allow_nan=False))
        return 0
    except PredictionDexError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
