"""Training as a job in its own process: a queue, live progress, an estimate and Cancel.

Public surface: `TrainingJob` (submit it with `TRAINING_QUEUE.submit(job)`, read `job.view()`,
`job.cancel()`), `JobView`/`StepView` snapshots, `JobQueue`, `estimate_training()` and
`format_duration()`; the training process speaks JSON (`JobResult`, `JobMessageError`).
CLI: `python -m core.jobs train|estimate|calibrate` (see core.jobs.cli).
"""

from core.jobs.estimate import Estimate, estimate_training, format_duration
from core.jobs.messages import JobMessageError, JobResult
from core.jobs.process import CANCEL_GRACE_SECONDS
from core.jobs.queue import (
    FINISHED_STATES,
    TRAINING_QUEUE,
    JobQueue,
    JobState,
    JobView,
    StepState,
    StepView,
    TrainingJob,
)

__all__ = [
    "CANCEL_GRACE_SECONDS",
    "FINISHED_STATES",
    "TRAINING_QUEUE",
    "Estimate",
    "JobMessageError",
    "JobQueue",
    "JobResult",
    "JobState",
    "JobView",
    "StepState",
    "StepView",
    "TrainingJob",
    "estimate_training",
    "format_duration",
]
