"""Evaluation: metrics, the one oracle, evaluation against the truth, champion/challenger.

Public surface:
- `evaluate_model(...)` -> `Evaluation`: the seed's metrics, log loss, Brier, the paired oracle
  gap (excess error >= 0 with a bootstrap 95% interval), matchup calibration against the truth,
  and a report (reliability, ROC, confusion at ½, importance, slices). Used by training, the CLI
  and the Models page.
- `compare_models` / `compare_versions` -> `Comparison`: two models on the SAME fresh battles,
  accuracy difference with a bootstrap interval, exact McNemar, verdict.
- `oracle_accuracy`, `oracle_probabilities`: the oracle, one salt for the dataset CLI and training.
- `python -m core.evaluate VERSION [--against ...]`: the CLI (core/evaluate/cli.py).

Modules: metrics, stats (bootstrap, McNemar), oracle, matchups, report, evaluation, compare,
stored (evaluations kept in a version's run), cli.
"""

from core.evaluate.evaluation import Evaluation, evaluate_model
from core.evaluate.matchups import DEFAULT_MATCHUP_PAIRS, MatchupCalibration, matchup_calibration
from core.evaluate.metrics import (
    ClassificationMetrics,
    FeatureRows,
    Scorer,
    classification_metrics,
    predict_probability,
)
from core.evaluate.oracle import (
    ORACLE_REPLAY_SALT,
    ORACLE_SAMPLE_SALT,
    OracleGap,
    oracle_accuracy,
    oracle_probabilities,
    paired_oracle_gap,
)
from core.evaluate.stats import Interval, StatisticsError, bootstrap_mean, mcnemar_exact

__all__ = [
    "DEFAULT_MATCHUP_PAIRS", "ORACLE_REPLAY_SALT", "ORACLE_SAMPLE_SALT", "ClassificationMetrics",
    "Evaluation", "FeatureRows", "Interval", "MatchupCalibration", "OracleGap", "Scorer",
    "StatisticsError", "bootstrap_mean", "classification_metrics", "evaluate_model",
    "matchup_calibration", "mcnemar_exact", "oracle_accuracy", "oracle_probabilities",
    "paired_oracle_gap", "predict_probability",
]  # fmt: skip
