"""Champion/challenger: two models on the SAME fresh, seeded battles.

The accuracy difference is paired (the same battles), so its bootstrap interval is narrow
and the exact McNemar test looks only at the battles where the two models disagree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.dataset import BattleDataset, DatasetError, LevelRange, generate_dataset
from core.evaluate.matchups import held_out_pairs, matchup_calibration, pair_truth
from core.evaluate.metrics import FeatureRows, classification_metrics, predict_probability
from core.evaluate.stats import Interval, bootstrap_mean, mcnemar_exact

Verdict = Literal["better", "worse", "no significant difference"]
SIGNIFICANCE = 0.05
# The one default of every fresh-battle measurement: the promotion's champion/challenger
# (TrainConfig.promotion_battles), the Models page's Compare, `python -m core.evaluate` and
# `python -m core.train --mode evaluate` all draw DEFAULT_COMPARE_BATTLES battles from
# DEFAULT_COMPARE_SEED unless told otherwise, so the same pair gets the same numbers everywhere.
DEFAULT_COMPARE_BATTLES = 100_000
DEFAULT_COMPARE_SEED = 2026
# Fresh battles of an evaluation (core.evaluate, core.train --mode evaluate): fewer give
# metrics too noisy to read (5 battles gave accuracy 1.0, 1 gave ROC AUC nan).
MIN_EVALUATION_BATTLES, MAX_EVALUATION_BATTLES = 1_000, 2_000_000
COMPARE_PAIRS = 300  # unordered held-out pairs for the matchup_mae difference
COMPARE_REPLAYS = 200
MIN_HELDOUT_BATTLES = 2_000  # fewer shared held-out battles: use every fresh battle
# Fresh battles are simulated from fresh_seed(seed): 2**32 * FRESH_SEED_SALT + seed, above every
# seed a training accepts (0..2**32 - 1, core.train's MAX_SEED), so no seed and battle count
# given to an evaluation rebuilds a training dataset.
FRESH_SEED_SALT = 7
MAX_FRESH_SEED = 2**32 - 1


@dataclass(frozen=True)
class FreshBattles:
    """Seeded battles no model was trained on, with their features and the rows compared.

    Fields: data (simulated from `fresh_seed(seed)`), features, rows (indices compared: matchups
    held out from every training set given, or all), heldout (True when `rows` is that held-out
    subset), seed (the seed asked for, as the user gave it).
    """

    data: BattleDataset
    features: FeatureRows
    rows: np.ndarray
    heldout: bool
    seed: int = 0

    def describe(self, version: int | None = None) -> str:
        """'183,412 fresh battles (seed 2026: ...; matchups held out from v3's training)'."""
        whose = f"v{version}'s" if version is not None else "the model's"
        where = (f"matchups held out from {whose} training" if self.heldout
                 else "its training split unknown: some matchups may have been in its training")  # fmt: skip
        return (f"{self.rows.size:,} fresh battles (seed {self.seed}, simulated apart from "
                f"every training dataset; {where})")  # fmt: skip


def fresh_seed(seed: int) -> int:
    """The simulator seed of the fresh battles drawn with `seed` (0..2**32 - 1): it is above
    every training seed, so fresh battles never rebuild a training dataset.

    Raises DatasetError for a seed outside 0..2**32 - 1.
    """
    if not 0 <= int(seed) <= MAX_FRESH_SEED:
        raise DatasetError(f"Seed {seed} is outside 0..{MAX_FRESH_SEED:,}: choose another --seed.")
    return 2**32 * FRESH_SEED_SALT + int(seed)


@dataclass(frozen=True)
class Comparison:
    """A candidate against a baseline on the same battles (accuracies in [0, 1]).

    Fields: accuracy / accuracy_against (candidate / baseline), difference (candidate − baseline
    with its bootstrap 95% interval), p_value (exact McNemar on the discordant battles),
    only_candidate_right / only_baseline_right (discordant counts), log_loss_difference
    (candidate − baseline, nats; negative is better), matchup_mae_difference (candidate −
    baseline; negative is better), verdict, battles (compared), seed, heldout.
    """

    accuracy: float
    accuracy_against: float
    difference: Interval
    p_value: float
    only_candidate_right: int
    only_baseline_right: int
    log_loss_difference: float
    matchup_mae_difference: float
    verdict: Verdict
    battles: int
    seed: int
    heldout: bool

    def evidence_text(self) -> str:
        """'accuracy +0.0003 [−0.0010, +0.0016] on 20,242 fresh battles, McNemar p = 0.71'."""
        return describe_difference(self.difference, self.p_value, self.battles, "fresh battles")


@dataclass(frozen=True)
class PairedAccuracy:
    """Two models' accuracy on the SAME battles: difference (candidate − baseline, in [−1, 1],
    with its bootstrap 95% interval), p_value (exact McNemar on the discordant battles),
    only_candidate_right / only_baseline_right (discordant counts), battles (scored), verdict.
    """

    difference: Interval
    p_value: float
    only_candidate_right: int
    only_baseline_right: int
    battles: int
    verdict: Verdict

    def as_text(self, battles: str = "battles") -> str:
        """'accuracy +0.0003 [−0.0010, +0.0016] on 20,242 fresh battles, McNemar p = 0.71'."""
        return describe_difference(self.difference, self.p_value, self.battles, battles)


def describe_difference(difference: Interval, p_value: float, count: int, battles: str) -> str:
    """The evidence in words: metric, difference with its interval, battle count, McNemar p."""
    return f"accuracy {difference.as_text()} on {count:,} {battles}, McNemar p = {p_value:.2g}"


def paired_accuracy(
    q_candidate: np.ndarray, q_baseline: np.ndarray, labels: np.ndarray, seed: int = 0
) -> PairedAccuracy:
    """Compare two models' P(A wins) (shape (n,)) on the same battles' labels (0/1, shape (n,)).

    Raises DatasetError when there are no battles.
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        raise DatasetError("No battles to compare on: use more battles.")
    right_new = (np.asarray(q_candidate) >= 0.5) == (labels == 1)
    right_old = (np.asarray(q_baseline) >= 0.5) == (labels == 1)
    difference = bootstrap_mean(right_new.astype(np.int8) - right_old.astype(np.int8), seed=seed)
    only_new = int((right_new & ~right_old).sum())
    only_old = int((right_old & ~right_new).sum())
    p_value = mcnemar_exact(only_new, only_old)
    return PairedAccuracy(difference, p_value, only_new, only_old, int(labels.size),
                          verdict_of(difference, p_value))  # fmt: skip


@functools.lru_cache(maxsize=4)
def _simulate(
    n_battles: int, seed: int, roster: str, scenario: str, levels: tuple[int, int]
) -> tuple[BattleDataset, FeatureRows]:
    data = generate_dataset(n_battles, fresh_seed(seed), scenario, levels, roster)
    return data, FeatureRows.of(data)


def fresh_battles(
    n_battles: int = DEFAULT_COMPARE_BATTLES,
    seed: int = DEFAULT_COMPARE_SEED,
    roster: str = "letsgo",
    splits: tuple[tuple[int, float], ...] = (),
    *,
    scenario: str = "all",
    level: LevelRange | int | tuple[int, int] = 50,
) -> FreshBattles:
    """Fresh battles (cached by n, seed, roster, scenario and levels), simulated from
    `fresh_seed(seed)` and restricted to matchups held out from every training split given as
    (split seed, test fraction) when at least MIN_HELDOUT_BATTLES remain.

    Raises DatasetError for a bad battle count, seed, scenario or roster.
    """
    levels, seed = LevelRange.of(level), int(seed)
    data, features = _simulate(int(n_battles), seed, roster, scenario, (levels.low, levels.high))
    rows = np.arange(len(data))
    if splits:
        size = len(data.dex.pokemon_ids)
        keys = data.matchup_keys()
        held = np.ones(len(data), dtype=bool)
        for split_seed, fraction in splits:
            # The same draw as dataset.split_by_matchup: a matchup in its test part.
            draw = np.random.default_rng([int(split_seed), 7919]).random(size * size)
            held &= draw[keys] < float(fraction)
        if held.sum() >= min(MIN_HELDOUT_BATTLES, len(data)):
            return FreshBattles(data, features, np.flatnonzero(held), True, seed)
    return FreshBattles(data, features, rows, False, seed)


def verdict_of(difference: Interval, p_value: float) -> Verdict:
    """better / worse when the interval excludes 0 and McNemar agrees (p < 0.05)."""
    if p_value < SIGNIFICANCE and difference.low > 0:
        return "better"
    if p_value < SIGNIFICANCE and difference.high < 0:
        return "worse"
    return "no significant difference"


def compare_models(candidate, baseline, fresh: FreshBattles, seed: int = 0) -> Comparison:
    """Score both models on `fresh.rows` and compare them (see Comparison).

    Raises DatasetError when there are no battles to compare on.
    """
    rows = fresh.rows
    if rows.size == 0:
        raise DatasetError("No battles to compare on: use more fresh battles.")
    features = fresh.features.rows(rows)
    labels = fresh.data.winner[rows]
    q_new, q_old = predict_probability(candidate, features), predict_probability(baseline, features)
    paired = paired_accuracy(q_new, q_old, labels, seed)
    pairs = held_out_pairs(fresh.data, rows, COMPARE_PAIRS, seed)
    truth = pair_truth(fresh.data.dex, pairs, replays=COMPARE_REPLAYS, seed=seed)
    mae = [matchup_calibration(m, fresh.data.dex, pairs, truth=truth).matchup_mae
           for m in (candidate, baseline)]  # fmt: skip
    new_metrics, old_metrics = (
        classification_metrics(q_new, labels),
        classification_metrics(q_old, labels),
    )
    return Comparison(
        accuracy=new_metrics.accuracy,
        accuracy_against=old_metrics.accuracy,
        difference=paired.difference,
        p_value=paired.p_value,
        only_candidate_right=paired.only_candidate_right,
        only_baseline_right=paired.only_baseline_right,
        log_loss_difference=new_metrics.log_loss - old_metrics.log_loss,
        matchup_mae_difference=mae[0] - mae[1],
        verdict=paired.verdict,
        battles=int(rows.size),
        seed=fresh.seed,
        heldout=fresh.heldout,
    )
