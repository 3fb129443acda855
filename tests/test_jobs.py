"""Training jobs in their own process: cancel, queue order, a crashed child, the estimate.

Real processes (multiprocessing "spawn"), real training on small seeded data, a real SQLite
MLflow store in tmp_path. Every wait polls against a deadline.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import Settings
from core.jobs import JobQueue, TrainingJob, estimate_training, format_duration
from core.jobs.process import close_job_runs
from core.registry import MLflowTracker
from core.registry.lock import lock_age
from core.train import TrainConfig

SMALL = {"n_battles": 3000, "oracle_sample": 100, "oracle_replays": 50}
# A fit that lasts well over the cancel budget: thousands of deep trees on 20,000 battles.
LONG_FIT = {
    "n_battles": 20_000,
    "oracle_sample": 100,
    "oracle_replays": 50,
    "params": {"n_estimators": 5000, "max_depth": 10},
}
CANCEL_BUDGET_SECONDS = 5.0


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for condition() to hold, checking every 50 ms; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def process_gone(pid: int | None) -> bool:
    """True when no process has this id (the child was reaped) or it is a zombie."""
    if pid is None:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


def run_statuses(settings: Settings) -> list[str]:
    """The status of every run in the settings' experiment."""
    tracker = MLflowTracker(settings=settings)
    runs = tracker.client.search_runs([tracker.experiment_id])
    return [run.info.status for run in runs]


def registered_versions(settings: Settings) -> int:
    """How many versions of the model the registry holds."""
    table = MLflowTracker(settings=settings).compare_models(settings.model_name)
    return len(table)


@pytest.mark.slow
def test_cancel_mid_fit_stops_the_process_and_the_next_training_succeeds(
    settings_factory: Callable[..., Settings],
) -> None:
    """Gone within 5 s, its run KILLED, nothing registered, no lock, then a training succeeds."""
    settings = settings_factory(with_store=True)
    queue = JobQueue()
    job = queue.submit(TrainingJob(TrainConfig(**LONG_FIT, version_label="long"), settings))
    poll(lambda: job.view().steps[2].state == "running", 120, "the fit step")
    time.sleep(1.0)  # well inside the fit
    pid = job.pid
    assert pid is not None and not process_gone(pid)

    started = time.monotonic()
    job.cancel()
    poll(lambda: job.finished and process_gone(pid), CANCEL_BUDGET_SECONDS, "the cancel")
    assert time.monotonic() - started <= CANCEL_BUDGET_SECONDS
    view = job.view()
    assert view.state == "cancelled" and view.finished
    assert "nothing was registered" in view.message
    assert registered_versions(settings) == 0
    # The run was opened before the work: the cancelled training shows in MLflow as KILLED.
    assert run_statuses(settings) == ["KILLED"]
    assert lock_age(MLflowTracker(settings=settings).client, settings.model_name) is None

    after = queue.submit(
        TrainingJob(TrainConfig(**SMALL, threshold=0.0, version_label="after"), settings)
    )
    assert after.wait(180)
    assert after.view().state == "done", after.view().error
    assert registered_versions(settings) == 1
    assert sorted(run_statuses(settings)) == ["FINISHED", "KILLED"]


def test_a_run_left_open_by_a_killed_process_is_marked_killed(
    settings_factory: Callable[..., Settings],
) -> None:
    """close_job_runs ends the job's RUNNING run KILLED and leaves other runs alone."""
    settings = settings_factory(with_store=True)
    config = TrainConfig(**SMALL, version_label="orphan")
    job = TrainingJob(config, settings)
    since = int(time.time() * 1000) - 1000
    tracker = MLflowTracker(settings=settings)
    tracker.start_run("orphan", tags={"model_type": "xgboost", "version_label": "orphan"})
    orphan = tracker.run_id
    other = MLflowTracker(settings=settings)
    other.start_run("someone else", tags={"model_type": "xgboost", "version_label": "other"})

    assert close_job_runs(job, since, "KILLED") == 1
    statuses = {run.info.run_id: run.info.status for run in tracker.client.search_runs(
        [tracker.experiment_id])}  # fmt: skip
    assert statuses[orphan] == "KILLED"
    assert statuses[other.run_id] == "RUNNING"


def test_jobs_queue_in_order_with_positions_known_at_once(
    settings_factory: Callable[..., Settings],
) -> None:
    """A second session's job is position 1 at once, and starts only after the first ends."""
    settings = settings_factory()
    queue = JobQueue()
    local = {"use_mlflow": False, "export_local": False, **SMALL}
    first = queue.submit(TrainingJob(TrainConfig(**local, seed=1), settings))
    second = queue.submit(TrainingJob(TrainConfig(**local, seed=2), settings))
    assert second.view().state == "queued"
    assert second.view().position in (1, 2)  # 2 only before the worker took the first one
    poll(lambda: first.view().state == "running", 30, "the first job starting")
    assert second.view().position == 1
    while not second.finished:
        if second.view().state != "queued":
            assert first.finished, "the second job started before the first ended"
        time.sleep(0.05)
        assert first.wait(0) or not second.finished
    assert second.wait(120)
    assert first.view().state == "done" and second.view().state == "done"
    assert first.view().position is None


def test_a_queued_job_can_be_cancelled_before_it_starts(
    settings_factory: Callable[..., Settings],
) -> None:
    """Cancelling a waiting job removes it from the queue; the running one goes on."""
    settings = settings_factory()
    queue = JobQueue()
    local = {"use_mlflow": False, "export_local": False, **SMALL}
    first = queue.submit(TrainingJob(TrainConfig(**local), settings))
    waiting = queue.submit(TrainingJob(TrainConfig(**local, seed=5), settings))
    waiting.cancel()
    assert waiting.wait(5)
    assert waiting.view().state == "cancelled"
    assert first.wait(120) and first.view().state == "done"


def test_a_crashed_training_process_fails_the_job_not_the_server(
    settings_factory: Callable[..., Settings],
) -> None:
    """SIGKILL the child (as the OOM killer would): the job fails with a message, queue goes on."""
    settings = settings_factory(with_store=True)
    queue = JobQueue()
    job = queue.submit(TrainingJob(TrainConfig(**LONG_FIT, version_label="crash"), settings))
    poll(lambda: job.view().steps[2].state == "running", 120, "the fit step")
    os.kill(job.pid, signal.SIGKILL)
    assert job.wait(10)
    view = job.view()
    assert view.state == "failed"
    assert "stopped unexpectedly" in view.error and "nothing was registered" in view.error
    assert registered_versions(settings) == 0
    follow = queue.submit(
        TrainingJob(TrainConfig(**SMALL, use_mlflow=False, export_local=False), settings)
    )
    assert follow.wait(120) and follow.view().state == "done"


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ({"n_battles": 10_000}, {"n_battles": 100_000}),
        ({"params": {"n_estimators": 100}}, {"params": {"n_estimators": 5000}}),
        ({"params": {"max_depth": 3}}, {"params": {"max_depth": 12}}),
        ({}, {"use_gridsearch": True}),
        ({"oracle_sample": 0}, {"oracle_sample": 20_000}),
        ({"model_type": "xgboost"}, {"model_type": "random_forest"}),
    ],
)
def test_the_estimate_grows_with_the_work(smaller: dict, larger: dict) -> None:
    """More battles, trees, depth, a grid or a bigger oracle take longer."""
    assert (
        estimate_training(TrainConfig(**smaller)).total_seconds
        < estimate_training(TrainConfig(**larger)).total_seconds
    )


def test_the_estimate_of_a_huge_training_reads_in_minutes() -> None:
    """5,000 trees on 1M battles: tens of minutes, said in a way a person reads."""
    config = TrainConfig(n_battles=1_000_000, params={"n_estimators": 5000})
    seconds = estimate_training(config).total_seconds
    assert 10 * 60 < seconds < 3 * 3600
    assert format_duration(seconds).endswith("min")
    assert format_duration(42) == "42 s"
    assert format_duration(2 * 3600 + 300) == "2 h 5 min"
