"""The test servers are real: they answer on 127.0.0.1 and are gone after teardown."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import psycopg2
import pytest
from mlflow.tracking import MlflowClient

from tests.servers import (
    MlflowServer,
    PostgresServer,
    ServerStartError,
    pid_alive,
    running_postgres,
    start_mlflow_server,
    start_postgres,
    tree_pids,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _health(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:  # noqa: S310
        return response.status, response.read().decode()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _experiment_round_trip(url: str, artifacts_dir: Path, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment("servers-smoke")
    assert client.get_experiment_by_name("servers-smoke").experiment_id == experiment_id
    run = client.create_run(experiment_id)
    note = tmp_path / "note.json"
    note.write_text(json.dumps({"hello": "server"}))
    client.log_artifact(run.info.run_id, str(note))
    client.set_terminated(run.info.run_id)
    # Served artifacts: the file went through the server into its artifacts destination.
    assert [path.name for path in artifacts_dir.rglob("note.json")] == ["note.json"]


def _pids_with_port(port: int) -> list[int]:
    """PIDs whose command line names this port (the server and its uvicorn worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                b"--port" in arguments
                and str(port).encode() in arguments
                and pid_alive(int(entry.name))
            ):
                found.append(int(entry.name))
    return found


def test_mlflow_server_answers_stores_and_stops(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """The SQLite-backed server answers /health, stores a run and an artifact, and stops by PID."""
    assert mlflow_server.url.startswith("http://127.0.0.1:")
    assert _health(mlflow_server.url) == (200, "OK")
    assert mlflow_server.backend_uri.startswith("sqlite:///")
    _experiment_round_trip(mlflow_server.url, mlflow_server.artifacts_dir, tmp_path)
    pids = mlflow_server.process.pids()
    assert mlflow_server.pid in pids
    assert len(pids) >= 2, "mlflow server runs uvicorn as a child process"
    # An outage test may stop the server mid-test; the fixture's teardown then has nothing to do.
    mlflow_server.stop()
    assert not any(pid_alive(pid) for pid in pids)
    assert tree_pids(mlflow_server.pid) == []
    with pytest.raises(OSError):
        _health(mlflow_server.url)


def test_start_mlflow_server_is_gone_after_the_block(tmp_path: Path) -> None:
    """The URL-yielding helper serves, and leaving the block ends the server and its workers."""
    with start_mlflow_server(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "art") as url:
        assert _health(url)[0] == 200
        port = int(url.rsplit(":", 1)[1])
        pids = _pids_with_port(port)
        assert len(pids) >= 2
        assert _listening(port)
    assert not any(pid_alive(pid) for pid in pids)
    assert _pids_with_port(port) == []
    assert not _listening(port)


def test_mlflow_server_start_failure_reports_its_log(tmp_path: Path) -> None:
    """A server that cannot start fails fast with the tail of its own output."""
    with pytest.raises(ServerStartError, match="exited with code"):
        with start_mlflow_server("notascheme://nowhere", tmp_path / "art"):
            pass


def test_postgres_accepts_connections_and_stops(tmp_path: Path) -> None:
    """PostgreSQL listens on 127.0.0.1, accepts the URL's credentials, and is gone afterwards."""
    with running_postgres(tmp_path) as server:
        assert server.url.startswith("postgresql+psycopg2://predictiondex:")
        assert server.dsn.startswith("postgresql://predictiondex:")
        assert "@127.0.0.1:" in server.url
        connection = psycopg2.connect(server.dsn, connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_database(), current_user")
                assert cursor.fetchone() == ("predictiondex", "predictiondex")
        finally:
            connection.close()
        pids = server.process.pids()
        # The postmaster and its background workers (which start sessions of their own).
        assert server.pid in pids
        assert len(pids) >= 3
        cluster_dir = server.cluster_dir
    assert not any(pid_alive(pid) for pid in pids)
    assert not _listening(server.port)
    assert not cluster_dir.exists()


def test_start_postgres_wrong_password_is_refused(tmp_path: Path) -> None:
    """The server checks passwords over TCP (no trust auth on 127.0.0.1)."""
    with start_postgres(tmp_path) as url:
        assert url.startswith("postgresql+psycopg2://")
        wrong = url.replace(
            "postgresql+psycopg2://predictiondex:", "postgresql://predictiondex:x", 1
        )
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(wrong, connect_timeout=5)


def test_mlflow_server_on_postgres(
    postgres_server: PostgresServer, postgres_mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Team mode's shape: an mlflow server on PostgreSQL answers and stores through the proxy."""
    assert postgres_mlflow_server.backend_uri == postgres_server.url
    assert _health(postgres_mlflow_server.url) == (200, "OK")
    _experiment_round_trip(
        postgres_mlflow_server.url, postgres_mlflow_server.artifacts_dir, tmp_path
    )
    connection = psycopg2.connect(postgres_server.dsn, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM experiments WHERE name = 'servers-smoke'")
            assert cursor.fetchone() == ("servers-smoke",)
    finally:
        connection.close()
