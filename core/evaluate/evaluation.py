"""`evaluate_model`: the one entry point used by training, the CLI and the Models page."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.dataset import BattleDataset, DatasetError
from core.evaluate import report as reports
from core.evaluate.matchups import (
    DEFAULT_MATCHUP_PAIRS,
    MatchupCalibration,
    held_out_pairs,
    matchup_calibration,
)
from core.evaluate.metrics import (
    ClassificationMetrics,
    FeatureRows,
    Scorer,
    classification_metrics,
)
from core.evaluate.oracle import (
    OracleGap,
    oracle_probabilities,
    oracle_sample_rows,
    paired_oracle_gap,
)


@dataclass(frozen=True)
class Evaluation:
    """A model measured on held-out battles.

    Fields: `test` (metrics on the test rows), `train` (on the training rows given, or None),
    `oracle_accuracy` (mean max(p, 1 - p) over a seeded sample of the test rows, or None when
    not measured), `holdout_accuracy` (battles of held-out Pokémon, or None), `test_rows`
    (count), `oracle_gap` (the model's paired gap to the oracle on that same sample, or None),
    `matchups` (calibration against the truth on held-out pairs, or None), `report` (curves,
    slices and importance as plain data, {} when not asked), `holdout_rows` (count of the
    held-out Pokémon's battles behind `holdout_accuracy`, 0 without them).
    """

    test: ClassificationMetrics
    train: ClassificationMetrics | None = None
    oracle_accuracy: float | None = None
    holdout_accuracy: float | None = None
    test_rows: int = 0
    oracle_gap: OracleGap | None = None
    matchups: MatchupCalibration | None = None
    report: dict = field(default_factory=dict)
    holdout_rows: int = 0

    def metrics(self) -> dict[str, float]:
        """The run's MLflow metrics: train_accuracy, test_*, overfitting, oracle_*, matchup_*."""
        out: dict[str, float] = {}
        if self.train is not None:
            out["train_accuracy"] = self.train.accuracy
        out.update(self.test.as_dict("test_"))
        if self.train is not None:
            out["overfitting"] = self.train.accuracy - self.test.accuracy
        if self.oracle_accuracy is not None:
            out["oracle_accuracy"] = self.oracle_accuracy
        if self.oracle_gap is not None:
            gap = self.oracle_gap.excess_error
            out["expected_accuracy"] = self.oracle_gap.expected_accuracy
            # The paired gap (same rows, same p): >= 0 by construction, unlike oracle - test.
            out["oracle_gap"] = out["excess_error"] = gap.estimate
            out["excess_error_low"], out["excess_error_high"] = gap.low, gap.high
        if self.holdout_accuracy is not None:
            out["holdout_accuracy"] = self.holdout_accuracy
        if self.matchups is not None and self.matchups.pairs:
            out.update(self.matchups.as_dict())
        return out


def _oracle_part(model, data, features, test_rows, sample, replays, seed):
    """(oracle accuracy, paired gap, sampled rows, their p) on the oracle's seeded sample."""
    chosen = oracle_sample_rows(test_rows, sample, seed)
    p = oracle_probabilities(data.take(chosen), replays=replays, seed=seed)
    q = features.probability(model, chosen)
    gap = paired_oracle_gap(p, q, seed=seed)
    return gap.oracle_accuracy, gap, chosen, p


def _report(model, data, test_rows, test_x, q, sampled, p) -> dict:
    """Reliability (with the true p of the oracle's sample), ROC, confusion, importance, slices."""
    labels = data.winner[test_rows]
    p_rows = None
    if sampled is not None:
        order = np.argsort(test_rows)
        p_rows = order[np.searchsorted(test_rows[order], sampled)]
    return {
        "reliability": reports.reliability(q, labels, p, p_rows),
        "roc": reports.roc(q, labels),
        "confusion": reports.confusion(q, labels),
        "importance": reports.importance(model),
        "slices": reports.slices(reports.slice_keys(data, test_rows, test_x), q, labels),
    }


def evaluate_model(
    model: Scorer,
    data: BattleDataset,
    test_rows: np.ndarray,
    *,
    features: FeatureRows | None = None,
    train_rows: np.ndarray | None = None,
    holdout_rows: np.ndarray | None = None,
    oracle_sample: int = 0,
    oracle_replays: int = 400,
    seed: int = 0,
    matchup_pairs: int = DEFAULT_MATCHUP_PAIRS,
    with_report: bool = True,
) -> Evaluation:
    """Measure a model on a dataset's test rows: metrics, oracle gap, calibration, report.

    `features` defaults to the dataset's own; `oracle_sample=0` skips the oracle and its gap,
    `matchup_pairs=0` the matchup calibration, `with_report=False` the curves and slices.
    Raises DatasetError for an empty test set or replays < 1.
    """
    if len(test_rows) == 0:
        raise DatasetError("No test battles to evaluate on: use more battles.")
    if oracle_replays < 1:
        raise DatasetError("replays must be at least 1.")
    features = features or FeatureRows.of(data)
    q, labels = features.probability(model, test_rows), data.winner[test_rows]

    def measure(rows: np.ndarray) -> ClassificationMetrics:
        return classification_metrics(features.probability(model, rows), data.winner[rows])

    oracle = gap = None
    sampled = p = None
    if oracle_sample:
        oracle, gap, sampled, p = _oracle_part(
            model, data, features, test_rows, oracle_sample, oracle_replays, seed
        )
    matchups = None
    if matchup_pairs:
        pairs = held_out_pairs(data, test_rows, matchup_pairs, seed)
        matchups = matchup_calibration(model, data.dex, pairs, replays=oracle_replays, seed=seed)
    report = {}
    if with_report:
        test_x = features.rows(test_rows)
        report = _report(model, data, np.asarray(test_rows), test_x, q, sampled, p)
    has_holdout = holdout_rows is not None and len(holdout_rows) > 0
    return Evaluation(
        test=classification_metrics(q, labels),
        train=None if train_rows is None else measure(train_rows),
        oracle_accuracy=oracle,
        holdout_accuracy=measure(holdout_rows).accuracy if has_holdout else None,
        test_rows=len(test_rows),
        oracle_gap=gap,
        matchups=matchups,
        report=report,
        holdout_rows=len(holdout_rows) if has_holdout else 0,
    )
