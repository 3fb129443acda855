"""One trial: sample hyperparameters from the one schema, fit with pruning, score, log a child run.

XGBoost reports the held-out metric every `XGBOOST_CHUNK` boosting rounds (a callback on its
evaluation set); RandomForest grows its trees in `FOREST_CHUNKS` warm-started chunks. A
hopeless trial is stopped by the study's pruner at the first report that falls behind.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import numpy as np

from core.config import Settings
from core.evaluate import classification_metrics
from core.search.data import SearchData
from core.search.tracking import STATE_TAG, start_child
from core.train import hyperparameter_schema, make_estimator

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


def _fit_xgboost(
    trial: Any, params: dict, data: SearchData, objective: str, seed: int
) -> Any | None:
    """The fitted model, or None when the pruner stopped it."""
    import xgboost

    metric = "logloss" if objective == "log_loss" else "error"

    class Report(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            if (epoch + 1) % XGBOOST_CHUNK:
                return False
            value = evals_log["validation_0"][metric][-1]
            trial.report(value if objective == "log_loss" else 1.0 - value, epoch + 1)
            state["pruned"] = trial.should_prune()
            return state["pruned"]  # True stops the boosting

    # A dict in the closure: XGBoost may deep-copy the callback object, never this dict.
    state = {"pruned": False}
    estimator = make_estimator("xgboost", params, seed)
    estimator.set_params(n_jobs=1, eval_metric=metric, callbacks=[Report()])
    estimator.fit(data.fit_x, data.fit_y, eval_set=[(data.valid_x, data.valid_y)], verbose=False)
    return None if state["pruned"] else estimator


def _fit_forest(
    trial: Any, params: dict, data: SearchData, objective: str, seed: int
) -> Any | None:
    """The fitted forest, or None when the pruner stopped it."""
    total = int(params["n_estimators"])
    estimator = make_estimator("random_forest", {**params, "n_estimators": 1}, seed)
    estimator.set_params(n_jobs=1, warm_start=True)
    for chunk in range(1, FOREST_CHUNKS + 1):
        trees = max(1, round(total * chunk / FOREST_CHUNKS))
        estimator.set_params(n_estimators=trees)
        estimator.fit(data.fit_x, data.fit_y)
        if chunk < FOREST_CHUNKS:
            probability = estimator.predict_proba(data.valid_x)[:, 1]
            trial.report(score(probability, data.valid_y, objective), trees)
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
            value = score(estimator.predict_proba(data.valid_x)[:, 1], data.valid_y, objective)
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
