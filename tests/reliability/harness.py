"""The parent side of the reliability suite: start worker processes, release them together, kill.

Every worker is a real OS process (`python -m tests.reliability.workers`) in its own session,
stopped by PID: closing its stdin ends it politely, SIGKILL ends whatever is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from core.config import PROJECT_ROOT, Settings
from tests.cli import child_env, run_cli
from tests.reliability.workers import PREFIX
from tests.stores import StoreTemplate, embedded_settings
from tests.tiny_models import TINY_TRAINING, TINY_TRAINING_ARGS

# Shared helpers the reliability tests take from here, with the harness's own.
__all__ = ["TINY_TRAINING", "TINY_TRAINING_ARGS", "child_env", "run_cli"]

READY_TIMEOUT_SECONDS = 90.0
BARRIER_DELAY_SECONDS = 0.15


class WorkerError(RuntimeError):
    """A worker died, stalled or answered nonsense; the message carries its stderr tail."""


class Worker:
    """One worker process and the lines it answers."""

    def __init__(self, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.workers"],
            cwd=PROJECT_ROOT,
            env=env or child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        self.messages: queue.Queue[dict | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._reader.start()
        self._next_id = 0
        self._early: list[dict] = []

    @property
    def pid(self) -> int:
        """The worker's PID (also its process group id)."""
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith(PREFIX):
                self.messages.put(json.loads(line[len(PREFIX) :]))
        self.messages.put(None)  # EOF: the process is gone

    def stderr_tail(self, max_chars: int = 3000) -> str:
        """The end of what the worker wrote to stderr."""
        self.stderr.flush()
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - max_chars))
        return self.stderr.read().decode("utf-8", errors="replace")

    def receive(self, timeout: float) -> dict:
        """The next message, or WorkerError if none comes in time or the worker died."""
        if self._early:
            return self._early.pop(0)
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(
                f"{self.name} said nothing for {timeout:.0f} s. stderr:\n{self.stderr_tail()}"
            ) from None
        if message is None:
            self.popen.wait(timeout=10)
            raise WorkerError(
                f"{self.name} exited with {self.popen.returncode}. stderr:\n{self.stderr_tail()}"
            )
        return message

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait for the worker's imports to finish."""
        message = self.receive(timeout)
        if message.get("event") != "ready":
            raise WorkerError(f"{self.name} sent {message} instead of ready")

    def send(self, command: dict) -> None:
        """Send one command (it runs at command['at'] if given)."""
        assert self.popen.stdin is not None
        self._next_id += 1
        command = {"id": f"{self.name}-{self._next_id}", **command}
        self.popen.stdin.write(json.dumps(command) + "\n")
        self.popen.stdin.flush()

    def request(self, command: dict, timeout: float = 120.0) -> dict:
        """Send a command and wait for its answer."""
        self.send(command)
        return self.receive(timeout)

    def wait_stalled(self, timeout: float = 120.0) -> dict:
        """Wait until the worker reports that it reached its stall point."""
        message = self.receive(timeout)
        if message.get("event") != "stalled":
            raise WorkerError(f"{self.name} finished without reaching its stall point: {message}")
        return message

    def fork(self, command: dict, timeout: float = 30.0) -> int:
        """Run a command in a forked child of this worker; return the child's PID."""
        self.send({"op": "fork", "command": command})
        early = []  # the child may speak before its parent's answer arrives
        while True:
            reply = self.receive(timeout)
            if reply.get("op") == "fork" and "child" not in reply:
                break
            early.append(reply)
        self._early.extend(early)
        if not reply.get("ok"):
            raise WorkerError(f"{self.name} could not fork: {reply}")
        return int(reply["value"]["child_pid"])

    def kill(self) -> None:
        """SIGKILL the worker (by PID, its whole session) and reap it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def close_stdin(self) -> None:
        """Tell the worker to exit (EOF on its stdin) without waiting for it."""
        if self.popen.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.popen.stdin is not None
                self.popen.stdin.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Close stdin (the worker exits), wait, then SIGKILL if it is still there."""
        if self.popen.poll() is None:
            self.close_stdin()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            self.kill()  # reaps it; kills what is left of its session
        self.stderr.close()


@contextlib.contextmanager
def workers(
    count: int, prefix: str = "worker", env: dict[str, str] | None = None
) -> Iterator[list[Worker]]:
    """Start `count` workers together and wait until all are ready; stop them afterwards."""
    started = [Worker(f"{prefix}{index}", env) for index in range(count)]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:  # all told first, so they exit side by side
            worker.close_stdin()
        for worker in started:
            worker.stop()


@contextlib.contextmanager
def zygote(root: Path) -> Iterator[Worker]:
    """One warm worker whose forked children are the processes a crash test kills."""
    with workers(1, prefix="zygote") as (worker,):
        reply = worker.request({"op": "warm", "root": str(root)})
        if not reply["ok"]:
            raise WorkerError(f"zygote could not warm up: {reply}")
        yield worker


def kill_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL one process by PID and wait until it is gone (a reaped child of a worker)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.02)
    raise WorkerError(f"process {pid} survived SIGKILL")


def release_together(
    pool: list[Worker],
    commands: list[dict],
    timeout: float = 120.0,
    delay: float = BARRIER_DELAY_SECONDS,
) -> list[dict]:
    """Give each worker its command with one shared start time; return the answers in order."""
    at = time.time() + delay
    for worker, command in zip(pool, commands, strict=True):
        worker.send({**command, "at": at})
    return [worker.receive(timeout) for worker in pool]


def start_cli(module: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m <module> argv...` without waiting (its own session)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *argv],
        cwd=PROJECT_ROOT,
        env=child_env(**(env or {})),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen, timeout: float = 180.0) -> tuple[int, str, str]:
    """Wait for a started CLI: (exit code, stdout, stderr); SIGKILL it on timeout."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate(timeout=10)
        return -9, out, f"timed out after {timeout:.0f} s\n{err}"
    return process.returncode, out, err


# ---------------------------------------------------------------------------------------------
# Stores


def sqlite_settings(
    root: Path, template: StoreTemplate | None = None, **overrides: Any
) -> Settings:
    """Settings for an embedded store under `root`: fresh (the code under test creates it), or a
    copy of the session's `store_template` where the test is not about creating the store."""
    return embedded_settings(root, template, **overrides)
