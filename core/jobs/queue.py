"""Training jobs and the queue that runs them one at a time, in order, for every session.

A `TrainingJob` is one `train_model()` call in its own process (see core.jobs.process); the
page keeps the job, renders `job.view()` (an immutable snapshot) and may `cancel()` it.
`JobQueue.submit()` gives a waiting job its position at once; `TRAINING_QUEUE` is the server's.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.config import Settings
from core.jobs.estimate import estimate_training
from core.jobs.process import close_job_runs, run_process
from core.train import STEPS

logger = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
StepState = Literal["pending", "running", "done", "skipped", "failed"]
FINISHED_STATES = ("done", "failed", "cancelled")
_STEP_STATE_OF_JOB: dict[str, StepState] = {
    "queued": "pending",
    "running": "running",
    "done": "done",
    "failed": "failed",
    "cancelled": "failed",
}
_IDS = itertools.count(1)


@dataclass(frozen=True)
class StepView:
    """One pipeline step as shown to a person: name, state and its last message."""

    name: str
    state: StepState
    message: str


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of a job (times in seconds).

    result: the core.jobs.messages.JobResult once done, else None.
    position: 0 while running, n >= 1 = n-th in the queue, None once finished.
    estimate_seconds: the whole pipeline's expected duration from the configuration.
    """

    job_id: int
    state: JobState
    fraction: float
    message: str
    steps: tuple[StepView, ...]
    elapsed_seconds: float
    result: Any
    error: str | None
    config: Any
    position: int | None = None
    estimate_seconds: float = 0.0
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.state in FINISHED_STATES


@dataclass
class _Progress:
    """The mutable part of a job, changed under the job's lock."""

    state: JobState = "queued"
    fraction: float = 0.0
    message: str = "waiting for a training slot"
    messages: dict[str, str] = field(default_factory=dict)
    current: str | None = None
    started: float | None = None
    ended: float | None = None
    result: Any = None
    error: str | None = None
    cancel_requested: bool = False


class TrainingJob:
    """One train_model() call in its own process; submit it to a JobQueue to run it."""

    def __init__(
        self,
        config: Any,
        settings: Settings,
        on_finish: Callable[[TrainingJob], None] | None = None,
    ) -> None:
        self.job_id = next(_IDS)
        self.config = config
        self.settings = settings
        self.on_finish = on_finish
        self.estimate_seconds = estimate_training(config, settings).total_seconds
        self.queue: JobQueue | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._progress = _Progress()
        self._created = time.monotonic()
        self.pid: int | None = None

    @property
    def finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self._finished.is_set()

    def wait(self, timeout: float) -> bool:
        """Block up to timeout seconds for the end (CLIs, tests); True when finished."""
        return self._finished.wait(timeout)

    def cancel(self) -> None:
        """Ask the job to stop: a queued job leaves the queue, a running one is signalled."""
        with self._lock:
            if self._progress.state in FINISHED_STATES:
                return
            self._progress.cancel_requested = True
            queued = self._progress.state == "queued"
        if queued and self.queue is not None and self.queue.withdraw(self):
            self._finish(state="cancelled", message="cancelled before it started")

    @property
    def cancel_requested(self) -> bool:
        """True once someone asked this job to stop."""
        with self._lock:
            return self._progress.cancel_requested

    def on_event(self, event: tuple) -> None:
        """Apply one event from the training process (progress, or the final result)."""
        kind = event[0]
        with self._lock:
            if kind == "progress":
                _, step, fraction, message = event
                self._progress.current = step
                # core reports the fraction reached once a step ends: show the steps done so far
                done = STEPS.index(step) / len(STEPS) if step in STEPS else fraction
                self._progress.fraction = max(self._progress.fraction, min(done, 1.0))
                self._progress.message = message
                self._progress.messages[step] = message
            elif kind == "done":
                self._progress.result = event[1]

    def _finish(self, state: JobState, message: str, error: str | None = None) -> None:
        with self._lock:
            self._progress.state = state
            self._progress.message = message
            self._progress.error = error
            self._progress.ended = time.monotonic()
            if state == "done":
                self._progress.fraction = 1.0
        if self.on_finish is not None:
            try:
                self.on_finish(self)
            except Exception:  # noqa: BLE001 - the result must still be shown
                logger.exception("after-training hook failed")
        self._finished.set()

    def run(self) -> None:
        """Run the training process to its end (the queue's worker calls this)."""
        with self._lock:
            if self._progress.cancel_requested:
                cancelled = True
            else:
                cancelled = False
                self._progress.state = "running"
                self._progress.started = time.monotonic()
                self._progress.message = "starting the training process"
        if cancelled:
            self._finish("cancelled", "cancelled before it started")
            return
        started_ms = int(time.time() * 1000) - 1000
        outcome = run_process(self)
        self._settle(outcome, started_ms)

    def _settle(self, outcome: tuple, started_ms: int) -> None:
        kind = outcome[0]
        if kind == "done" and self._progress.result is not None:
            message = self._progress.result.promotion_message or "finished"
            if self._progress.cancel_requested:  # it was registering: that is never cut short
                message += " (Cancel came while the version was being registered: it finished)"
            self._finish("done", message)
            return
        if kind == "cancelled" or self._progress.cancel_requested:
            closed = close_job_runs(self, started_ms, "KILLED")
            note = f"; its MLflow run ended KILLED ({closed})" if closed else ""
            self._finish("cancelled", f"cancelled: nothing was registered{note}")
            return
        close_job_runs(self, started_ms, "FAILED")
        self._finish("failed", "failed", str(outcome[1]))

    def fail(self, message: str) -> None:
        """End the job as failed with this message (the queue's last resort)."""
        self._finish("failed", "failed", message)

    def view(self) -> JobView:
        """An immutable snapshot for the page."""
        with self._lock:
            progress = self._progress
            state, current = progress.state, progress.current
            reached = STEPS.index(current) if current in STEPS else -1
            steps = []
            for index, name in enumerate(STEPS):
                if index < reached:
                    step_state: StepState = "done"
                elif index == reached:
                    step_state = _STEP_STATE_OF_JOB[state]
                else:
                    step_state = "skipped" if state == "done" else "pending"
                steps.append(StepView(name, step_state, progress.messages.get(name, "")))
            start = progress.started or self._created
            end = progress.ended or time.monotonic()
            return JobView(
                job_id=self.job_id,
                state=state,
                fraction=progress.fraction,
                message=progress.message,
                steps=tuple(steps),
                elapsed_seconds=end - start,
                result=progress.result,
                error=progress.error,
                config=self.config,
                position=self.queue.position(self) if self.queue and state == "queued" else None,
                estimate_seconds=self.estimate_seconds,
                cancel_requested=progress.cancel_requested,
            )


class JobQueue:
    """Runs submitted jobs one at a time, in submission order, in one worker thread.

    The worker thread ends after `idle_seconds` without a job; the next submit starts another.
    """

    def __init__(self, idle_seconds: float = 60.0) -> None:
        self.idle_seconds = idle_seconds
        self._condition = threading.Condition()
        self._waiting: list[TrainingJob] = []
        self._running: TrainingJob | None = None
        self._worker: threading.Thread | None = None

    def submit(self, job: TrainingJob) -> TrainingJob:
        """Queue a job (its position is known at once); returns it."""
        with self._condition:
            job.queue = self
            self._waiting.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, name="predictiondex-training-queue", daemon=True
                )
                self._worker.start()
            self._condition.notify_all()
        return job

    def position(self, job: TrainingJob) -> int | None:
        """0 while running, n >= 1 for the n-th waiting job, None when not in the queue."""
        with self._condition:
            if job is self._running:
                return 0
            return self._waiting.index(job) + 1 if job in self._waiting else None

    def withdraw(self, job: TrainingJob) -> bool:
        """Remove a waiting job; False when it already started."""
        with self._condition:
            if job in self._waiting:
                self._waiting.remove(job)
                return True
            return False

    def _work(self) -> None:
        while True:
            with self._condition:
                # wait_for re-reads the queue after a timeout: a job submitted as the wait
                # timed out (its notify then comes too late) was left with no worker to run it.
                if not self._condition.wait_for(lambda: self._waiting, self.idle_seconds):
                    self._worker = None
                    return
                self._running = self._waiting.pop(0)
            job = self._running
            try:
                job.run()
            except Exception as error:  # noqa: BLE001 - one job's failure must not stop the queue
                logger.exception("training job %s failed in the queue", job.job_id)
                if not job.finished:
                    job.fail(f"The training could not run ({type(error).__name__}): {error}")
            finally:
                with self._condition:
                    self._running = None


TRAINING_QUEUE = JobQueue()  # one per server process: every session's trainings, in order
