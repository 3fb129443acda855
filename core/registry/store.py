"""The tracking store: the client, store creation under a lock, error translation, health probe.

Every storage failure (MLflow's own errors, SQLite/SQLAlchemy/psycopg2 driver errors, OSError)
leaves this module as a `RegistryError`; a fault of the store itself is a `StoreError` whose
`kind` says what happened. MLflow sets SQLite's busy timeout to 20 s per session, so before each
operation on an embedded store a direct probe with a bounded timeout (`SQLITE_PROBE_SECONDS`)
answers "locked" or "corrupt" in about that time instead.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from core.artifacts import UntrustedModelError
from core.config import ConfigError, Settings, mask_uri
from core.registry.errors import RegistryError, RegistryUnavailable, StoreError, StoreFault

logger = logging.getLogger(__name__)

# MLflow logs every SQLAlchemy error at ERROR with its traceback before raising it; this module
# turns each into one message, so that log would only put a traceback on a CLI's stderr.
MLFLOW_DB_LOGGER = "mlflow.store.db.utils"
SERVER_CHECK_TIMEOUT_SECONDS = 5.0
# How long an operation waits for a SQLite store locked by another process before StoreError.
SQLITE_PROBE_SECONDS = 2.0
LOCK_TIMEOUT_SECONDS = 10.0
LOCK_STALE_SECONDS = 30.0

_READY_EXPERIMENTS: dict[tuple[str, str], str] = {}
_READY_LOCK = threading.Lock()

# SQLite primary result codes -> fault kind (https://sqlite.org/rescode.html).
_SQLITE_KINDS: dict[int, StoreFault] = {
    5: "locked",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    8: "read_only",  # SQLITE_READONLY
    10: "unreachable",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "disk_full",  # SQLITE_FULL
    14: "unreachable",  # SQLITE_CANTOPEN
    26: "corrupt",  # SQLITE_NOTADB
}
# PostgreSQL SQLSTATE (psycopg2's pgcode) -> fault kind.
_PG_KINDS: dict[str, StoreFault] = {
    "53100": "disk_full",
    "25006": "read_only",
    "55P03": "locked",
    "40P01": "locked",
    "XX001": "corrupt",
    "XX002": "corrupt",
    "42P01": "schema",
    "42703": "schema",
}
_OS_KINDS: dict[int, StoreFault] = {
    errno.ENOSPC: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "read_only",
    errno.EPERM: "read_only",
}


@dataclass
class Store:
    """An open tracking store: settings, MlflowClient, experiment id and promotion-lock timing.

    Attributes:
        lock_timeout_seconds: how long a promotion waits for the promotion lock.
        lock_stale_seconds: age after which a lock left by a crash is broken.
    """

    settings: Settings
    client: Any
    experiment_id: str
    lock_timeout_seconds: float = LOCK_TIMEOUT_SECONDS
    lock_stale_seconds: float = LOCK_STALE_SECONDS

    @classmethod
    def open(cls, settings: Settings, **timing: float) -> Store:
        """Create the store and experiment if needed (see ensure_store); raises RegistryError."""
        experiment_id = ensure_store(settings)
        return cls(settings, client(settings), experiment_id, **timing)


def import_client() -> None:
    """Import the MLflow client code (the first call in a process: ~2 CPU s; later: nothing).

    Serving calls this before its deadline on registry calls starts: the import is local work
    that cannot hang, and on a busy machine it alone can outlast a deadline meant for a store
    that does not answer.
    """
    import mlflow.artifacts  # noqa: F401 - download_source's module
    from mlflow import MlflowClient  # noqa: F401


def client(settings: Settings):
    """A MlflowClient on the settings' tracking and registry URI."""
    from mlflow import MlflowClient

    logging.getLogger(MLFLOW_DB_LOGGER).setLevel(logging.CRITICAL)  # translate() reports them

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def error_code(error: Exception) -> str:
    """MLflow's error code of an exception ("RESOURCE_DOES_NOT_EXIST", ...), or ""."""
    return str(getattr(error, "error_code", ""))


def fault_kind(error: BaseException) -> StoreFault | None:
    """The storage fault behind an error (walking its causes), or None if it is not one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _own_kind(current)
        if kind is not None:
            return kind
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return None


def _own_kind(error: BaseException) -> StoreFault | None:
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return _SQLITE_KINDS.get(code & 0xFF) if isinstance(code, int) else None
    pgcode = getattr(error, "pgcode", None)
    if isinstance(pgcode, str):
        return _PG_KINDS.get(pgcode) or ("unreachable" if pgcode.startswith("08") else None)
    if type(error).__module__.startswith("psycopg2") and type(error).__name__ in (
        "OperationalError",
        "InterfaceError",
    ):
        return "unreachable"  # no SQLSTATE: the server could not be reached
    if isinstance(error, OSError) and error.errno in _OS_KINDS:
        return _OS_KINDS[error.errno]
    return None


@contextlib.contextmanager
def translate(action: str, settings: Settings) -> Iterator[None]:
    """Run a block whose failures leave as RegistryError (StoreError for a store fault).

    For an embedded SQLite store the file is probed first (bounded wait, see module docstring).
    """
    from mlflow.exceptions import MlflowException

    where = mask_uri(settings.tracking_uri)
    try:
        if settings.is_embedded and settings.sqlite_path is not None:
            probe_sqlite(settings.sqlite_path)
        yield
    except (RegistryError, UntrustedModelError, ConfigError):
        raise
    except (MlflowException, OSError, ConnectionError, sqlite3.Error) as error:
        raise_translated(error, action, where)
    except Exception as error:
        if fault_kind(error) is None and not type(error).__module__.startswith(
            ("sqlalchemy", "psycopg2")
        ):
            raise
        raise_translated(error, action, where)


def raise_translated(error: BaseException, action: str, where: str) -> NoReturn:
    """Raise `error` again as StoreError (a store fault, by kind) or RegistryError (anything
    else), naming `action` and the store `where` (password masked); always raises."""
    kind = fault_kind(error)
    logger.debug("could not %s at %s (%s)", action, where, kind, exc_info=error)
    if kind is not None:
        raise StoreError(kind, where, action) from error
    text = str(getattr(error, "message", error)).splitlines()
    first = text[0][:300] if text else type(error).__name__
    raise RegistryError(
        f"could not {action} at {where}: {first} "
        "(check that the tracking store is reachable: MLFLOW_TRACKING_URI)"
    ) from error


def probe_sqlite(path: Path, timeout: float = SQLITE_PROBE_SECONDS) -> None:
    """Read the SQLite file's schema within `timeout` seconds (a missing file is fine).

    Raises:
        sqlite3.Error: locked beyond the timeout, corrupt, or unreadable (translate() maps it).
    """
    if not Path(path).exists():
        return
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
    finally:
        connection.close()


def check_schema(path: Path, where: str) -> None:
    """StoreError("schema") when an existing SQLite store was written by another MLflow schema."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_PROBE_SECONDS)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "alembic_version" not in tables:
            return  # empty or new: MLflow creates the schema
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        connection.close()
    if row is not None and row[0] != _get_latest_schema_revision():
        raise StoreError("schema", where, "open the tracking store")


def _get_or_create_experiment(mlflow_client, settings: Settings) -> str:
    from mlflow.exceptions import MlflowException

    experiment = mlflow_client.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        location = None
        if settings.is_embedded:
            location = Path(settings.artifacts_dir).resolve().as_uri()
        try:
            return mlflow_client.create_experiment(
                settings.experiment_name, artifact_location=location
            )
        except MlflowException as error:
            if error_code(error) != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = mlflow_client.get_experiment_by_name(settings.experiment_name)
    if experiment.lifecycle_stage == "deleted":
        logger.warning("experiment %s was deleted; restoring it", settings.experiment_name)
        mlflow_client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def probe_server(uri: str, timeout: float) -> None:
    """The one health probe: GET <uri>/health within `timeout` seconds.

    Raises:
        RegistryUnavailable: no answer in time, not reachable, or an HTTP status other than 200.
    """
    import requests

    url = f"{uri.rstrip('/')}/health"
    try:
        response = requests.get(url, timeout=(timeout, timeout), allow_redirects=False)
    except requests.Timeout:
        raise RegistryUnavailable(
            f"{mask_uri(uri)} did not answer its health check within {timeout:.1f} s"
        ) from None
    except requests.RequestException as error:
        reason = type(error).__name__
        if isinstance(error, requests.ConnectionError):
            reason = "connection refused or unreachable"
        raise RegistryUnavailable(f"{mask_uri(uri)} is not reachable ({reason})") from None
    if response.status_code != 200:
        raise RegistryUnavailable(
            f"{mask_uri(uri)} answered its health check with HTTP {response.status_code}"
        )


def ensure_store(settings: Settings) -> str:
    """Create the store (once, under a file lock for SQLite) and the experiment; return its id.

    Raises:
        StoreError: the store is locked, corrupt, read-only, full or of another schema.
        RegistryUnavailable: a tracking server does not answer its health check.
        RegistryError: any other failure, with what to check.
    """
    key = (settings.tracking_uri, settings.experiment_name)
    with _READY_LOCK:
        if key in _READY_EXPERIMENTS:
            return _READY_EXPERIMENTS[key]
    with translate("open the tracking store", settings):
        if settings.is_embedded:
            experiment_id = _ensure_sqlite(settings)
        else:
            uri = settings.tracking_uri.rstrip("/")
            if uri.startswith(("http://", "https://")):
                # Fail in seconds, not minutes, when a server is down (MLflow retries ~4 min).
                probe_server(uri, SERVER_CHECK_TIMEOUT_SECONDS)
            experiment_id = _get_or_create_experiment(client(settings), settings)
    with _READY_LOCK:
        _READY_EXPERIMENTS[key] = experiment_id
    return experiment_id


def _ensure_sqlite(settings: Settings) -> str:
    from filelock import FileLock

    database = settings.sqlite_path
    assert database is not None
    database.parent.mkdir(parents=True, exist_ok=True)
    Path(settings.artifacts_dir).mkdir(parents=True, exist_ok=True)
    if database.exists():
        check_schema(database, mask_uri(settings.tracking_uri))
    # Several processes creating the schema at once corrupt a fresh SQLite store.
    with FileLock(f"{database}.lock", timeout=300):
        mlflow_client = client(settings)
        mlflow_client.search_experiments(max_results=1)
        mlflow_client.search_registered_models(max_results=1)
        return _get_or_create_experiment(mlflow_client, settings)
