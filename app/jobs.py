"""Background training: one job per session, in a thread, so a training never blocks a page.

The page starts a `TrainingJob`, keeps it in `st.session_state["train_job"]` and renders
`job.view()` (an immutable snapshot) in a fragment that refreshes while the job runs. The
thread never touches Streamlit; it only updates the job under a lock. At most
`MAX_CONCURRENT_TRAININGS` trainings run at once in this server; later ones wait their turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.guard import USER_ERRORS, friendly_message
from core.config import Settings
from core.train import STEPS, TrainConfig, TrainResult, train_model

logger = logging.getLogger("predictiondex.app")

MAX_CONCURRENT_TRAININGS = 1
SESSION_KEY = "train_job"
JobState = Literal["queued", "running", "done", "failed"]
StepState = Literal["pending", "running", "done", "skipped", "failed"]
_REACHED_STEP_STATE: dict[str, StepState] = {
    "queued": "pending",
    "running": "running",
    "done": "done",
    "failed": "failed",
}

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)


@dataclass(frozen=True)
class StepView:
    """One pipeline step as shown on the page."""

    name: str
    state: StepState
    message: str


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of a job for rendering."""

    state: JobState
    fraction: float
    message: str
    steps: tuple[StepView, ...]
    elapsed_seconds: float
    result: TrainResult | None
    error: str | None
    config: TrainConfig

    @property
    def finished(self) -> bool:
        """True once the job succeeded or failed."""
        return self.state in ("done", "failed")


class TrainingJob:
    """One train_model() call in a daemon thread, with its progress by step."""

    def __init__(
        self,
        config: TrainConfig,
        settings: Settings,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self._on_finish = on_finish
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._state: JobState = "queued"
        self._fraction = 0.0
        self._message = "waiting for a training slot"
        self._messages: dict[str, str] = {}
        self._current: str | None = None
        self._created = time.monotonic()
        self._started: float | None = None
        self._ended: float | None = None
        self._result: TrainResult | None = None
        self._error: str | None = None
        self._thread = threading.Thread(
            target=self._run, name="predictiondex-training", daemon=True
        )

    def start(self) -> TrainingJob:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        """True once the job succeeded or failed."""
        return self._finished.is_set()

    def wait(self, timeout: float) -> bool:
        """Block up to timeout seconds for the end (tests and benchmarks); True when finished."""
        return self._finished.wait(timeout)

    def _progress(self, step: str, fraction: float, message: str) -> None:
        with self._lock:
            self._current = step
            # core reports the fraction reached once this step ends; show the steps already done
            done = STEPS.index(step) / len(STEPS) if step in STEPS else float(fraction)
            self._fraction = max(self._fraction, min(done, 1.0))
            self._message = message
            self._messages[step] = message

    def _run(self) -> None:
        try:
            with _SLOTS:
                with self._lock:
                    self._state = "running"
                    self._started = time.monotonic()
                    self._message = "starting"
                result = train_model(self.config, self.settings, self._progress)
            with self._lock:
                self._result = result
                self._state = "done"
                self._fraction = 1.0
                self._message = result.promotion_message or "finished"
        except Exception as error:  # noqa: BLE001 - reported on the page
            if not isinstance(error, USER_ERRORS):
                logger.error("training failed unexpectedly", exc_info=error)
            with self._lock:
                self._error = friendly_message(error)
                self._state = "failed"
        finally:
            with self._lock:
                self._ended = time.monotonic()
            if self._on_finish is not None:
                try:
                    self._on_finish()
                except Exception:  # noqa: BLE001 - the result must still be shown
                    logger.exception("after-training hook failed")
            self._finished.set()

    def view(self) -> JobView:
        """An immutable snapshot for the page."""
        with self._lock:
            state, current = self._state, self._current
            reached = STEPS.index(current) if current in STEPS else -1
            steps = []
            for index, name in enumerate(STEPS):
                if index < reached:
                    step_state: StepState = "done"
                elif index == reached:
                    step_state = _REACHED_STEP_STATE[state]
                else:
                    step_state = "skipped" if state == "done" else "pending"
                steps.append(StepView(name, step_state, self._messages.get(name, "")))
            start = self._started or self._created
            end = self._ended or time.monotonic()
            return JobView(
                state=state,
                fraction=self._fraction,
                message=self._message,
                steps=tuple(steps),
                elapsed_seconds=end - start,
                result=self._result,
                error=self._error,
                config=self.config,
            )
