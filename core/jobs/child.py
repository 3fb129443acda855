"""`python -m core.jobs.child JOB_FD EVENTS_FD`: the training process started by a TrainingJob.

It reads (config, settings) from JOB_FD, then reports on EVENTS_FD (see core.jobs.process).
Not meant to be run by hand.
"""

from __future__ import annotations

import os
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    """Read the job, run it; exit 0 (the outcome travels through the pipe)."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before xgboost's OpenMP runtime loads
    job_fd, events_fd = (int(value) for value in argv[:2])
    with Connection(job_fd, writable=False) as request:
        config, settings = request.recv()
    from core.jobs.process import child_main

    child_main(Connection(events_fd, readable=False), config, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
