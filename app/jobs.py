"""Training jobs for the dashboard's sessions: submit, find again after a page switch, cancel.

The training itself runs in its own process (core.jobs): the web server only relays its
progress, so pages stay fast while a model trains and a crash of the training fails the job,
never the dashboard. Every session's jobs share one queue (`core.jobs.TRAINING_QUEUE`, one
training at a time on this server); a second session sees its position at once. The page keeps
its job in `st.session_state["train_job"]` and renders `job.view()` (an immutable snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from core.config import Settings
from core.jobs import (
    FINISHED_STATES,
    TRAINING_QUEUE,
    JobState,
    JobView,
    StepState,
    StepView,
    estimate_training,
    format_duration,
)
from core.jobs import TrainingJob as ProcessJob

SESSION_KEY = "train_job"
FORM_PREFIX = "train_"
# Buttons' values cannot be set through the Session State API, and the job is not a field.
NOT_FORM_FIELDS = frozenset({SESSION_KEY, "train_submit", "train_cancel"})

__all__ = [
    "FINISHED_STATES",
    "SESSION_KEY",
    "JobState",
    "JobView",
    "StepState",
    "StepView",
    "TrainingJob",
    "estimate_training",
    "format_duration",
    "keep_form_values",
]


class TrainingJob(ProcessJob):
    """A training in its own process, queued with every session's trainings on this server."""

    def __init__(
        self,
        config: Any,
        settings: Settings,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        hook = None if on_finish is None else (lambda _job: on_finish())
        super().__init__(config, settings, on_finish=hook)

    def start(self) -> TrainingJob:
        """Queue the job (it starts when the trainings before it are done); returns self."""
        TRAINING_QUEUE.submit(self)
        return self


def keep_form_values(state: MutableMapping[str, Any]) -> None:
    """Keep the Train form's entries while another page shows (call on every run).

    Streamlit forgets a widget's value when a run does not draw it; writing the value back
    through the Session State API makes it the session's own, so the form shows it again.
    """
    for key in list(state.keys()):
        if key.startswith(FORM_PREFIX) and key not in NOT_FORM_FIELDS:
            state[key] = state[key]
