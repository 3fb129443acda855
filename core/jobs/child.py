"""`python -m core.jobs.child JOB_FD EVENTS_FD`: the training process started by a TrainingJob.

It reads the job (JSON: config and settings) from JOB_FD, then reports JSON events on EVENTS_FD
(see core.jobs.process and core.jobs.messages). A job message it cannot read or whose values are
refused is reported as a failed event (exit 2): nothing is unpickled. Not meant to be run by hand.
"""

from __future__ import annotations

import os
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    """Read the job, run it; exit 0 (the outcome travels through the pipe), 2 on a refused job."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before xgboost's OpenMP runtime loads
    job_fd, events_fd = (int(value) for value in argv[:2])
    from core.errors import PredictionDexError
    from core.jobs.messages import receive_job, send_event
    from core.jobs.process import child_main

    events = Connection(events_fd, readable=False)
    try:
        with Connection(job_fd, writable=False) as request:
            config, settings = receive_job(request)
    except (PredictionDexError, ValueError, EOFError) as error:
        send_event(events, ("failed", f"The training process refused its job: {error}"))
        events.close()
        return 2
    child_main(events, config, settings)
    return 0


if __name__ == "__main__":
    from core.config import end_cli

    # Skipping the last full collection matters most on a Cancel: the parent counts the time
    # until this process is gone (core.jobs.process), and that collection took seconds under load.
    end_cli(main(sys.argv[1:]))
