"""Where a study lives: the storage URL, a reachability check, and Optuna's RDB storage.

Default: `optuna.db` beside the embedded MLflow store (created once under a file lock, like the
store); a team sets PREDICTIONDEX_SEARCH_STORAGE to a PostgreSQL database of its own (Optuna and
MLflow both keep an `alembic_version` table, so they cannot share one database). Every trial
beats a heartbeat: a worker killed mid-trial leaves a stale trial that the next worker (or the
coordinator) marks FAIL, ending its MLflow child run FAILED too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT, Settings
from core.search.config import SearchError

logger = logging.getLogger(__name__)

DEFAULT_STORAGE_NAME = "optuna.db"
HEARTBEAT_SECONDS = 2
GRACE_SECONDS = 8  # a trial whose heartbeat is older than this is stale (its worker is gone)
CONNECT_TIMEOUT_SECONDS = 5
SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql")


def default_storage_url(settings: Settings) -> str:
    """PREDICTIONDEX_SEARCH_STORAGE, else sqlite:///<folder of the embedded store>/optuna.db."""
    if settings.search_storage:
        return settings.search_storage
    folder = settings.sqlite_path.parent if settings.sqlite_path else PROJECT_ROOT
    return f"sqlite:///{folder / DEFAULT_STORAGE_NAME}"


def cache_dir(storage_url: str, settings: Settings) -> Path:
    """Where the search's dataset cache lives: beside a SQLite storage, else beside the store."""
    if storage_url.startswith("sqlite:///"):
        return Path(storage_url.removeprefix("sqlite:///")).parent / "search_cache"
    folder = settings.sqlite_path.parent if settings.sqlite_path else PROJECT_ROOT
    return folder / "search_cache"


def check_storage(url: str) -> None:
    """Raise SearchError unless the storage can be used; creates nothing.

    SQLite: its folder must exist and be writable. A server URL: one connection within
    CONNECT_TIMEOUT_SECONDS.
    """
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in SUPPORTED_SCHEMES or "://" not in url:
        raise SearchError(
            f"Storage URL {url[:60]!r} is not a database URL: use sqlite:///PATH or "
            "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE."
        )
    if scheme == "sqlite":
        _check_sqlite_folder(url)
        return
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}, poolclass=_null_pool()
        )
        with engine.connect():
            pass
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any driver's refusal means the same to the user
        raise SearchError(
            f"The study storage {_masked(url)} cannot be reached ({type(error).__name__}).",
            hint="Check the host, port, database and password, or start the database first.",
        ) from None


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


def _check_sqlite_folder(url: str) -> None:
    import os

    path = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:///") and path.parent.is_dir() and os.access(path.parent, os.W_OK):
        return
    raise SearchError(
        f"The study storage {url[:120]!r} cannot be created: its folder is missing or read-only.",
        hint="Use sqlite:///ABSOLUTE/PATH/optuna.db in a writable folder.",
    )


def _masked(url: str) -> str:
    from core.config import mask_uri

    return mask_uri(url)


def open_storage(url: str, settings: Settings) -> Any:
    """Optuna's RDBStorage with heartbeats; the SQLite file is created under a file lock.

    A stale trial (its worker died) is marked FAIL by Optuna and its MLflow child run (in the
    tracking store of `settings`) is ended FAILED. Raises SearchError when unusable.
    """
    import functools
    import warnings

    import optuna
    from filelock import FileLock

    check_storage(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # No implicit transactions from the driver: every one begins IMMEDIATE (see below).
        kwargs = {"connect_args": {"timeout": 60, "isolation_level": None}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

        def make() -> Any:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS, heartbeat_stale_trial_callback=functools.partial(end_stale_child_run, settings),
            )  # fmt: skip

        if url.startswith("sqlite:///"):
            with FileLock(f"{url.removeprefix('sqlite:///')}.lock", timeout=120):
                storage = make()
            _begin_immediate(storage.engine)
            return storage
        return make()


def _begin_immediate(engine: Any) -> None:
    """Make every transaction on this SQLite engine take the write lock when it begins.

    Python's sqlite3 driver opens a transaction only at the first write, so Optuna's
    read-check-write steps are not atomic on SQLite: two workers both read the enqueued trial
    as WAITING, both set it RUNNING and both ran trial 0: two child runs, the trial's run id
    naming one of them, and the later `tell` failing, which ended that worker. BEGIN IMMEDIATE
    serialises them as FOR UPDATE does on PostgreSQL.
    """
    from sqlalchemy import event

    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "begin", begin)


def end_stale_child_run(settings: Settings, study: Any, trial: Any) -> None:
    """Optuna's stale-trial callback: the dead worker's MLflow child run ends FAILED."""
    run_id = trial.user_attrs.get("mlflow_run_id")
    logger.warning(
        "trial %s of %s was abandoned by its worker: FAIL", trial.number, study.study_name
    )
    if not run_id:
        return
    from core.registry import RegistryError
    from core.search.tracking import end_run

    try:
        end_run(settings, run_id, "FAILED", {"optuna.state": "FAIL"})
    except RegistryError:
        logger.warning("could not mark run %s FAILED", run_id)
