"""Shared parts of the API tests: a real `python -m api` process on a free 127.0.0.1 port, tiny
real models in a local fallback folder or a registry, and polling to a deadline.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

from core import artifacts
from core.config import PROJECT_ROOT, Settings
from tests.cli import child_env
from tests.servers import (
    PORT_IN_USE,
    ManagedProcess,
    ServerStartError,
    free_port,
    spawn,
    wait_until_ready,
)
from tests.tiny_models import write_tiny_model

HOST = "127.0.0.1"
MODEL_NAME = "battle_winner_predictor"
# The tiny models learn "more HP than the opponent wins": their answers differ per matchup.
SIGNAL = {"a_stat_hp": 1.0, "b_stat_hp": -1.0}
T = TypeVar("T")


@dataclass(frozen=True)
class ApiServer:
    """A running API process: where it answers, its process, and a requests session."""

    url: str
    process: ManagedProcess

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET url+path (10 s timeout unless given)."""
        kwargs.setdefault("timeout", 10)
        return requests.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST url+path (10 s timeout unless given)."""
        kwargs.setdefault("timeout", 10)
        return requests.post(self.url + path, **kwargs)

    def log(self) -> str:
        """What the process wrote so far (stdout and stderr)."""
        return self.process.log_tail(20_000)


def _answers_health(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running_api(settings: Settings | None = None, **env: str) -> Iterator[ApiServer]:
    """`python -m api` on a free 127.0.0.1 port with `settings` (and extra variables) until the
    block ends; stopped by PID (nothing it spawned survives)."""
    for attempt in range(3):
        port = free_port()
        url = f"http://{HOST}:{port}"
        process = spawn(
            f"api on {url}",
            [sys.executable, "-m", "api", "--host", HOST, "--port", str(port)],
            env=child_env(settings, **env),
            cwd=PROJECT_ROOT,
        )
        try:
            wait_until_ready(process, lambda url=url: _answers_health(url), timeout=90)
        except ServerStartError as error:
            process.stop()
            if attempt < 2 and PORT_IN_USE.search(str(error)):
                continue
            raise
        break
    try:
        yield ApiServer(url=url, process=process)
    finally:
        process.stop()


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll `check()` until it returns a truthy value (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def wait_ready(api: ApiServer, timeout: float = 30.0) -> dict:
    """Poll /ready until it answers 200; its body."""

    def ready() -> dict | None:
        response = api.get("/ready")
        return response.json() if response.status_code == 200 else None

    return wait_for(ready, timeout, "the API is ready")


def install_local_model(settings: Settings, workdir: Path, version: str = "0", seed: int = 0):
    """A tiny real XGBoost model as the local fallback in settings.models_dir."""
    folder = workdir / f"local-{uuid.uuid4().hex[:8]}"
    write_tiny_model(folder, seed=seed, signal=SIGNAL, metadata=_metadata(seed))
    artifacts.install_local_model(folder, settings.models_dir, MODEL_NAME, version)


def register_tiny_model(
    settings: Settings, workdir: Path, seed: int, model_type: str = "xgboost"
) -> int:
    """Log and register a tiny real model (xgboost or random_forest) in the store of
    `settings`: its version number."""
    from core.registry import MLflowTracker

    folder = workdir / f"model-{uuid.uuid4().hex[:8]}"
    sha = write_tiny_model(folder, model_type, seed=seed, signal=SIGNAL, metadata=_metadata(seed))
    tracker = MLflowTracker(settings=settings)
    tracker.start_run(f"api_test_{seed}")
    tracker.log_model_dir(folder, sha)
    version = tracker.register_model(MODEL_NAME, "API test model")
    tracker.end_run()
    return version


def _metadata(seed: int) -> dict:
    return {"roster": "letsgo", "metrics": {"test_accuracy": 0.9 + seed / 1000, "seed": seed}}
