"""Paired statistics: the percentile bootstrap of a mean and the exact McNemar test.

Both work on per-row values of the SAME rows (a paired design), so two models' noise from the
battles they were scored on cancels out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import PredictionDexError

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


class StatisticsError(PredictionDexError, ValueError):
    """A statistic asked of no data or with bad settings; the message says what to change."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval (same unit as the values)."""

    estimate: float
    low: float
    high: float

    def as_text(self, digits: int = 4) -> str:
        """'−0.0012 [−0.0031, +0.0007]' (signed, Unicode minus)."""

        def signed(value: float) -> str:
            return f"{value:+.{digits}f}".replace("-", "−")

        return f"{signed(self.estimate)} [{signed(self.low)}, {signed(self.high)}]"


def bootstrap_mean(
    values: np.ndarray,
    *,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean of `values` (shape (n,)) with a percentile bootstrap interval over rows.

    Resampling is done on the counts of each distinct value when there are few of them (0/1
    differences of paired accuracies), so 200,000 rows cost as little as 200.
    Raises StatisticsError when `values` is empty or resamples < 1.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise StatisticsError("No rows to bootstrap: evaluate on at least one battle.")
    if resamples < 1 or not 0.0 < confidence < 1.0:
        raise StatisticsError("Use at least one resample and a confidence strictly in (0, 1).")
    rng = np.random.default_rng([seed, 3571])
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size <= 16:
        # A multinomial draw of how often each distinct value is picked: the same distribution
        # as resampling rows, without materialising n indices per resample.
        picks = rng.multinomial(values.size, counts / values.size, size=resamples)
        means = picks @ distinct / values.size
    else:
        means = np.array(
            [values[rng.integers(0, values.size, values.size)].mean() for _ in range(resamples)]
        )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(values.mean()), float(low), float(high))


def mcnemar_exact(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (a binomial test at 1/2).

    `only_first_right`: rows the first model got right and the second wrong; and the reverse.
    No discordant row gives 1.0. Raises StatisticsError for negative counts.
    """
    from scipy.stats import binomtest

    first, second = int(only_first_right), int(only_second_right)
    if first < 0 or second < 0:
        raise StatisticsError("Discordant counts cannot be negative.")
    if first + second == 0:
        return 1.0
    return float(binomtest(first, first + second, 0.5, alternative="two-sided").pvalue)
