"""Matchup accuracy against the truth: |q − p| over the held-out ordered pairs (issue 13).

Trains the default configuration (`python -m core.train` with no flags: 200,000 battles, seed 42,
scenario all, level 50) the way the pipeline does (weighted configuration rows), for XGBoost and
random forest, and measures the served probability q (antisymmetric, through
`core.predict.scoring`) against p re-simulated with --replays replays per ordered pair, over the
test split's matchups at default movesets, level 50. The analytic race alone (the feature
`a_analytic_win`) is measured too. Prints one JSON object. `--drain-only` samples the pairs
among the held-out ones where a side's default moveset has a drain move (Absorb, Mega Drain,
Leech Life, Bouncy Bubble: the analytic race's hardest rows).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_matchups.py --pairs 1500 --replays 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.dataset import generate_dataset, split_by_matchup  # noqa: E402
from core.evaluate import FeatureRows  # noqa: E402
from core.evaluate.matchups import (  # noqa: E402
    WRONG_SIDE_MARGIN,
    held_out_pairs,
    pair_arrays,
    pair_truth,
)
from core.features import FEATURE_COLUMNS, feature_matrix  # noqa: E402
from core.predict.scoring import antisymmetric_probability, served_probability  # noqa: E402
from core.train import TrainConfig  # noqa: E402
from core.train.pipeline import make_estimator  # noqa: E402
from core.train.rows import weighted_rows  # noqa: E402


def figures(q: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """matchup_mae, _p95, _max, _wrong_side and the antisymmetry of q (first half (A,B),
    second half (B,A))."""
    error = np.abs(q - p)
    decided = np.abs(p - 0.5) > WRONG_SIDE_MARGIN
    wrong = decided & ((q > 0.5) != (p > 0.5))
    half = len(q) // 2
    return {
        "matchup_mae": round(float(error.mean()), 5),
        "matchup_p95": round(float(np.quantile(error, 0.95)), 5),
        "matchup_max": round(float(error.max()), 4),
        "matchup_wrong_side": round(float(wrong.sum() / max(int(decided.sum()), 1)), 5),
        "antisymmetry_max": float(np.abs(q[:half] + q[half:] - 1.0).max()),
    }


def drain_pairs(dex, pairs: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Up to `limit` of the unordered `pairs` (k, 2) where a side's default moveset drains."""
    arrays = pair_arrays(dex, pairs[:, 0], pairs[:, 1])
    drains = np.zeros(len(pairs), dtype=bool)
    for moves in (arrays.moves_a, arrays.moves_b):
        drains |= ((moves >= 0) & (dex.move_drain[np.maximum(moves, 0), 0] > 0)).any(1)
    keep = np.flatnonzero(drains)
    if keep.size > limit:
        keep = np.sort(np.random.default_rng(seed).choice(keep, limit, replace=False))
    return pairs[keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_matchups")
    parser.add_argument("--pairs", type=int, default=1500, help="unordered held-out pairs")
    parser.add_argument("--replays", type=int, default=2000, help="replays per ordered pair")
    parser.add_argument("--models", default="xgboost,random_forest")
    parser.add_argument("--drain-only", action="store_true", help="only pairs where a side drains")
    args = parser.parse_args(argv)
    config = TrainConfig(use_mlflow=False)
    started = time.perf_counter()
    data = generate_dataset(config.n_battles, config.seed, config.scenario, config.level)
    split = split_by_matchup(data, config.test_fraction, config.seed)
    features = FeatureRows.of(data)
    if args.drain_only:
        every = held_out_pairs(data, split["test"], len(split["test"]), config.seed)
        pairs = drain_pairs(data.dex, every, args.pairs, config.seed)
    else:
        pairs = held_out_pairs(data, split["test"], args.pairs, config.seed)
    arrays, p = pair_truth(data.dex, pairs, replays=args.replays, seed=config.seed)
    rows = feature_matrix(arrays, data.dex)
    report: dict = {"pairs": len(pairs), "ordered_pairs": len(p), "replays": args.replays,
                    "drain_only": args.drain_only}  # fmt: skip
    analytic = FEATURE_COLUMNS.index("a_analytic_win")
    q_analytic = antisymmetric_probability(lambda x: x[:, analytic].astype(float), rows)
    report["analytic"] = figures(q_analytic, p)
    for model_type in args.models.split(","):
        params = TrainConfig(model_type=model_type, use_mlflow=False).params
        x, y, weight = weighted_rows(features, data.winner, split["train"])
        tick = time.perf_counter()
        estimator = make_estimator(model_type, params, config.seed)
        estimator.fit(x, y, sample_weight=weight)
        fit_s = time.perf_counter() - tick
        report[model_type] = {
            **figures(served_probability(estimator, rows), p),
            "train_rows": len(y),
            "fit_s": round(fit_s, 1),
        }
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
