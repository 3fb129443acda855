"""The search as a dashboard job: `python -m core.search` in its own process group, cancellable.

`SearchJob` has the queue interface of core.jobs (run, finished, fail, cancel, view): the
dashboard submits it to `core.jobs.TRAINING_QUEUE`, so a search and a training never share the
server's cores at once. Live figures come from the study's storage, which the workers update.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.config import PROJECT_ROOT, Settings
from core.jobs import CANCEL_GRACE_SECONDS
from core.search.config import SearchConfig
from core.search.storage import default_storage_url

SearchState = Literal["queued", "running", "done", "failed", "cancelled"]
POLL_SECONDS = 0.2
_IDS = itertools.count(1)


@dataclass(frozen=True)
class SearchView:
    """A snapshot of a search job: state, elapsed_seconds, result (the CLI's JSON, once done),
    error (one paragraph when failed), config, storage_url, cancel_requested."""

    job_id: int
    state: SearchState
    elapsed_seconds: float
    result: dict | None
    error: str | None
    config: SearchConfig
    storage_url: str
    cancel_requested: bool

    @property
    def finished(self) -> bool:
        """True once the search succeeded, failed or was cancelled."""
        return self.state in ("done", "failed", "cancelled")


def search_command(config: SearchConfig, url: str) -> list[str]:
    """The CLI call that runs this search."""
    argv = [sys.executable, "-m", "core.search", "--study", config.study, "--trials",
            str(config.trials), "--workers", str(config.workers), "--storage", url, "--model",
            config.model_type, "--n-battles", str(config.n_battles), "--seed", str(config.seed),
            "--objective", config.objective, "--oracle-sample", str(config.oracle_sample),
            "--oracle-replays", str(config.oracle_replays)]  # fmt: skip
    if config.timeout_seconds:
        argv += ["--timeout", str(config.timeout_seconds)]
    if config.grid_type:
        argv += ["--use-gridsearch", "--grid-type", config.grid_type]
    if config.promotion_policy:
        argv += ["--promotion-policy", config.promotion_policy]
    return argv


class SearchJob:
    """One search in its own process group; submit it to a core.jobs JobQueue to run it."""

    def __init__(
        self, config: SearchConfig, settings: Settings,
        on_finish: Callable[[SearchJob], None] | None = None,
    ) -> None:  # fmt: skip
        self.job_id = next(_IDS)
        self.config, self.settings, self.on_finish = config, settings, on_finish
        self.storage_url = config.storage or default_storage_url(settings)
        self.queue: Any = None
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._state: SearchState = "queued"
        self._cancel = False
        self._started: float | None = None
        self._ended: float | None = None
        self._result: dict | None = None
        self._error: str | None = None

    @property
    def finished(self) -> bool:
        """True once the search succeeded, failed or was cancelled."""
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        """Block up to timeout seconds for the end; True when finished."""
        return self._done.wait(timeout)

    def cancel(self) -> None:
        """Stop the search: a queued job leaves the queue, a running one is signalled."""
        with self._lock:
            if self.finished:
                return
            self._cancel = True
            queued = self._state == "queued"
        if queued and self.queue is not None and self.queue.withdraw(self):
            self._finish("cancelled")

    @property
    def cancel_requested(self) -> bool:
        """True once someone asked this search to stop."""
        with self._lock:
            return self._cancel

    def fail(self, message: str) -> None:
        """End the job as failed with this message (the queue's last resort)."""
        self._finish("failed", error=message)

    def _finish(self, state: SearchState, result: dict | None = None, error: str | None = None):
        with self._lock:
            self._state, self._result, self._error = state, result, error
            self._ended = time.monotonic()
        if self.on_finish is not None:
            self.on_finish(self)
        self._done.set()

    def run(self) -> None:
        """Run the search process to its end (the queue's worker calls this)."""
        with self._lock:
            if self._cancel:
                cancelled = True
            else:
                cancelled, self._state, self._started = False, "running", time.monotonic()
        if cancelled:
            self._finish("cancelled")
            return
        with tempfile.TemporaryDirectory(prefix="predictiondex-search-job-") as scratch:
            out, err = Path(scratch) / "out", Path(scratch) / "err"
            with out.open("w") as stdout, err.open("w") as stderr:
                code = self._supervise(stdout, stderr)
            lines = out.read_text().strip().splitlines()
            errors = err.read_text().strip().splitlines()
        result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
        if result is not None and (code == 0 or result.get("cancelled")):
            self._finish("cancelled" if result.get("cancelled") else "done", result)
        elif self.cancel_requested:
            self._finish("cancelled", result)
        else:
            said = [line for line in errors if line.startswith("error:")]
            message = said[-1].removeprefix("error:").strip() if said else (errors or [""])[-1]
            self._finish("failed", error=message or f"the search process exited with {code}")

    def _supervise(self, stdout: Any, stderr: Any) -> int:
        """Start the process group, signal it on cancel (TERM, then KILL); its exit code."""
        env = {**self.settings.to_env(), "OMP_WAIT_POLICY": "PASSIVE"}
        os.environ.update(env)  # the search process inherits the server's environment plus these
        process = subprocess.Popen(
            search_command(self.config, self.storage_url), cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
        )  # fmt: skip
        self.pid = process.pid
        signalled: float | None = None
        while process.poll() is None:
            if self.cancel_requested and signalled is None:
                signalled = time.monotonic()
                _signal_group(process.pid, signal.SIGTERM)
            if signalled is not None and time.monotonic() - signalled > 3 * CANCEL_GRACE_SECONDS:
                _signal_group(process.pid, signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        return process.returncode

    def view(self) -> SearchView:
        """An immutable snapshot for the page."""
        with self._lock:
            start = self._started or time.monotonic()
            end = self._ended or time.monotonic()
            return SearchView(
                self.job_id, self._state, end - start, self._result, self._error, self.config,
                self.storage_url, self._cancel,
            )  # fmt: skip


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass  # already gone
