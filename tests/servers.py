"""Real server processes for tests: `mlflow server` and PostgreSQL on 127.0.0.1, stopped by PID.

Each server runs in its own session. Teardown remembers the server's PID and every process it
spawned (uvicorn under `mlflow server`, the backends under `postgres`), sends the server its
polite stop signal, waits, then kills by PID whatever is left, and fails if anything survives.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.cli import child_env

HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
POSTGRES_USER = "predictiondex"
POSTGRES_DB = "predictiondex"
# What a server prints when another process took its port between free_port() and bind()
# (uvicorn/PostgreSQL: "address already in use", streamlit: "Port 8501 is already in use").
# With xdist several test processes pick ports at the same time, so starters retry on a new port.
PORT_IN_USE = re.compile(r"already in use|could not bind|errno 98", re.IGNORECASE)
PORT_ATTEMPTS = 3


class ServerStartError(RuntimeError):
    """A server process did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that nothing listens on for as long as the block runs.

    The port stays bound (never listening) by this process: a connection to it is refused at
    once, and no other process (another xdist worker's server) can take it in the meantime.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        yield holder.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a server process: `tests.cli.child_env` plus `extra`."""
    return child_env(**extra)


@dataclass(frozen=True)
class ProcInfo:
    """What /proc says about one process."""

    pid: int
    state: str
    ppid: int
    pgid: int
    start_time: int  # clock ticks after boot: tells a PID apart from a later reuse of it


def proc_info(pid: int) -> ProcInfo | None:
    """/proc/<pid>/stat of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcInfo(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def _all_processes() -> list[ProcInfo]:
    infos = (
        proc_info(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()
    )
    return [info for info in infos if info is not None and info.state not in ("Z", "X")]


def pid_alive(pid: int) -> bool:
    """True when the PID names a running (not zombie) process."""
    info = proc_info(pid)
    return info is not None and info.state not in ("Z", "X")


def group_pids(pgid: int) -> list[int]:
    """The live (not zombie) PIDs of a process group."""
    return sorted(info.pid for info in _all_processes() if info.pgid == pgid)


def tree_pids(pid: int) -> list[int]:
    """The live PID and all its descendants, plus the rest of its process group.

    Both, because PostgreSQL's children start sessions of their own (outside the group) and a
    child reparented to init is no longer a descendant but stays in the group.
    """
    processes = _all_processes()
    children: dict[int, list[int]] = {}
    for info in processes:
        children.setdefault(info.ppid, []).append(info.pid)
    found = {info.pid for info in processes if info.pgid == pid}
    stack = [pid] if pid_alive(pid) else []
    visited: set[int] = set()
    while stack:
        current = stack.pop()
        if current in visited:
            continue
        visited.add(current)
        stack.extend(children.get(current, []))
    return sorted(found | visited)


def _same_process(info: ProcInfo) -> bool:
    now = proc_info(info.pid)
    return now is not None and now.start_time == info.start_time and now.state not in ("Z", "X")


def _signal_each(infos: list[ProcInfo], signum: int) -> None:
    for info in infos:
        if _same_process(info):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(info.pid, signum)


def _wait_gone(infos: list[ProcInfo], timeout: float) -> list[ProcInfo]:
    deadline = time.monotonic() + timeout
    left = [info for info in infos if _same_process(info)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [info for info in left if _same_process(info)]
    return left


@dataclass
class ManagedProcess:
    """A child started in its own session; `stop()` ends it and everything it spawned."""

    name: str
    popen: subprocess.Popen
    log: IO[bytes]
    stop_signal: int = signal.SIGTERM
    stopped: bool = field(default=False, init=False)

    @property
    def pid(self) -> int:
        """The PID of the server process (also its process group id)."""
        return self.popen.pid

    def is_running(self) -> bool:
        """True while the server process has not exited."""
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """The live PIDs of the server and the processes it spawned."""
        return tree_pids(self.pid)

    def log_tail(self, max_chars: int = 4000) -> str:
        """The last characters the process wrote to stdout/stderr."""
        self.log.flush()
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - max_chars))
        return self.log.read().decode("utf-8", errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop by PID: polite signal, wait, then SIGKILL; no process it spawned is left."""
        if self.stopped:
            return
        self.stopped = True
        # Remember the whole tree first: once the parent is gone its children lose their ppid.
        tree = [info for info in map(proc_info, self.pids()) if info is not None]
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_each(tree, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        # Workers normally exit with their parent; a straggler gets SIGTERM, then SIGKILL.
        left = _wait_gone(tree, timeout=5.0)
        if left:
            _signal_each(left, signal.SIGTERM)
            left = _wait_gone(left, timeout=5.0)
        if left:
            _signal_each(left, signal.SIGKILL)
            left = _wait_gone(left, timeout=5.0)
        self.log.close()
        if left:
            raise RuntimeError(f"{self.name}: processes {[i.pid for i in left]} survived SIGKILL")


def spawn(
    name: str,
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> ManagedProcess:
    """Start a command in a new session, its output in an anonymous temporary file."""
    log = tempfile.TemporaryFile()
    extra: dict = {}
    if user is not None:
        extra = {"user": user, "group": user, "extra_groups": []}
    popen = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **extra,
    )
    return ManagedProcess(name=name, popen=popen, log=log, stop_signal=stop_signal)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_until_ready(
    process: ManagedProcess, is_ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    """Poll `is_ready()` until it is true; raise with the log tail if the process dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_running():
            raise ServerStartError(
                f"{process.name} exited with code {process.popen.returncode} before it was "
                f"ready. Log tail:\n{process.log_tail()}"
            )
        if is_ready():
            return
        time.sleep(0.2)
    tail = process.log_tail()
    process.stop()
    raise ServerStartError(f"{process.name} was not ready after {timeout:.0f} s. Log tail:\n{tail}")


def spawn_on_free_port(
    name: str,
    command_for: Callable[[int], list[str]],
    ready_for: Callable[[int], bool],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> tuple[ManagedProcess, int]:
    """Spawn `command_for(port)` on a free port until `ready_for(port)`; (process, port).

    A start that fails because another process took the port first (PORT_IN_USE in its log)
    is retried on a new port, PORT_ATTEMPTS times in all; any other failure raises
    ServerStartError at once.
    """
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        process = spawn(f"{name} on {HOST}:{port}", command_for(port), env=env, cwd=cwd)
        try:
            wait_until_ready(process, lambda port=port: ready_for(port), timeout)
        except ServerStartError as error:
            process.stop()
            if attempt + 1 < PORT_ATTEMPTS and PORT_IN_USE.search(str(error)):
                continue
            raise
        return process, port
    raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass(frozen=True)
class MlflowServer:
    """A running `mlflow server`: where it answers and what it stores into."""

    url: str
    backend_uri: str
    artifacts_dir: Path
    process: ManagedProcess

    @property
    def pid(self) -> int:
        """The PID of the `mlflow server` process."""
        return self.process.pid

    def stop(self) -> None:
        """Stop the server now (for outage tests); teardown then has nothing left to do."""
        self.process.stop()


def mlflow_server_command(backend_uri: str, artifacts_dir: Path, port: int) -> list[str]:
    """The `mlflow server` command line: served artifacts, loopback only, one worker."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts_dir),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


@contextlib.contextmanager
def running_mlflow_server(
    backend_uri: str,
    artifacts_dir: Path | str,
    port: int | None = None,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[MlflowServer]:
    """Run `mlflow server` on 127.0.0.1 until the block ends; yields an MlflowServer."""
    artifacts_dir = Path(artifacts_dir).resolve()
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    # No MLflow variable from the caller's shell; no job runner (GenAI jobs, not used here).
    env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", PYTHONUNBUFFERED="1")
    attempts = 1 if port is not None else PORT_ATTEMPTS
    for attempt in range(attempts):
        chosen_port = port if port is not None else free_port()
        url = f"http://{HOST}:{chosen_port}"
        process = spawn(
            f"mlflow server on {url}",
            mlflow_server_command(backend_uri, artifacts_dir, chosen_port),
            env=env,
            cwd=artifacts_dir.parent,
        )
        try:
            wait_until_ready(process, lambda url=url: _http_ok(f"{url}/health"), timeout)
        except ServerStartError as error:
            process.stop()
            if attempt + 1 < attempts and PORT_IN_USE.search(str(error)):
                continue
            raise
        break
    try:
        yield MlflowServer(
            url=url, backend_uri=backend_uri, artifacts_dir=artifacts_dir, process=process
        )
    finally:
        process.stop()


@contextlib.contextmanager
def start_mlflow_server(
    backend_uri: str, artifacts_dir: Path | str, port: int | None = None
) -> Iterator[str]:
    """Run `mlflow server` on 127.0.0.1 until the block ends; yields its http URL."""
    with running_mlflow_server(backend_uri, artifacts_dir, port) as server:
        yield server.url


def postgres_bin_dir() -> Path:
    """The directory of Debian's PostgreSQL server binaries (the newest installed major)."""
    candidates = [
        path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb") if path.is_file()
    ]
    if candidates:
        return max(candidates, key=lambda path: int(re.sub(r"\D", "", path.parent.name) or 0))
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise FileNotFoundError(
        "PostgreSQL server binaries not found: install them with `apt-get install postgresql` "
        "(`make test` does it through .ci/system-deps.sh)."
    )


def _postgres_os_user() -> str | None:
    """The system user that must run PostgreSQL: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "Running as root, PostgreSQL needs the `postgres` system user: "
            "install Debian's postgresql package."
        ) from None
    return "postgres"


def _connects(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


# SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; we ship psycopg2, so name the driver.
SQLALCHEMY_DRIVER = "postgresql+psycopg2"


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL cluster: its URLs and where it lives."""

    url: str  # SQLAlchemy / `mlflow server --backend-store-uri`: postgresql+psycopg2://...
    dsn: str  # libpq / psycopg2.connect(): postgresql://...
    port: int
    cluster_dir: Path
    process: ManagedProcess

    @property
    def pid(self) -> int:
        """The PID of the postmaster."""
        return self.process.pid


@contextlib.contextmanager
def running_postgres(
    base_dir: Path | str | None = None, timeout: float = STARTUP_TIMEOUT_SECONDS
) -> Iterator[PostgresServer]:
    """Run a throwaway PostgreSQL on 127.0.0.1 until the block ends; yields a PostgresServer.

    The cluster lives in a fresh directory under `base_dir` (default: the system temp dir);
    keep that path short, the unix socket path is limited to ~100 characters. As root, the
    server runs as the `postgres` system user (PostgreSQL refuses root): the cluster then goes
    under /tmp, which that user can traverse (a pytest tmp_path of root's cannot), and is
    handed over to it.
    """
    os_user = _postgres_os_user()
    bin_dir = postgres_bin_dir()
    parent = Path("/tmp") if os_user is not None else base_dir
    cluster_dir = Path(tempfile.mkdtemp(prefix="pdex-pg-", dir=parent))
    data_dir = cluster_dir / "data"
    socket_dir = cluster_dir / "socket"
    password = secrets.token_hex(12)
    process: ManagedProcess | None = None
    try:
        socket_dir.mkdir()
        password_file = cluster_dir / "password"
        password_file.write_text(password + "\n")
        if os_user is not None:
            import pwd

            entry = pwd.getpwnam(os_user)
            for path in (cluster_dir, socket_dir, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        extra: dict = {}
        if os_user is not None:
            extra = {"user": os_user, "group": os_user, "extra_groups": []}
        initdb = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                POSTGRES_USER,
                "--pwfile",
                str(password_file),
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            cwd=cluster_dir,
            env=clean_env(LC_ALL="C"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **extra,
        )
        if initdb.returncode != 0:
            raise ServerStartError(
                f"initdb failed:\n{initdb.stdout[-2000:]}{initdb.stderr[-2000:]}"
            )
        attempts = PORT_ATTEMPTS
        for attempt in range(attempts):
            port = free_port()
            url = f"postgresql://{POSTGRES_USER}:{password}@{HOST}:{port}/postgres"
            # SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to leave.
            process = spawn(
                f"postgres on {HOST}:{port}",
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data_dir),
                    "-c",
                    f"listen_addresses={HOST}",
                    "-c",
                    f"port={port}",
                    "-c",
                    f"unix_socket_directories={socket_dir}",
                    "-c",
                    "max_connections=50",
                    "-c",
                    "shared_buffers=32MB",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                env=clean_env(LC_ALL="C"),
                cwd=cluster_dir,
                user=os_user,
                stop_signal=signal.SIGINT,
            )
            try:
                wait_until_ready(process, lambda url=url: _connects(url), timeout)
            except ServerStartError as error:
                process.stop()
                process = None
                if attempt + 1 < attempts and PORT_IN_USE.search(str(error)):
                    continue
                raise
            break
        import psycopg2

        admin = psycopg2.connect(url, connect_timeout=5)
        try:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{POSTGRES_DB}"')
        finally:
            admin.close()
        credentials = f"{POSTGRES_USER}:{password}@{HOST}:{port}/{POSTGRES_DB}"
        yield PostgresServer(
            url=f"{SQLALCHEMY_DRIVER}://{credentials}",
            dsn=f"postgresql://{credentials}",
            port=port,
            cluster_dir=cluster_dir,
            process=process,
        )
    finally:
        try:
            if process is not None:
                process.stop()
        finally:
            shutil.rmtree(cluster_dir, ignore_errors=True)


@contextlib.contextmanager
def start_postgres(base_dir: Path | str | None = None) -> Iterator[str]:
    """Run a throwaway PostgreSQL on 127.0.0.1; yields its SQLAlchemy URL (postgresql+psycopg2)."""
    with running_postgres(base_dir) as server:
        yield server.url
