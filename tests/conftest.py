"""Shared fixtures: real servers on 127.0.0.1 and Settings for stores under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from tests.servers import MlflowServer, PostgresServer, running_mlflow_server, running_postgres
from tests.servers import free_port as find_free_port

# Variables that change what the code under test does; a developer's shell must not leak them.
ISOLATED_PREFIXES = ("MLFLOW_", "PREDICTIONDEX_")
ISOLATED_NAMES = ("USE_MLFLOW_REGISTRY", "PROMOTION_THRESHOLD")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the MLflow/PredictionDex variables of the caller's shell."""
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            monkeypatch.delenv(name)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return find_free_port()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings for an embedded store in tmp_path; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "artifacts_dir": tmp_path / "mlartifacts",
            "models_dir": tmp_path / "models",
        }
        fields.update(overrides)
        return Settings(**fields)

    return make


def _sqlite_server(directory: Path) -> Iterator[MlflowServer]:
    with running_mlflow_server(
        f"sqlite:///{directory / 'mlflow.db'}", directory / "mlartifacts"
    ) as server:
        yield server


@pytest.fixture
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A fresh SQLite-backed `mlflow server` for this test: `.url`, `.backend_uri`, `.artifacts_dir`.

    Function scope: an empty store per test, and the test may `.stop()` it (outage tests).
    """
    yield from _sqlite_server(tmp_path_factory.mktemp("mlflow-server"))


@pytest.fixture(scope="module")
def shared_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One SQLite-backed `mlflow server` for a whole test module (use distinct model names)."""
    yield from _sqlite_server(tmp_path_factory.mktemp("mlflow-shared-server"))


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
