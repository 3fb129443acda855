"""How long a training will take, from its configuration alone (a simple measured model).

seconds = start-up + battles x (simulate + features) + fit + oracle + publish + compare, where
- fit (XGBoost) = trees x training rows x (XGB_BASE + XGB_PER_DEPTH x max_depth),
- fit (random forest) = trees x training rows x RF_PER_TREE_ROW x max_features / 0.5,
- a grid search fits every combination on 75% of the training rows, then the best once more,
- oracle = oracle_sample x oracle_replays x ORACLE_PER_REPLAY,
- compare (only when the promotion policy is beats_production, the default: the champion/
  challenger on fresh battles) = promotion_battles x (simulate + features) + the held-out share
  (test_fraction) of them scored by both models x SCORE_PER_BATTLE + COMPARE_FIXED_SECONDS.
  It assumes a Production exists and the threshold is met (else the step is skipped).

The constants were measured on the development machine (2 shared cores, OMP_WAIT_POLICY=PASSIVE,
XGBoost hist with 2 threads) with `python -m core.jobs calibrate`, which re-measures them; see
BENCHMARKS.md. They are an order-of-magnitude guide (within ~2x), not a promise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

START_SECONDS = 4.0  # a fresh process importing numpy, pandas, xgboost, sklearn and mlflow
SIMULATE_PER_BATTLE = 8.4e-6
# Re-measured 2026-11-30 in CPU seconds (process_time, 20,000 and 100,000 battles, load ~5):
# the analytic drain race made the features ~6x costlier than the 5.3e-6 measured before it.
FEATURES_PER_BATTLE = 3.2e-5
XGB_BASE = 3.0e-7  # seconds per tree per training row, plus XGB_PER_DEPTH x max_depth
XGB_PER_DEPTH = 0.45e-7
RF_PER_TREE_ROW = 1.6e-5  # at max_features 0.5, depth 16, 2 jobs
ORACLE_PER_REPLAY = 8.1e-7
PUBLISH_SECONDS = 3.0  # log, register, promote, export
# The champion/challenger (core.train.policy): each model scores a battle (its features and
# their mirror, 150 trees of depth 6) in ~9.2e-6 CPU s (measured 2026-11-30, 100,000 battles);
# the fixed part is loading Production, the matchup truth (300 pairs x 200 replays) and the
# bootstrap.
SCORE_PER_BATTLE = 9.2e-6
COMPARE_FIXED_SECONDS = 1.5
DEFAULTS = {
    "xgboost": {"n_estimators": 150, "max_depth": 6},
    "random_forest": {"n_estimators": 100, "max_depth": 16, "max_features": 0.5},
}


@dataclass(frozen=True)
class Estimate:
    """Expected seconds by part of the pipeline, and their total."""

    start_seconds: float
    data_seconds: float
    fit_seconds: float
    oracle_seconds: float
    publish_seconds: float
    compare_seconds: float = 0.0
    compare_battles: int = 0

    @property
    def total_seconds(self) -> float:
        """The whole job, in seconds."""
        return (
            self.start_seconds
            + self.data_seconds
            + self.fit_seconds
            + self.oracle_seconds
            + self.publish_seconds
            + self.compare_seconds
        )


def fit_seconds(model_type: str, params: dict[str, Any], rows: float) -> float:
    """Expected seconds of one fit on `rows` training rows with these hyperparameters."""
    merged = {**DEFAULTS.get(model_type, DEFAULTS["xgboost"]), **params}
    trees = float(merged["n_estimators"])
    if model_type == "random_forest":
        return trees * rows * RF_PER_TREE_ROW * float(merged["max_features"]) / 0.5
    return trees * rows * (XGB_BASE + XGB_PER_DEPTH * float(merged["max_depth"]))


def _params_of(config: Any) -> dict[str, Any]:
    params = getattr(config, "params", {}) or {}
    if hasattr(params, "model_dump"):
        params = params.model_dump()
    return dict(params)


def compare_seconds(battles: float, test_fraction: float = 0.2) -> float:
    """Expected seconds of the champion/challenger on `battles` fresh battles: simulate and
    build features for all, score the held-out share with both models, plus the fixed part."""
    scored = battles * test_fraction
    return (battles * (SIMULATE_PER_BATTLE + FEATURES_PER_BATTLE)
            + 2 * scored * SCORE_PER_BATTLE + COMPARE_FIXED_SECONDS)  # fmt: skip


def _compares(config: Any, settings: Any) -> bool:
    """True when this training's promotion policy scores it against Production."""
    if not getattr(config, "use_mlflow", True):
        return False
    policy = getattr(config, "promotion_policy", None)
    if policy is None:
        from core.config import Settings

        policy = (settings or Settings.from_env()).promotion_policy
    return policy == "beats_production"


def estimate_training(config: Any, settings: Any = None) -> Estimate:
    """The expected duration of a training with this TrainConfig (see the module's model).

    `settings` (core.config.Settings) gives the promotion policy when the config leaves it to
    them (default: Settings.from_env()); beats_production adds the champion/challenger.
    """
    battles = float(config.n_battles)
    rows = battles * (1.0 - float(getattr(config, "test_fraction", 0.2)))
    params = _params_of(config)
    fit = fit_seconds(config.model_type, params, rows)
    if getattr(config, "use_gridsearch", False):
        from core.train import grid_combinations

        combos = grid_combinations(config.model_type, config.grid_type)
        fit += sum(fit_seconds(config.model_type, {**params, **c}, rows * 0.75) for c in combos)
    oracle = float(config.oracle_sample) * float(config.oracle_replays) * ORACLE_PER_REPLAY
    fraction = float(getattr(config, "test_fraction", 0.2))
    compare_battles = int(config.promotion_battles) if _compares(config, settings) else 0
    return Estimate(
        start_seconds=START_SECONDS,
        data_seconds=battles * (SIMULATE_PER_BATTLE + FEATURES_PER_BATTLE),
        fit_seconds=fit,
        oracle_seconds=oracle,
        publish_seconds=PUBLISH_SECONDS,
        compare_seconds=compare_seconds(compare_battles, fraction) if compare_battles else 0.0,
        compare_battles=compare_battles,
    )


def describe_estimate(estimate: Estimate) -> str:
    """'about 45 s: start 4 s, simulate 3 s, fit 34 s, oracle 1 s, publish 3 s' (plain words),
    then ', champion/challenger 6 s (100,000 fresh battles)' when the policy compares."""
    parts = (("start", estimate.start_seconds), ("simulate", estimate.data_seconds),
             ("fit", estimate.fit_seconds), ("oracle", estimate.oracle_seconds),
             ("publish", estimate.publish_seconds))  # fmt: skip
    shown = ", ".join(f"{name} {_part_duration(seconds)}" for name, seconds in parts)
    if estimate.compare_battles:
        shown += (f", champion/challenger {_part_duration(estimate.compare_seconds)} "
                  f"({estimate.compare_battles:,} fresh battles)")  # fmt: skip
    return f"about {format_duration(estimate.total_seconds)}: {shown}"


def _part_duration(seconds: float) -> str:
    return "< 1 s" if seconds < 0.5 else format_duration(seconds)


def format_duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 20 min': how a person reads an estimate."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def calibrate(battles: int = 40_000, seed: int = 0) -> dict[str, float]:
    """Re-measure the constants on this machine (about a minute); returns them by name."""
    from sklearn.ensemble import RandomForestClassifier
    from xgboost import XGBClassifier

    from core.dataset import generate_dataset
    from core.evaluate import oracle_probabilities
    from core.features import build_features

    generate_dataset(1000, seed, "all", 50, "letsgo")  # warm the Pokédex tables
    started = time.perf_counter()
    data = generate_dataset(battles, seed, "all", 50, "letsgo")
    simulated = time.perf_counter()
    features = build_features(data.arrays, data.dex)
    built = time.perf_counter()
    measured = {
        "SIMULATE_PER_BATTLE": (simulated - started) / battles,
        "FEATURES_PER_BATTLE": (built - simulated) / battles,
    }
    per_depth = {}
    for depth in (3, 9):
        model = XGBClassifier(n_estimators=40, max_depth=depth, tree_method="hist", n_jobs=2)
        started = time.perf_counter()
        model.fit(features, data.winner)
        per_depth[depth] = (time.perf_counter() - started) / 40 / battles
    measured["XGB_PER_DEPTH"] = (per_depth[9] - per_depth[3]) / 6
    measured["XGB_BASE"] = per_depth[3] - 3 * measured["XGB_PER_DEPTH"]
    forest = RandomForestClassifier(n_estimators=10, max_depth=16, max_features=0.5, n_jobs=2)
    started = time.perf_counter()
    forest.fit(features, data.winner)
    measured["RF_PER_TREE_ROW"] = (time.perf_counter() - started) / 10 / battles
    started = time.perf_counter()
    oracle_probabilities(data.take(np.arange(500)), 200, seed)
    measured["ORACLE_PER_REPLAY"] = (time.perf_counter() - started) / 500 / 200
    return measured
