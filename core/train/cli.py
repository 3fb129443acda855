"""`python -m core.train`: the seed guide's flags, and its messages printed here only.

Modes: all (simulate + train + publish), dataset (write a parquet), train (from --data or a
fresh simulation), evaluate (Production on fresh battles). `python -m core.train ensure` makes
sure a model can serve (core/bootstrap.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.config import PROMOTION_POLICIES, Settings, setup_logging
from core.dataset import (
    SCENARIO_CHOICES,
    BattleDataset,
    generate_dataset,
    parse_level,
    write_parquet_atomically,
)
from core.errors import PredictionDexError
from core.train.config import DEFAULT_BATTLES, TrainConfig, check_version_label, field_limits
from core.train.hyperparameters import MODEL_TYPES, TrainingError
from core.train.pipeline import TrainResult, train_model


def result_lines(result: TrainResult) -> list[str]:
    """The seed guide's messages for a finished training, in order."""
    metrics = result.metrics
    oracle = metrics.get("oracle_accuracy")
    lines = [
        f"✅ Model trained: test_accuracy={metrics['test_accuracy']:.4f}"
        + (f" (oracle {oracle:.4f})" if oracle is not None else "")
    ]
    publication = result.publication
    if publication is None:
        if result.exported_to:
            lines.append(f"✅ Model exported locally to {result.exported_to}")
        return lines
    promotion = publication.promotion
    lines.append(f"✅ Logged to MLflow (run: {publication.run_name})")
    lines.append(f"✅ Registered as version {publication.version} in Model Registry")
    if promotion.accuracy >= promotion.threshold:
        lines.append(f"🎯 Model meets quality threshold (accuracy >= {promotion.threshold:g})")
    lines.append(("✅ " if promotion.promoted else "⚠️ ") + promotion.message)
    if promotion.promoted and promotion.evidence is not None:
        lines.append(f"📊 {promotion.evidence_text} ({promotion.evidence.verdict})")
    if result.exported_to:
        lines.append(f"✅ Local fallback updated in {result.exported_to}")
    return lines


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`--param KEY=VALUE` pairs as {key: text}; TrainConfig converts and checks the values."""
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise TrainingError(f"--param {pair[:40]!r} must look like KEY=VALUE.")
        key, value = pair.split("=", 1)
        params[key.strip()] = value.strip()
    return params


def parse_version_label(text: str) -> str:
    """A --version label, checked at parse time by TrainConfig's rule (check_version_label).

    Raises argparse.ArgumentTypeError (one `error:` line at parse time, before any work).
    """
    try:
        return check_version_label(text)
    except TrainingError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other error here."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The CLI of the seed guide (train_model.py and run_machine_learning.py flags)."""
    parser = _Parser(prog="python -m core.train", description=__doc__)
    parser.add_argument("--model", choices=[*MODEL_TYPES, "compare"], default="xgboost")
    parser.add_argument("--mode", choices=["all", "dataset", "train", "evaluate"], default="all")
    parser.add_argument("--use-gridsearch", action="store_true")
    parser.add_argument("--grid-type", choices=["fast", "full"], default=None,
                        help="with --use-gridsearch: fast (default) or full")  # fmt: skip
    parser.add_argument("--version", default="", type=parse_version_label,
                        help="a label for this model version (v2, ...): up to 100 characters")  # fmt: skip
    parser.add_argument("--no-mlflow", action="store_true", help="train and export locally only")
    parser.add_argument("--n-battles", type=int, default=DEFAULT_BATTLES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scenario", choices=SCENARIO_CHOICES, default="all")
    parser.add_argument("--level", default="50", help="a level (50) or a range (40-60)")
    parser.add_argument("--roster", default="letsgo")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument(
        "--promotion-policy", choices=PROMOTION_POLICIES, default=None,
        help="threshold (seed rule), beats_production (also a higher accuracy than Production on "
        "the same fresh battles, not significantly worse), manual "
        "(register only); default: PREDICTIONDEX_PROMOTION_POLICY",
    )  # fmt: skip
    parser.add_argument("--data", type=Path, help="parquet dataset to read (train) or write")
    for name in ("oracle_sample", "oracle_replays", "promotion_battles"):
        limits = field_limits(name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=limits.default,
                            help=f"{limits.label}: {limits.low:,.0f}..{limits.high:,.0f}")  # fmt: skip
    return parser


def _configs(args: argparse.Namespace, data: BattleDataset | None) -> list[TrainConfig]:
    """One TrainConfig per model to train, validated now (TrainingError before any work)."""
    model_types = list(MODEL_TYPES) if args.model == "compare" else [args.model]
    params = parse_params(args.param)
    base = dict(
        n_battles=args.n_battles if data is None else len(data), seed=args.seed,
        scenario=args.scenario, level=parse_level(args.level), roster=args.roster,
        use_gridsearch=args.use_gridsearch, grid_type=args.grid_type or "fast", version_label=args.version,
        threshold=args.threshold, oracle_sample=args.oracle_sample,
        oracle_replays=args.oracle_replays, use_mlflow=not args.no_mlflow,
        promotion_policy=args.promotion_policy, promotion_battles=args.promotion_battles,
    )  # fmt: skip
    return [
        TrainConfig(model_type=m, params=params if len(model_types) == 1 else {}, **base)
        for m in model_types
    ]


def _run(args: argparse.Namespace, settings: Settings, echo: Callable[[str], None]) -> int:
    if args.grid_type is not None and not args.use_gridsearch:
        raise TrainingError("--grid-type only applies to a grid search: add --use-gridsearch.")
    if args.mode == "dataset":
        return _write_dataset(args, echo)
    if args.mode == "evaluate":
        return _evaluate(args, settings, echo)
    data = None
    if args.mode == "train" and args.data:
        if not args.data.is_file():
            raise TrainingError(f"{args.data} does not exist: run --mode dataset first.")
        data = BattleDataset.from_frame(pd.read_parquet(args.data))
    configs = _configs(args, data)
    if len(configs) > 1:
        return _compare(configs, settings, data, echo)
    for line in result_lines(train_model(configs[0], settings, data=data)):
        echo(line)
    return 0


def _write_dataset(args: argparse.Namespace, echo: Callable[[str], None]) -> int:
    """--mode dataset: simulate and write the parquet at --data, making its folder if needed."""
    out = args.data or Path("data/battles.parquet")
    level = parse_level(args.level)
    data = generate_dataset(args.n_battles, args.seed, args.scenario, level, args.roster)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrainingError(
            f"Cannot create the folder {out.parent} ({error.strerror}): choose another --data."
        ) from None
    write_parquet_atomically(data.to_frame(), out)
    echo(f"✅ Dataset of {len(data):,} battles written to {out}")
    return 0


def _compare(
    configs: list[TrainConfig], settings: Settings, data: BattleDataset | None, echo: Callable
) -> int:
    """--model compare: train both locally, then log and register only the better one."""
    first = configs[0]
    if data is None:
        data = generate_dataset(
            first.n_battles, first.seed, first.scenario, first.level, first.roster
        )
    local = [
        train_model(c.replace(use_mlflow=False, export_local=False), settings, data=data)
        for c in configs
    ]
    for config, result in zip(configs, local, strict=True):
        echo(f"{config.model_type}: test_accuracy={result.metrics['test_accuracy']:.4f}")
    best = max(range(len(configs)), key=lambda i: local[i].metrics["test_accuracy"])
    echo(f"🏆 {configs[best].model_type} is better: registering it")
    for line in result_lines(train_model(configs[best], settings, data=data)):
        echo(line)
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings, echo: Callable[[str], None]) -> int:
    """--mode evaluate: the serving stage's model on fresh battles, drawn as core.evaluate draws
    them (a seed no training uses, matchups held out from the version's training)."""
    from core.evaluate import evaluate_model
    from core.evaluate.compare import MAX_EVALUATION_BATTLES, MIN_EVALUATION_BATTLES
    from core.evaluate.stored import evaluation_battles, load_bundle
    from core.registry import Registry, resolve_version

    if not MIN_EVALUATION_BATTLES <= args.n_battles <= MAX_EVALUATION_BATTLES:
        raise TrainingError(
            f"--n-battles {args.n_battles:,} is outside {MIN_EVALUATION_BATTLES:,}.."
            f"{MAX_EVALUATION_BATTLES:,} for --mode evaluate (as for python -m core.evaluate): "
            "fewer battles give metrics too noisy to read."
        )
    level = parse_level(args.level)
    registry = Registry(settings)
    info = resolve_version(settings.model_name, stage=settings.model_stage, settings=settings)
    fresh = evaluation_battles(registry, info, args.n_battles, args.seed,
                               scenario=args.scenario, level=level)  # fmt: skip
    bundle = load_bundle(registry, info)
    evaluation = evaluate_model(bundle, fresh.data, fresh.rows, features=fresh.features)
    echo(f"{settings.model_stage} version {info.version} on {fresh.describe(info.version)}, "
         f"scenario {args.scenario}, level {args.level}:")  # fmt: skip
    for name, value in evaluation.test.as_dict().items():
        echo(f"  {name}: {value:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: `python -m core.train [...]` or `python -m core.train ensure`."""
    argv = sys.argv[1:] if argv is None else argv
    setup_logging(logging.WARNING)
    try:
        settings = Settings.from_env()
        if argv[:1] == ["ensure"]:
            from core.bootstrap import ensure_model

            ensure_model(settings)
            return 0
        return _run(build_parser().parse_args(argv), settings, print)
    except (PredictionDexError, ValueError) as error:
        # ValueError too: a --data file that is not a battle table (pyarrow, pandas).
        print(f"error: {error}", file=sys.stderr)
        return 2
