"""Child processes for tests: one environment recipe and one way to run a project CLI.

`child_env` is the environment every child gets: the caller's shell without the variables that
change what the code under test does (a developer's MLFLOW_* must not leak in), usage reporting
off, the project root importable, OpenMP threads that do not spin on a shared machine, plus the
given Settings (through `Settings.to_env()`) and extra variables. `run_cli` runs
`python -m core.<module> ...` with it and returns the exit code and the captured text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.config import NO_USAGE_REPORTING, PROJECT_ROOT, Settings

# Variables that change what the code under test does; a developer's shell must not leak them.
ISOLATED_PREFIXES = ("MLFLOW_", "PREDICTIONDEX_", "STREAMLIT_")
ISOLATED_NAMES = ("USE_MLFLOW_REGISTRY", "PROMOTION_THRESHOLD")
CLI_TIMEOUT_SECONDS = 180.0


def is_isolated(name: str) -> bool:
    """True for a variable the tests never inherit from the caller's shell."""
    if name in NO_USAGE_REPORTING:
        return False  # the project's own quiet defaults (no telemetry, no progress bars) stay
    return name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES


def child_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child process: isolated, quiet, pointed at `settings` if given."""
    env = {name: value for name, value in os.environ.items() if not is_isolated(name)}
    env.update(NO_USAGE_REPORTING)  # children under test never reach for the network
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONUNBUFFERED="1",
        # Several processes share 2 cores: OpenMP threads must not spin while they wait.
        OMP_WAIT_POLICY="PASSIVE",
        GIT_PYTHON_REFRESH="quiet",
    )
    if settings is not None:
        env.update(settings.to_env())
    env.update(extra)
    return env


def run_python(
    argv: Sequence[str],
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """`python argv...` as a real process in `child_env(settings, **env)`, stdin closed.

    Returns the CompletedProcess: `.returncode`, `.stdout`, `.stderr` (text).
    Raises subprocess.TimeoutExpired after `timeout` seconds (the child is killed).
    """
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd or PROJECT_ROOT,
        env=child_env(settings, **(env or {})),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(
    module: str,
    argv: Sequence[str] = (),
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """`python -m <module> argv...` as a real process (see `run_python`)."""
    return run_python(["-m", module, *argv], settings, env, cwd, timeout)
