"""`python -m core.evaluate VERSION [--against ALIAS|VERSION] [--n-battles N] [--seed S]
[--replays R]`: one JSON object on stdout; bad input -> one `error:` line on stderr, exit 2.

VERSION is a number or an alias the registry has (production, staging, ...).

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
        "matchup_mae_difference", "battles_simulated", "battles", "heldout", "compared_battles",
        "seed", "notes")  # fmt: skip
COMPARISON_KEYS = ("accuracy_against", "difference", "ci_low", "ci_high", "p_value", "verdict",
                   "log_loss_difference", "matchup_mae_difference", "compared_battles")  # fmt: skip
ORACLE_NOTE = (
    "oracle_accuracy is the expected accuracy of the best possible rule (predict the side with "
    "the higher true p), estimated on a sample of at most {sample:,} of these battles; accuracy "
    "counts sampled winners, so it can exceed that estimate by chance. expected_accuracy is the "
    "like-for-like figure (never above oracle_accuracy)."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every project CLI
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
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
    from core.evaluate.compare import (
        DEFAULT_COMPARE_BATTLES,
        DEFAULT_COMPARE_SEED,
        MAX_EVALUATION_BATTLES,
        MIN_EVALUATION_BATTLES,
    )

    parser = _Parser(prog="python -m core.evaluate", description=__doc__)
    parser.add_argument("version", help="a version number, or an alias the registry has "
                        "(production, staging, or any other alias set on a version)")  # fmt: skip
    parser.add_argument("--against", default=None,
                        help="a version number or an alias (default: Production, or the previous "
                        "Production when VERSION holds it)")  # fmt: skip
    parser.add_argument("--n-battles", default=DEFAULT_COMPARE_BATTLES,
                        type=_whole(MIN_EVALUATION_BATTLES, MAX_EVALUATION_BATTLES),
                        help=f"fresh battles to simulate, {MIN_EVALUATION_BATTLES:,}.."
                        f"{MAX_EVALUATION_BATTLES:,} (default: {DEFAULT_COMPARE_BATTLES:,}, as the "
                        "promotion's comparison, the Models page and core.train --mode evaluate)")  # fmt: skip
    parser.add_argument("--seed", type=_whole(0, 2**31 - 1), default=DEFAULT_COMPARE_SEED,
                        help=f"seed of the fresh battles (default: {DEFAULT_COMPARE_SEED}, the "
                        "same default as every other fresh-battle measurement)")  # fmt: skip
    parser.add_argument("--replays", type=_whole(1, 10_000), default=400,
                        help="replays per battle for the oracle (default: 400)")  # fmt: skip
    return parser


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _baseline(registry, candidate, against: str | None) -> tuple[int | None, str]:
    """(version to compare with, or None to skip the comparison; why it was chosen or skipped)."""
    from core.evaluate.stored import resolve

    version = candidate.version
    if against is not None:
        baseline = resolve(registry, against).version
        if baseline == version:
            return None, f"--against names v{version} itself: comparison skipped."
        return baseline, ""
    name = registry.settings.model_name
    production = registry.current_version(name)
    if production is None:
        return None, "Nobody holds Production: comparison skipped (give --against VERSION)."
    if production != version:
        return production, f"Compared with Production (v{production})."
    for row in registry.earlier_holders(name):
        try:
            return resolve(registry, row.version).version, (
                f"v{version} holds Production: compared with the previous Production "
                f"(v{row.version})."
            )
        except PredictionDexError:
            continue  # deleted since: try the one before
    return None, f"v{version} holds Production and none held it before: comparison skipped."


def _battles_note(fresh, version: int) -> str:
    simulated, used = len(fresh.data), int(fresh.rows.size)
    if fresh.heldout:
        return (f"{used:,} of the {simulated:,} fresh battles were used: those whose matchup was "
                f"held out from v{version}'s training (its test matchups), so the model never "
                "saw them; the other battles were left out.")  # fmt: skip
    return (f"All {simulated:,} fresh battles were used: v{version}'s training split is unknown "
            "or fewer than 2,000 of them are on its held-out matchups, so some matchups may "
            "have been in its training.")  # fmt: skip


FRESH_NOTE = (
    "Fresh battles are simulated from a seed no training accepts (2**32 x {salt} + --seed; "
    "training seeds are 0..2**32 - 1), so no --seed or --n-battles rebuilds a training dataset. "
    "This report is stored in v{version}'s run as {path}/evaluation.json, beside its training's "
    "held-out test report (never overwritten)."
)
MATCHUP_NOTE = (
    "matchup_* are |q - p| over {pairs:,} ordered pairs (level 50, default movesets) sampled "
    "with --seed from the matchups of these battles; the training run's matchup_* use another "
    "sample of the same population (its own held-out matchups), so a tail figure such as "
    "matchup_max can differ between the two by which pairs each sample drew."
)


def evaluate_and_compare(args: argparse.Namespace, settings: Settings) -> dict:
    """The JSON object: the version's evaluation and, unless skipped, its comparison."""
    from core.evaluate.stored import (
        ORACLE_SAMPLE,
        compare_versions,
        evaluate_version,
        evaluation_battles,
        resolve,
    )
    from core.registry import Registry

    registry = Registry(settings)
    # Resolve both first: an unknown version fails before any write.
    candidate = resolve(registry, args.version)
    baseline, why = _baseline(registry, candidate, args.against)
    version, evaluation = evaluate_version(candidate.version, settings=settings,
                                           n_battles=args.n_battles, seed=args.seed,
                                           replays=args.replays)  # fmt: skip
    fresh = evaluation_battles(registry, candidate, args.n_battles, args.seed)
    from core.evaluate.compare import FRESH_SEED_SALT
    from core.evaluate.stored import FRESH_PATH

    pairs = evaluation.matchups.pairs if evaluation.matchups else 0
    notes = [_battles_note(fresh, version),
             FRESH_NOTE.format(salt=FRESH_SEED_SALT, version=version, path=FRESH_PATH),
             ORACLE_NOTE.format(sample=ORACLE_SAMPLE), MATCHUP_NOTE.format(pairs=pairs)]  # fmt: skip
    out = {**evaluation.metrics(), "version": version, "against": baseline, "seed": args.seed,
           "battles_simulated": len(fresh.data), "battles": int(fresh.rows.size),
           "heldout": fresh.heldout}  # fmt: skip
    if baseline is not None:
        c = compare_versions(version, baseline, settings=settings, n_battles=args.n_battles,
                             seed=args.seed).comparison  # fmt: skip
        out.update(accuracy=c.accuracy, accuracy_against=c.accuracy_against,
                   difference=c.difference.estimate, ci_low=c.difference.low,
                   ci_high=c.difference.high, p_value=c.p_value, verdict=c.verdict,
                   log_loss_difference=c.log_loss_difference,
                   matchup_mae_difference=c.matchup_mae_difference,
                   compared_battles=c.battles)  # fmt: skip
        if c.heldout:
            why += (f" The comparison used the {c.battles:,} fresh battles whose matchups were "
                    "held out from both trainings.")  # fmt: skip
        else:
            why += (f" The comparison used all {c.battles:,} fresh battles: fewer than 2,000 "
                    "are on matchups held out from both trainings.")  # fmt: skip
    else:
        out.update(dict.fromkeys(COMPARISON_KEYS))
        out["accuracy"] = out.get("test_accuracy")
    out["notes"] = [why.strip(), *notes] if why else notes
    return {key: _finite(out.get(key)) for key in KEYS}


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
