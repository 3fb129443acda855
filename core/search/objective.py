"""One trial: sample hyperparameters from the one schema, fit with pruning, score, log a child run.

A trial is scored as serving would answer: the antisymmetric q = ½ + (f(x) − f(mirror(x))) / 2
of `core.predict.scoring`, not the model's raw output, and it fits the rows training fits (the
battles plus the mirrors of mixed-policy ones, `core.train.rows.with_mirrors`). XGBoost reports
that score every `XGBOOST_CHUNK` boosting rounds (a callback); RandomForest grows its trees in
`FOREST_CHUNKS` warm-started chunks. A hopeless trial is stopped by the study's pruner at the
first report that falls behind.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import numpy as np
import pandas as pd

from core.config import Settings
from core.evaluate import classification_metrics
from core.features import FEATURE_COLUMNS
from core.predict.scoring import antisymmetric_probability
from core.search.data import SearchData
from core.search.tracking import STATE_TAG, start_child
from core.train import hyperparameter_schema, make_estimator
from core.train.rows import with_mirrors

logger = logging.getLogger(__name__)

XGBOOST_CHUNK = 25  # boosting rounds between two reports to the pruner
FOREST_CHUNKS = 4


def sample_params(
    trial: Any, model_type: str, names: tuple[str, ...] | None = None
) -> dict[str, float | int]:
    """Hyperparameters from the schema's search ranges (log scale where the schema says so).

    With `names` (a grid's), only those are sampled; the others keep their defaults.
    """
    schema = hyperparameter_schema(model_type)
    params: dict[str, float | int] = {name: spec.default for name, spec in schema.items()}
    for name, spec in schema.items():
        if names is not None and name not in names:
            continue
        low, high = spec.search_low, spec.search_high
        if spec.kind is int:
            params[name] = trial.suggest_int(name, int(low), int(high), log=spec.log)
        else:
            params[name] = trial.suggest_float(name, float(low), float(high), log=spec.log)
    return params


def score(probability: np.ndarray, labels: np.ndarray, objective: str) -> float:
    """The objective on held-out rows: log loss (nats) or accuracy, through core.evaluate."""
    metrics = classification_metrics(probability, labels)
    return metrics.log_loss if objective == "log_loss" else metrics.accuracy


def served_score(predict, valid_x: pd.DataFrame, labels: np.ndarray, objective: str) -> float:
    """The objective of the served (antisymmetric) probability on the valid rows; `predict`
    maps float32 FEATURE_COLUMNS rows to the model's own P(A wins)."""
    rows = valid_x[FEATURE_COLUMNS].to_numpy(np.float32)
    return score(antisymmetric_probability(predict, rows), labels, objective)


def trial_score(estimator: Any, data: SearchData, objective: str) -> float:
    """A fitted model's objective on the valid rows, as serving would answer (antisymmetric)."""

    def predict(rows: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(rows, columns=FEATURE_COLUMNS, copy=False)
        return np.asarray(estimator.predict_proba(frame))[:, 1]

    return served_score(predict, data.valid_x, data.valid_y, objective)


def _fit_xgboost(
    trial: Any, params: dict, data: SearchData, objective: str, seed: int
) -> Any | None:
    """The fitted model, or None when the pruner stopped it."""
    import xgboost

    class Report(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            if (epoch + 1) % XGBOOST_CHUNK:
                return False

            def predict(rows: np.ndarray) -> np.ndarray:
                return model.inplace_predict(rows, iteration_range=(0, epoch + 1))

            trial.report(served_score(predict, data.valid_x, data.valid_y, objective), epoch + 1)
            state["pruned"] = trial.should_prune()
            return state["pruned"]  # True stops the boosting

    # A dict in the closure: XGBoost may deep-copy the callback object, never this dict.
    state = {"pruned": False}
    estimator = make_estimator("xgboost", params, seed)
    estimator.set_params(n_jobs=1, callbacks=[Report()])
    estimator.fit(*with_mirrors(data.fit_x, data.fit_y), verbose=False)
    return None if state["pruned"] else estimator


def _fit_forest(
    trial: Any, params: dict, data: SearchData, objective: str, seed: int
) -> Any | None:
    """The fitted forest, or None when the pruner stopped it."""
    total = int(params["n_estimators"])
    estimator = make_estimator("random_forest", {**params, "n_estimators": 1}, seed)
    estimator.set_params(n_jobs=1, warm_start=True)
    fit_x, fit_y = with_mirrors(data.fit_x, data.fit_y)
    for chunk in range(1, FOREST_CHUNKS + 1):
        trees = max(1, round(total * chunk / FOREST_CHUNKS))
        estimator.set_params(n_estimators=trees)
        estimator.fit(fit_x, fit_y)
        if chunk < FOREST_CHUNKS:
            trial.report(trial_score(estimator, data, objective), trees)
            if trial.should_prune():
                return None
    return estimator


def run_trial(
    trial: Any, model_type: str, data: SearchData, objective: str, seed: int,
    settings: Settings, parent_id: str, names: tuple[str, ...] | None = None,
) -> float:  # fmt: skip
    """Fit and score one trial inside its MLflow child run; raises optuna.TrialPruned when pruned.

    The child run gets the params, the objective's value (or the last reported one), the trial's
    state (tag optuna.state) and duration_seconds; it ends FINISHED (complete), KILLED (pruned)
    or FAILED (error or interrupt, re-raised).
    """
    import optuna

    params = sample_params(trial, model_type, names)
    run = start_child(settings, parent_id, trial.study.study_name, trial.number)
    trial.set_user_attr("mlflow_run_id", run.run_id)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    clock = time.perf_counter()
    run.log_params(params)
    try:
        fit = _fit_xgboost if model_type == "xgboost" else _fit_forest
        estimator = fit(trial, params, data, objective, seed)
        if estimator is not None:
            value = trial_score(estimator, data, objective)
    except BaseException as error:
        run.set_tags({STATE_TAG: "FAIL"})
        run.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    if estimator is None:
        run.log_metrics({"duration_seconds": time.perf_counter() - clock})
        run.set_tags({STATE_TAG: "PRUNED"})
        run.end("KILLED")
        raise optuna.TrialPruned()
    run.log_metrics({f"valid_{objective}": value, "duration_seconds": time.perf_counter() - clock})
    run.set_tags({STATE_TAG: "COMPLETE"})
    run.end("FINISHED")
    return value
