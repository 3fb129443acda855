"""Shared fixtures: real servers on 127.0.0.1, Settings for stores under tmp_path, and the
session's template store (tests/stores.py) that store fixtures copy instead of migrating anew."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from tests.cli import is_isolated
from tests.servers import (
    MlflowServer,
    PostgresServer,
    closed_port,
    running_mlflow_server,
    running_postgres,
)
from tests.stores import StoreTemplate, build_store_template, embedded_settings

# pytest's temporary folders go to memory when there is room: a SQLite store on the disk pays an
# fsync per transaction (MLflow's migration of a fresh store: ~7.5 s on this machine's disk,
# ~2.3 s in memory), and nothing a test checks depends on the disk (a killed process's writes
# are in the page cache either way; locks behave the same). --basetemp=DIR or
# PYTEST_DEBUG_TEMPROOT=/tmp puts them back on the disk.
MEMORY_TEMP_ROOT = Path("/dev/shm")
MEMORY_TEMP_MIN_FREE_BYTES = 4 * 1024**3


def memory_temp_root(root: Path = MEMORY_TEMP_ROOT) -> Path | None:
    """`root` if it is a writable folder with MEMORY_TEMP_MIN_FREE_BYTES free, else None (a
    container's 64 MB /dev/shm, no /dev/shm at all)."""
    try:
        usage = os.statvfs(root)
    except OSError:
        return None
    free = usage.f_bavail * usage.f_frsize
    writable = os.access(root, os.W_OK | os.X_OK)
    return root if writable and free >= MEMORY_TEMP_MIN_FREE_BYTES else None


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest's temporary root at memory (see MEMORY_TEMP_ROOT) unless told where."""
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    root = memory_temp_root()
    if root is not None:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)


# Reliability tests report what they measured as this user property (tests/reliability/conftest.py);
# it is collected here, in the main process, which is the one that prints the summary and owns the
# cache when the suite runs on xdist workers.
RELIABILITY_COUNTS_PROPERTY = "reliability_counts"
RELIABILITY_COUNTS_KEY = "reliability/last_counts"
_reliability_counts: dict[str, dict[str, Any]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the counts a reliability test recorded (they arrive with its teardown report)."""
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key == RELIABILITY_COUNTS_PROPERTY:
            entry = dict(value)
            _reliability_counts[entry.pop("name")] = entry


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the reliability counts and keep them in pytest's cache (main process only)."""
    if not _reliability_counts or hasattr(config, "workerinput"):
        return
    terminalreporter.section("reliability counts")
    for name, entry in sorted(_reliability_counts.items()):
        values = ", ".join(f"{key}={value}" for key, value in entry.items())
        terminalreporter.write_line(f"{name}: {values}")
    if getattr(config, "cache", None) is not None:
        stored = config.cache.get(RELIABILITY_COUNTS_KEY, {})
        stored.update(_reliability_counts)
        config.cache.set(RELIABILITY_COUNTS_KEY, stored)


@pytest.fixture(scope="session", autouse=True)
def _temp_files_under_pytest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Temporary files of this process and of every child go under pytest's own temporary
    folder (rotated by pytest), so a child killed on purpose (crash tests) leaves nothing in /tmp.
    """
    folder = tmp_path_factory.mktemp("tmpdir")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR at the next gettempdir()
        yield
    tempfile.tempdir = None


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the MLflow/PredictionDex variables of the caller's shell."""
    for name in list(os.environ):
        if is_isolated(name):
            monkeypatch.delenv(name)


@pytest.fixture
def free_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that nothing listens on during the test (for "unreachable" cases).

    Held bound (not listening) until the test ends, so no server of another xdist worker can
    take it meanwhile and answer where the test expects a refused connection.
    """
    with closed_port() as port:
        yield port


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> StoreTemplate:
    """A migrated, empty SQLite MLflow store made once per session: `.copy_to(directory)`.

    Every store fixture copies it (milliseconds) instead of letting MLflow migrate a fresh file
    (~1.3 s each). Session scope, so module-scoped fixtures can use it too.
    """
    return build_store_template(tmp_path_factory.mktemp("store-template"))


@pytest.fixture
def settings_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Build Settings for an embedded store in tmp_path; keyword arguments override fields.

    `settings_factory(with_store=True)` also puts a ready (migrated, empty) store at
    tmp_path/mlflow.db, copied from the session's template, unless one is there already. Without
    it no file is made: the code under test creates the store (or must not, for serving tests),
    and the template is not even built.
    """

    def make(with_store: bool = False, **overrides: Any) -> Settings:
        template = request.getfixturevalue("store_template") if with_store else None
        return embedded_settings(tmp_path, template, **overrides)

    return make


def _sqlite_server(directory: Path, template: StoreTemplate) -> Iterator[MlflowServer]:
    with running_mlflow_server(template.copy_to(directory), directory / "mlartifacts") as server:
        yield server


@pytest.fixture
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, store_template: StoreTemplate
) -> Iterator[MlflowServer]:
    """A fresh SQLite-backed `mlflow server` for this test: `.url`, `.backend_uri`, `.artifacts_dir`.

    Function scope: an empty store per test (a copy of the template), and the test may `.stop()`
    it (outage tests).
    """
    yield from _sqlite_server(tmp_path_factory.mktemp("mlflow-server"), store_template)


@pytest.fixture(scope="module")
def shared_mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, store_template: StoreTemplate
) -> Iterator[MlflowServer]:
    """One SQLite-backed `mlflow server` for a whole test module (use distinct model names)."""
    yield from _sqlite_server(tmp_path_factory.mktemp("mlflow-shared-server"), store_template)


@pytest.fixture
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL on 127.0.0.1 for this test (`.url`, `.dsn`, `.port`, `.pid`)."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL postgresql+psycopg2://user:pw@127.0.0.1:PORT/predictiondex (empty database).

    For psycopg2.connect() use `postgres_server.dsn` (libpq does not know the +psycopg2 part).
    """
    return postgres_server.url


@pytest.fixture
def postgres_mlflow_server(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """Team mode: an `mlflow server` on PostgreSQL with served artifacts, for this test."""
    artifacts_dir = tmp_path_factory.mktemp("postgres-mlflow") / "mlartifacts"
    with running_mlflow_server(postgres_url, artifacts_dir) as server:
        yield server
