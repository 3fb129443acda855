"""A search worker: joins a study by name and runs trials until the study's budget is spent.

The budget lives in the study itself (user attributes `target_trials` and `deadline`), so a
worker started on another machine with `python -m core.search worker --study NAME --storage URL`
needs nothing else. Each fit is single-threaded; SIGTERM stops the current trial (FAIL, its
child run KILLED) and the worker.
"""

from __future__ import annotations

import logging
import signal
import time
import warnings
from dataclasses import dataclass
from typing import Any

from core.config import Settings
from core.search.config import SearchError, check_study_name
from core.search.data import load_search_data
from core.search.objective import run_trial
from core.search.storage import HEARTBEAT_SECONDS, cache_dir, open_storage

logger = logging.getLogger(__name__)

# Trials that count against the budget: finished or being run. A WAITING (enqueued) trial is not:
# it is run by the next worker that asks, as one of the budget's trials (counting it made
# `--trials 1` with the enqueued defaults run nothing).
COUNTED_STATES = ("COMPLETE", "PRUNED", "RUNNING")
READY_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class StudyPlan:
    """What a study searches, read back from its user attributes (see `plan_attributes`)."""

    model_type: str
    n_battles: int
    seed: int
    objective: str
    grid_type: str | None
    parent_run_id: str
    cache_dir: str
    target_trials: int
    deadline: float | None

    @classmethod
    def of(cls, study: Any) -> StudyPlan:
        """The plan stored on a study; SearchError when the study was not made by core.search."""
        attrs = study.user_attrs
        try:
            return cls(
                attrs["model_type"], int(attrs["n_battles"]), int(attrs["seed"]),
                attrs["objective"], attrs.get("grid_type"), attrs["parent_run_id"],
                attrs["cache_dir"], int(attrs["target_trials"]), attrs.get("deadline"),
            )  # fmt: skip
        except KeyError as missing:
            raise SearchError(
                f"Study {study.study_name!r} has no {missing} attribute: it was not started by "
                "`python -m core.search`; start it there first."
            ) from None


def make_sampler(grid_type: str | None, model_type: str, seed: int | None) -> Any:
    """TPE, or Optuna's GridSampler over the seed's grid."""
    import optuna

    if grid_type:
        from core.train import GRIDS

        return optuna.samplers.GridSampler(GRIDS[model_type][grid_type], seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)


def make_pruner() -> Any:
    """Median pruning after 5 complete trials."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)


def load_study(name: str, storage_url: str, settings: Settings, seed: int | None = None) -> Any:
    """An existing study with its sampler and pruner; SearchError when there is none."""
    import optuna

    storage = open_storage(storage_url, settings)
    check_study_name(name)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise SearchError(
            f"No study {name!r} in this storage: start it with `python -m core.search --study "
            f"{name}` first."
        ) from None
    plan = StudyPlan.of(study)
    return optuna.load_study(
        study_name=name, storage=storage, pruner=make_pruner(),
        sampler=make_sampler(plan.grid_type, plan.model_type, seed),
    )  # fmt: skip


def budget_left(study: Any) -> bool:
    """True while the study wants more trials and its deadline has not passed."""
    plan = StudyPlan.of(study)
    states = [trial.state.name for trial in study.get_trials(deepcopy=False)]
    counted = sum(state in COUNTED_STATES for state in states)
    failed = states.count("FAIL")
    if plan.deadline is not None and time.time() >= plan.deadline:
        return False
    # A study whose trials keep failing stops instead of spinning (the failures are logged).
    return counted < plan.target_trials and failed < max(plan.target_trials, 3)


def run_worker(name: str, storage_url: str, settings: Settings) -> int:
    """Run trials of a study until its budget is spent; the number of trials this worker ran."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study = load_study(name, storage_url, settings)
    plan = StudyPlan.of(study)
    # This machine's own cache (the same hash everywhere: the same file content).
    data = load_search_data(plan.n_battles, plan.seed, cache_dir(storage_url, settings))
    names = None
    if plan.grid_type:
        from core.train import GRIDS

        names = tuple(GRIDS[plan.model_type][plan.grid_type])

    def objective(trial: Any) -> float:
        return run_trial(
            trial, plan.model_type, data, plan.objective, plan.seed, settings,
            plan.parent_run_id, names,
        )  # fmt: skip

    signal.signal(signal.SIGTERM, _interrupt)
    ran = 0
    try:
        wait_for_peers(study)
        while budget_left(study) or _wait_for_running_trials(study):
            if budget_left(study):
                study.optimize(objective, n_trials=1, catch=(Exception,))
                ran += 1
    except KeyboardInterrupt:
        logger.warning("worker stopped by a signal after %d trials", ran)
    return ran


def _wait_for_running_trials(study: Any) -> bool:
    """The budget is spent counting trials still RUNNING elsewhere: wait one heartbeat for them.

    True while such a trial runs (its worker may be dead: a stale one is failed after the grace
    period, which gives the budget back), False when none runs or the deadline has passed.
    """
    import optuna

    plan = StudyPlan.of(study)
    if plan.deadline is not None and time.time() >= plan.deadline:
        return False
    if not any(t.state.name == "RUNNING" for t in study.get_trials(deepcopy=False)):
        return False
    optuna.storages.fail_stale_trials(study)
    time.sleep(HEARTBEAT_SECONDS)
    return True


def wait_for_peers(study: Any) -> None:
    """Start together: wait (at most READY_WAIT_SECONDS) until this session's local workers are up.

    The coordinator sets `session` and `workers_expected`; each worker marks itself ready. A
    worker that joins later from another machine finds them ready and starts at once.
    """
    import os
    import socket

    attrs = study.user_attrs
    session, expected = attrs.get("session"), int(attrs.get("workers_expected") or 1)
    if not session:
        return
    study.set_user_attr(f"ready:{session}:{socket.gethostname()}:{os.getpid()}", time.time())
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while time.monotonic() < deadline:
        ready = sum(key.startswith(f"ready:{session}:") for key in study.user_attrs)
        if ready >= expected:
            return
        time.sleep(0.2)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("stopped")
