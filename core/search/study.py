"""The coordinator: create or resume a study, start local workers, then retrain and register the best.

`run_search(config, settings)` returns a frozen `SearchResult`; the CLI prints it as one JSON
object. Nothing is created before the input and the storage are checked.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from core.config import PROJECT_ROOT, Settings
from core.search.config import SearchConfig, SearchError
from core.search.data import load_search_data
from core.search.live import TrialProgress
from core.search.storage import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    cache_dir,
    check_storage,
    default_storage_url,
    open_storage,
)
from core.search.tracking import end_run, log_to_run, start_parent
from core.search.worker import COUNTED_STATES, StudyPlan, make_pruner, make_sampler

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.2
PROGRESS_SECONDS = 1.0  # how often the coordinator looks for finished trials


@dataclass(frozen=True)
class SearchResult:
    """What a search produced (the CLI's JSON object).

    Fields: study, trials_complete, trials_pruned, trials_failed (all trials of the study,
    earlier sessions included), objective ('log_loss' or 'accuracy'), best_value (that objective
    on held-out matchups: log loss in nats, lower is better, or accuracy 0-1; None without a
    complete trial), best_params, registered_version (registered by THIS session; None when
    nothing new was registered), promoted (this session's decision), promotion (one sentence: the
    promotion policy's reason, or why nothing was registered this time), best_version (the
    version holding the best trial, maybe registered by an earlier session), parent_run_id,
    storage (password masked), cancelled, data_seconds (to build or read the shared dataset).
    """

    study: str
    trials_complete: int
    trials_pruned: int
    trials_failed: int
    best_value: float | None
    best_params: dict[str, Any]
    registered_version: int | None
    promoted: bool
    parent_run_id: str
    storage: str
    cancelled: bool = False
    data_seconds: float = 0.0
    objective: str = ""
    promotion: str = ""
    best_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON object the CLI prints."""
        data = asdict(self)
        data.pop("extra")
        return data


def _open_or_create(config: SearchConfig, url: str, settings: Settings) -> tuple[Any, bool]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    storage = open_storage(url, settings)
    sampler = make_sampler(config.grid_type, config.model_type, config.seed)
    try:
        study = optuna.load_study(
            study_name=config.study, storage=storage, sampler=sampler, pruner=make_pruner()
        )
        return study, False
    except KeyError:
        pass
    study = optuna.create_study(
        study_name=config.study, storage=storage, sampler=sampler, pruner=make_pruner(),
        direction=config.direction, load_if_exists=True,
    )  # fmt: skip
    return study, "model_type" not in study.user_attrs


def default_params(model_type: str) -> dict[str, float | int]:
    """The schema's default hyperparameters (what `core.train` fits without --param)."""
    from core.train import hyperparameter_schema

    return {name: spec.default for name, spec in hyperparameter_schema(model_type).items()}


def _check_same_search(study: Any, config: SearchConfig) -> None:
    plan = StudyPlan.of(study)
    wanted = (config.model_type, config.n_battles, config.seed, config.objective, config.grid_type)
    had = (plan.model_type, plan.n_battles, plan.seed, plan.objective, plan.grid_type)
    if wanted != had:
        raise SearchError(
            f"Study {config.study!r} searches {had[0]} on {had[1]:,} battles (seed {had[2]}, "
            f"{had[3]}, grid {had[4]}): resume it with those settings or choose another --study."
        )


def _prepare(config: SearchConfig, url: str, settings: Settings) -> tuple[Any, float]:
    """The study with its plan (parent run, budget, deadline) set; the data's seconds."""
    study, new = _open_or_create(config, url, settings)
    folder = cache_dir(url, settings)
    data = load_search_data(config.n_battles, config.seed, folder)
    if new:
        parent = start_parent(settings, config.study, {"model_type": config.model_type})
        log_to_run(settings, parent, params={
            "model_type": config.model_type, "n_battles": config.n_battles, "seed": config.seed,
            "objective": config.objective, "grid_type": config.grid_type or "none",
            "data_hash": data.data_hash, "cache_key": data.key, "sampler": "grid" if
            config.grid_type else "tpe", "pruner": "median",
        })  # fmt: skip
        for name, value in {
            "model_type": config.model_type, "n_battles": config.n_battles, "seed": config.seed,
            "objective": config.objective, "grid_type": config.grid_type,
            "parent_run_id": parent, "cache_dir": str(folder), "target_trials": 0,
        }.items():  # fmt: skip
            study.set_user_attr(name, value)
    else:
        _check_same_search(study, config)
    counted = sum(t.state.name in COUNTED_STATES for t in study.get_trials(deepcopy=False))
    wanted = config.trials
    if config.grid_type:
        wanted = min(wanted, max(config.grid_size - counted, 0))
    study.set_user_attr("target_trials", counted + wanted)
    if new and not config.grid_type:
        # The defaults first, one of this session's trials: the best trial is then never worse
        # than core.train's defaults on the objective, however few trials run.
        study.enqueue_trial(default_params(config.model_type))
    deadline = time.time() + config.timeout_seconds if config.timeout_seconds else None
    study.set_user_attr("deadline", deadline)
    study.set_user_attr("session", uuid.uuid4().hex[:12])
    study.set_user_attr("workers_expected", config.workers)
    return study, data.seconds


def worker_command(study: str, url: str) -> list[str]:
    """The command line of one worker process."""
    return [sys.executable, "-m", "core.search", "worker", "--study", study, "--storage", url]


def _run_workers(
    config: SearchConfig, url: str, settings: Settings, progress: Callable[[], None] | None = None
) -> bool:
    """Start the local workers and wait for them, calling `progress()` about once a second;
    True when stopped by SIGTERM/SIGINT."""
    # The workers inherit this process's environment, pointed at these settings; their OpenMP
    # threads must not spin while they wait (several processes share few cores).
    os.environ.update({**settings.to_env(), "OMP_WAIT_POLICY": "PASSIVE"})
    workers = [
        subprocess.Popen(
            worker_command(config.study, url),
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(config.workers)
    ]
    stop = {"requested": False}

    def on_stop(signum: int, frame: Any) -> None:
        stop["requested"] = True

    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    next_look = time.monotonic() + PROGRESS_SECONDS
    try:
        while any(w.poll() is None for w in workers) and not stop["requested"]:
            time.sleep(POLL_SECONDS)
            if progress is not None and time.monotonic() >= next_look:
                progress()
                next_look = time.monotonic() + PROGRESS_SECONDS
        if stop["requested"]:
            _stop(workers)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for worker in workers:
        if worker.returncode not in (0, None):
            logger.warning("worker %s exited with %s", worker.pid, worker.returncode)
    return stop["requested"]


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and any(w.poll() is None for w in workers):
        time.sleep(POLL_SECONDS)
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def reclaim_stale_trials(study: Any) -> int:
    """Mark trials left RUNNING by dead workers FAIL (after the heartbeat's grace); how many."""
    import optuna

    def running() -> int:
        return sum(t.state.name == "RUNNING" for t in study.get_trials(deepcopy=False))

    left = running()
    deadline = time.monotonic() + GRACE_SECONDS + 3 * HEARTBEAT_SECONDS
    while left and time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)
        left = running()
        if left:
            time.sleep(0.5)
    return left


def run_search(
    config: SearchConfig, settings: Settings, on_trial: Callable[[str], None] | None = None
) -> SearchResult:
    """Run a study with `config.workers` local workers, then retrain, register and promote the best.

    `on_trial(line)`, when given, gets one line per trial finished during this session
    (core.search.live.TrialProgress), about a second after it finishes.

    Raises SearchError (bad storage, a resumed study with other settings), TrainingError and
    RegistryError (the final retraining or the tracking store).
    """
    from core.search.report import finish_search

    url = config.storage or default_storage_url(settings)
    check_storage(url)
    study, data_seconds = _prepare(config, url, settings)
    progress = None
    if on_trial is not None:
        watch = TrialProgress(config.objective)
        watch.lines(study)  # trials of earlier sessions are not told

        def progress() -> None:
            for line in watch.lines(study):
                on_trial(line)

    cancelled = _run_workers(config, url, settings, progress)
    reclaim_stale_trials(study)
    if progress is not None:
        progress()  # the last trials, finished since the last look
    result = finish_search(study, config, settings, url, cancelled)
    return SearchResult(**{**result.summary(), "data_seconds": round(data_seconds, 3)})


def end_parent(settings: Settings, study: Any, cancelled: bool) -> None:
    """End the study's parent run: FINISHED, or KILLED when the search was cancelled."""
    end_run(settings, StudyPlan.of(study).parent_run_id, "KILLED" if cancelled else "FINISHED")
