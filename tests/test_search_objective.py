"""Search trials are scored on the probability serving answers (antisymmetric), not the raw one."""

import numpy as np
import optuna
import pytest

from core.features import FEATURE_COLUMNS, mirror_rows
from core.predict.scoring import served_probability
from core.search import objective
from core.search.data import SearchData, build_table
from core.train import TrainConfig
from core.train.rows import with_mirrors

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data():
    table, digest = build_table(4000, seed=11)
    fit, valid = table[table["part"] == "fit"], table[table["part"] == "valid"]
    return SearchData(
        fit[FEATURE_COLUMNS].reset_index(drop=True), fit["winner"].to_numpy(),
        valid[FEATURE_COLUMNS].reset_index(drop=True), valid["winner"].to_numpy(),
        "key", digest, 0.0, False,
    )  # fmt: skip


@pytest.mark.parametrize("model_type", ["xgboost", "random_forest"])
@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
def test_a_trial_is_scored_on_the_served_probability(data, model_type, metric):
    params = {**TrainConfig(model_type=model_type).params, "n_estimators": 50}
    study = optuna.create_study(direction="minimize" if metric == "log_loss" else "maximize")
    trial = study.ask()
    fit = objective._fit_xgboost if model_type == "xgboost" else objective._fit_forest
    estimator = fit(trial, params, data, metric, seed=3)
    served = served_probability(estimator, data.valid_x)
    value = objective.trial_score(estimator, data, metric)
    assert value == pytest.approx(objective.score(served, data.valid_y, metric), abs=1e-12)
    raw = estimator.predict_proba(data.valid_x)[:, 1]
    assert np.abs(raw - served).max() > 1e-3  # the raw output is not what serving answers
    reports = study.trials[0].intermediate_values
    assert reports  # the pruner saw the served score too
    if model_type == "xgboost":  # the last report is the whole booster's: the final score
        assert reports[max(reports)] == pytest.approx(value, abs=1e-9)


def test_with_mirrors_adds_each_mixed_policy_battle_mirrored(data):
    x, y = with_mirrors(data.fit_x, data.fit_y)
    rows = data.fit_x.to_numpy(np.float32)
    a, b = FEATURE_COLUMNS.index("a_random_policy"), FEATURE_COLUMNS.index("b_random_policy")
    mixed = np.flatnonzero(rows[:, a] != rows[:, b])
    assert mixed.size > 0 and len(x) == len(rows) + mixed.size
    np.testing.assert_array_equal(x.to_numpy()[: len(rows)], rows)
    np.testing.assert_array_equal(x.to_numpy()[len(rows) :], mirror_rows(rows[mixed]))
    np.testing.assert_array_equal(y[len(rows) :], 1 - data.fit_y[mixed])
