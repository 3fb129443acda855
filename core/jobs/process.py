"""The training process: the child's side (train, report, obey SIGTERM) and the parent's side.

The child (`python -m core.jobs.child`, a fresh interpreter in its own session) receives its
config and settings as one JSON message, runs `core.train.train_model()` and reports JSON events
through a one-way pipe (core.jobs.messages: nothing is unpickled on either side):
("progress", step, fraction, message) while it works, then one of ("done", JobResult),
("failed", message) or ("cancelled", step). SIGTERM raises KeyboardInterrupt in the child while
the pipeline is before its `register` step (the run-logging code ends the run and re-raises) and
is deferred afterwards (registering and promoting must not be cut in half). The parent sends
SIGKILL to the child's process group CANCEL_GRACE_SECONDS after SIGTERM, or PUBLISH_GRACE_SECONDS
when the child last reported a publishing step (it is finishing, not ignoring the cancel), then
marks the job's runs still open KILLED (cancelled) or FAILED (crashed). A message that is not
one of the events stops the child and fails the job.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from typing import Any, Protocol

from core.config import PROJECT_ROOT, Settings
from core.jobs.messages import JobMessageError, JobResult, receive_event, send_event, send_job

logger = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 3.5  # SIGTERM, then SIGKILL: the process is gone within ~4 s
CANCELLABLE_STEPS = ("starting", "simulate", "features", "fit", "evaluate", "log")
# Registering, promoting (which may wait for another promotion's lock) and exporting finish
# once begun: a cancel then waits for them, bounded by this (the lock's own timeout is 10 s).
PUBLISH_GRACE_SECONDS = 120.0
POLL_SECONDS = 0.1


class Relay(Protocol):
    """What the process runner needs from a job."""

    job_id: int
    config: Any
    settings: Settings
    pid: int | None

    @property
    def cancel_requested(self) -> bool: ...

    def on_event(self, event: tuple) -> None: ...


def child_main(conn: Any, config: Any, settings: Settings) -> None:
    """The training process: train, sending ("progress", ...) then one final event."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before xgboost's OpenMP runtime is loaded
    current = {"step": "starting"}

    def on_terminate(signum: int, frame: Any) -> None:
        if current["step"] in CANCELLABLE_STEPS:
            raise KeyboardInterrupt("cancelled")
        current["deferred"] = "yes"  # registering/promoting: finish it, the job ends done

    signal.signal(signal.SIGTERM, on_terminate)

    def progress(step: str, fraction: float, message: str) -> None:
        current["step"] = step
        send_event(conn, ("progress", step, float(fraction), str(message)))

    try:
        from core.train import train_model

        result = train_model(config, settings, progress)
        send_event(conn, ("done", JobResult.of(result)))
    except KeyboardInterrupt:
        send_event(conn, ("cancelled", current["step"]))
    except BaseException as error:  # noqa: BLE001 - reported to the parent as data
        send_event(conn, ("failed", describe_error(error)))
    finally:
        conn.close()


def describe_error(error: BaseException) -> str:
    """One paragraph for a failed training: the project's message and hint, or the type."""
    from core.errors import PredictionDexError

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, PredictionDexError | ValueError):
        hint = getattr(error, "hint", "") or ""
        return f"{text} {hint}".strip()[:1200]
    logger.error("training failed unexpectedly", exc_info=error)
    return (
        f"Unexpected error in the training process ({type(error).__name__}): {text[:300]}. "
        "Nothing was registered; the details are in the server log."
    )


def _start_child(job: Relay) -> tuple[subprocess.Popen, Connection]:
    """`python -m core.jobs.child` in its own session, sent its job (JSON) through a pipe.

    A fresh interpreter rather than multiprocessing's spawn: spawn re-runs the parent's
    `__main__`, which under Streamlit is the app script itself.
    """
    events_read, events_write = os.pipe()
    job_read, job_write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "core.jobs.child", str(job_read), str(events_write)],
        pass_fds=(job_read, events_write),
        cwd=PROJECT_ROOT,
        start_new_session=True,  # its own process group: a kill reaches its helpers too
    )
    os.close(job_read)
    os.close(events_write)
    with Connection(job_write, readable=False) as request:
        send_job(request, job.config, job.settings)
    return process, Connection(events_read, writable=False)


def run_process(job: Relay) -> tuple:
    """Start the child, relay its events, signal it on cancel; returns the final event."""
    process, receiver = _start_child(job)
    job.pid = process.pid
    step, signalled_at = "starting", None
    final: tuple | None = None
    while final is None:
        try:
            event = receive_event(receiver) if receiver.poll(POLL_SECONDS) else None
        except JobMessageError as error:
            _signal(process.pid, signal.SIGKILL, group=True)
            final = ("failed", f"{error}: the training process was stopped; nothing was used.")
            break
        except (EOFError, OSError):
            code = _wait(process, 2)
            final = (
                "failed",
                f"The training process stopped unexpectedly (exit code {code}); nothing was "
                "registered. The dashboard is unaffected: check the server log and train again.",
            )
            break
        if event is not None:
            job.on_event(event)
            if event[0] != "progress":
                final = event
                break
            step = event[1]
        if job.cancel_requested and signalled_at is None:
            signalled_at = time.monotonic()
            _signal(process.pid, signal.SIGTERM, group=False)
        if signalled_at is not None and time.monotonic() - signalled_at > _grace(step):
            _signal(process.pid, signal.SIGKILL, group=True)
            final = ("cancelled", "killed")
    # A cancelled child has until its grace ends to be gone, whatever it reported meanwhile.
    exit_budget = CANCEL_GRACE_SECONDS + 1
    if signalled_at is not None:
        exit_budget = max(0.0, signalled_at + _grace(step) - time.monotonic())
    if _wait(process, exit_budget) is None:
        _signal(process.pid, signal.SIGKILL, group=True)
        _wait(process, 2)
    receiver.close()
    return final


def _grace(step: str) -> float:
    """Seconds between SIGTERM and SIGKILL for a child whose last reported step is `step`."""
    return CANCEL_GRACE_SECONDS if step in CANCELLABLE_STEPS else PUBLISH_GRACE_SECONDS


def _wait(process: subprocess.Popen, timeout: float) -> int | None:
    """The exit code, or None while it still runs after timeout seconds."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _signal(pid: int | None, signum: int, group: bool) -> None:
    if pid is None:
        return
    try:
        os.killpg(pid, signum) if group else os.kill(pid, signum)
    except ProcessLookupError:
        pass  # already gone
    except PermissionError:
        os.kill(pid, signum)


def close_job_runs(job: Relay, started_ms: int, status: str) -> int:
    """Mark the job's MLflow runs still open `status`; count them.

    A run is the job's when it started after the job, in the job's experiment, with the job's
    model_type and version_label tags (one training at a time runs from the dashboard).
    """
    if not getattr(job.config, "use_mlflow", True):
        return 0
    try:
        from core.registry import Registry

        tags = {"model_type": job.config.model_type, "version_label": job.config.version_label}
        return Registry(job.settings).end_open_runs(started_ms, tags, status)
    except Exception:  # noqa: BLE001 - the job's outcome stands; the run stays as it was
        logger.exception("could not mark the cancelled training's run %s", status)
        return 0
