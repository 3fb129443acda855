"""`python -m core.train`: the seed guide's flags, and its messages printed here only.

Modes: all (simulate + train + publish), dataset (write a parquet), train (from --data or a
fresh simulation), evaluate (Production on fresh battles). `python -m core.train ensure` makes
sure a model can serve (core/bootstrap.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core import artifacts
from core.config import PROMOTION_POLICIES, Settings, setup_logging
from core.dataset import (
    SCENARIO_CHOICES,
    BattleDataset,
    generate_dataset,
    parse_level,
    split_by_matchup,
    write_parquet_atomically,
)
from core.errors import PredictionDexError
from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED
from core.train.config import (
    DEFAULT_BATTLES,
    DEFAULT_SEED,
    TrainConfig,
    check_version_label,
    field_limits,
)
from core.train.hyperparameters import MODEL_TYPES, TrainingError
from core.train.pipeline import TrainResult, train_model


def result_lines(result: TrainResult, holdout_pokemon: tuple[str, ...] = ()) -> list[str]:
    """The seed guide's messages for a finished training, in order (plus, with held-out
    Pokémon, their accuracy: `holdout_pokemon` names them)."""
    metrics = result.metrics
    oracle = metrics.get("oracle_accuracy")
    lines = [
        f"✅ Model trained: test_accuracy={metrics['test_accuracy']:.4f}"
        + (f" (oracle {oracle:.4f})" if oracle is not None else "")
    ]
    if metrics.get("holdout_accuracy") is not None and result.evaluation is not None:
        names = f" ({', '.join(holdout_pokemon)})" if holdout_pokemon else ""
        lines.append(f"🧪 Held-out Pokémon{names}: holdout_accuracy="
                     f"{metrics['holdout_accuracy']:.4f} on {result.evaluation.holdout_rows:,} "
                     "battles with a Pokémon never seen in training")  # fmt: skip
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
    parser.add_argument("--n-battles", type=int, default=None,
                        help=f"battles to simulate (default: {DEFAULT_BATTLES:,}); with --mode "
                        f"evaluate, fresh battles (default: {DEFAULT_COMPARE_BATTLES:,}, as "
                        "python -m core.evaluate and the promotion's comparison)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None,
                        help=f"seed of the battles (default: {DEFAULT_SEED}); with --mode "
                        f"evaluate, of the fresh battles (default: {DEFAULT_COMPARE_SEED}, as "
                        "python -m core.evaluate)")  # fmt: skip
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
    parser.add_argument("--holdout-pokemon", default="", metavar="NAME[,NAME]",
                        help="Pokémon kept out of training and scored apart (DESIGN §4): their "
                        "battles give holdout_accuracy")  # fmt: skip
    for name in ("oracle_sample", "oracle_replays", "promotion_battles"):
        limits = field_limits(name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=limits.default,
                            help=f"{limits.label}: {limits.low:,.0f}..{limits.high:,.0f} "
                            f"(default: {limits.default:,})")  # fmt: skip
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
        holdout_pokemon=args.holdout_pokemon,
    )  # fmt: skip
    return [
        TrainConfig(model_type=m, params=params if len(model_types) == 1 else {}, **base)
        for m in model_types
    ]


def with_mode_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """--n-battles and --seed left out take their mode's default: training's (200,000, 42), or
    for --mode evaluate the one fresh-battle default every evaluation shares (core.evaluate's)."""
    evaluate = args.mode == "evaluate"
    if args.n_battles is None:
        args.n_battles = DEFAULT_COMPARE_BATTLES if evaluate else DEFAULT_BATTLES
    if args.seed is None:
        args.seed = DEFAULT_COMPARE_SEED if evaluate else DEFAULT_SEED
    return args


def _run(args: argparse.Namespace, settings: Settings, echo: Callable[[str], None]) -> int:
    args = with_mode_defaults(args)
    if args.grid_type is not None and not args.use_gridsearch:
        raise TrainingError("--grid-type only applies to a grid search: add --use-gridsearch.")
    if args.holdout_pokemon and args.mode in ("dataset", "evaluate"):
        raise TrainingError(
            f"--holdout-pokemon applies to training: drop it from --mode {args.mode}."
        )
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
    result = train_model(configs[0], settings, data=data)
    for line in result_lines(result, configs[0].holdout_pokemon):
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
    """--model compare: train both locally on the same battles, compare them paired on the same
    test battles (bootstrap interval, exact McNemar), then log and register only the better one."""
    first = configs[0]
    if data is None:
        data = generate_dataset(
            first.n_battles, first.seed, first.scenario, first.level, first.roster
        )
    local, models = [], []
    with tempfile.TemporaryDirectory(prefix="predictiondex-compare-") as scratch:
        for config in configs:
            folder = Path(scratch) / config.model_type
            own = dataclasses.replace(settings, models_dir=folder)
            local.append(
                train_model(config.replace(use_mlflow=False, export_local=True), own, data=data)
            )
            models.append(artifacts.load_model_dir(folder))
    for config, result in zip(configs, local, strict=True):
        echo(f"{config.model_type}: test_accuracy={result.metrics['test_accuracy']:.4f}")
    best = max(range(len(configs)), key=lambda i: local[i].metrics["test_accuracy"])
    evidence = "; ".join(_paired_on_test(first, data, models, best, i)
                         for i in range(len(configs)) if i != best)  # fmt: skip
    echo(f"🏆 {configs[best].model_type} is better: registering it ({evidence})")
    result = train_model(configs[best], settings, data=data)
    for line in result_lines(result, configs[best].holdout_pokemon):
        echo(line)
    return 0


def _paired_on_test(
    config: TrainConfig, data: BattleDataset, models: list, best: int, other: int
) -> str:
    """'accuracy +0.0017 [−0.0010, +0.0044] on 40,123 test battles, McNemar p = 0.21; not a
    significant difference': the better model against another on the same test battles."""
    from core.evaluate import FeatureRows
    from core.evaluate.compare import paired_accuracy

    rows = split_by_matchup(data, config.test_fraction, config.seed, config.holdout_pokemon)["test"]
    test = data.take(rows)
    features = FeatureRows.of(test)
    every = np.arange(len(test))
    paired = paired_accuracy(features.probability(models[best], every),
                             features.probability(models[other], every), test.winner,
                             seed=config.seed)  # fmt: skip
    significance = ("a significant difference" if paired.verdict != "no significant difference"
                    else "not a significant difference")  # fmt: skip
    versus = f" than {models[other].model_type}" if len(models) > 2 else ""
    return f"{paired.as_text('test battles')}{versus}; {significance}"


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
