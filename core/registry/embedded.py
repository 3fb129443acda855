"""Reading a model version from the embedded SQLite store directly, without mlflow.

Serving from `make api`'s single-user store needs three reads: the registered model (its aliases
and audit tags), the version (source, tags) and its files. Through MLflow's client they cost
~2 CPU s to import mlflow and ~1.8 s more to build its SQLAlchemy store (the ORM mappers of its
69 tables: `python -m cProfile`, BENCHMARKS.md "Cold start"), which put a fresh API process's
first registry answer at ~5 s against the 3 s target. These reads need only `sqlite3`.

The queries are the ones MLflow's SqlAlchemyModelRegistryStore runs
(mlflow/store/model_registry/sqlalchemy_store.py: `_get_registered_model`,
`_get_sql_model_version`), on the tables of MLflow's schema revision MLFLOW_SCHEMA_REVISION
(mlflow/store/db_migrations). MLflow's schema is its own: the reader applies (`reader_for`)
only when the file exists, its alembic_version row is that revision (an upgraded or older store,
or one still being created, is read by MLflow's client, which reports it) and no MLflow client
or workspace variable is set (core.config.MLFLOW_CLIENT_VARIABLES). tests/test_registry_embedded.py
checks the revision against the installed MLflow and every read against MLflow's client.

Artifacts under a `file:` source are copied; any other source is downloaded by MLflow's client.
Writes (logging, registering, promoting) always go through MLflow's client.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from core.config import Settings, mask_uri, mlflow_client_variables
from core.registry.errors import NotRegisteredError, RegistryError
from core.registry.rest import MAX_DOWNLOAD_BYTES, MAX_TEXT_BYTES, ModelVersion, RegisteredModel
from core.registry.store import SQLITE_PROBE_SECONDS, raise_translated

# The head of MLflow's migrations in the pinned release (mlflow==3.17.2); see the module docstring.
MLFLOW_SCHEMA_REVISION = "dc11669786a5"
WORKSPACE = "default"  # mlflow.utils.workspace_utils.DEFAULT_WORKSPACE_NAME
DELETED_STAGE = "Deleted_Internal"  # mlflow.entities.model_registry.model_version_stages


def reader_for(settings: Settings) -> EmbeddedReader | None:
    """An EmbeddedReader for these settings, or None when MLflow's client must read."""
    if not settings.is_embedded or settings.sqlite_path is None or mlflow_client_variables():
        return None
    reader = EmbeddedReader(settings.sqlite_path, mask_uri(settings.tracking_uri))
    return reader if reader.schema_revision() == MLFLOW_SCHEMA_REVISION else None


class EmbeddedReader:
    """Read-only queries on one SQLite store file, each on its own read-only connection.

    A store fault leaves as StoreError (locked beyond SQLITE_PROBE_SECONDS, corrupt, ...), an
    unknown registered model as NotRegisteredError, an unknown version as RegistryError naming
    `core.registry list`, as MLflow's client reads do (core.registry.versions).
    """

    def __init__(self, database: Path, where: str) -> None:
        self.database = Path(database)
        self.where = where

    def _rows(self, sql: str, params: tuple, action: str) -> list[tuple]:
        try:
            connection = sqlite3.connect(
                f"file:{self.database}?mode=ro", uri=True, timeout=SQLITE_PROBE_SECONDS
            )
            try:
                return connection.execute(sql, params).fetchall()
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise_translated(error, action, self.where)

    def schema_revision(self) -> str | None:
        """MLflow's schema revision of the file; None when missing, unreadable or unfinished."""
        if not self.database.is_file():
            return None
        try:
            rows = self._rows("SELECT version_num FROM alembic_version", (), "read the schema")
        except RegistryError:
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    def _pairs(self, sql: str, params: tuple, action: str) -> dict[str, str]:
        return {str(key): str(value) for key, value in self._rows(sql, params, action)}

    def get_registered(self, name: str) -> RegisteredModel:
        """The registered model `name`. Raises NotRegisteredError when it does not exist."""
        action, key = "read the model", (name, WORKSPACE)
        found = self._rows(
            "SELECT name FROM registered_models WHERE name = ? AND workspace = ?", key, action
        )
        if not found:
            raise NotRegisteredError(
                f"model {name!r} is not registered yet: train one with `python -m core.train`."
            )
        aliases = self._pairs(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ? AND workspace = ?",
            key, action,
        )  # fmt: skip
        tags = self._pairs(
            "SELECT key, value FROM registered_model_tags WHERE name = ? AND workspace = ?",
            key, action,
        )  # fmt: skip
        return RegisteredModel(name=str(found[0][0]), aliases=aliases, tags=tags)

    def get_version(self, name: str, number: int) -> ModelVersion:
        """Version `number` of `name`. Raises RegistryError when it does not exist."""
        action = "read the model version"
        found = self._rows(
            "SELECT name, version, source, run_id, description, creation_time "
            "FROM model_versions WHERE name = ? AND version = ? AND workspace = ? "
            "AND current_stage != ?",
            (name, int(number), WORKSPACE, DELETED_STAGE), action,
        )  # fmt: skip
        if not found:
            raise RegistryError(
                f"version {number} of {name} does not exist: pick one listed by "
                "`python -m core.registry list`."
            )
        row_name, version, source, run_id, description, created = found[0]
        tags = self._pairs(
            "SELECT key, value FROM model_version_tags "
            "WHERE name = ? AND version = ? AND workspace = ?",
            (name, int(number), WORKSPACE), action,
        )  # fmt: skip
        return ModelVersion(
            name=str(row_name),
            version=str(version),
            source=str(source or ""),
            run_id=run_id or None,
            tags=tags,
            description=str(description or ""),
            creation_timestamp=int(created or 0),
        )

    def run_artifacts(self, run_id: str) -> str | None:
        """The local folder of a run's artifacts, None when the run or a `file:` root is
        missing (MLflow's client reads it then)."""
        rows = self._rows(
            "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,), f"read run {run_id}"
        )
        return self.proxied_path(str(rows[0][0] or "")) if rows else None

    def read_text(self, root: str, path: str) -> str | None:
        """The UTF-8 text of the file `path` under the local folder `root`, None when missing.

        Raises RegistryError when the file is larger than MAX_TEXT_BYTES.
        """
        file = Path(root) / path.strip("/")
        if not file.is_file():
            return None
        if file.stat().st_size > MAX_TEXT_BYTES:
            raise RegistryError(f"{file} is larger than {MAX_TEXT_BYTES:,} bytes: refused")
        return file.read_bytes().decode("utf-8", errors="replace")

    def proxied_path(self, source: str) -> str | None:
        """The local folder of a `file:` source on this machine, else None (another scheme:
        MLflow's client downloads it)."""
        parsed = urlparse(source)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            return None
        folder = Path(unquote(parsed.path))
        return str(folder) if folder.is_dir() else None

    def download(self, remote: str, destination: Path) -> Path:
        """Copy the local folder `remote` into destination/<its name>; return it.

        Raises RegistryError when it holds more than MAX_DOWNLOAD_BYTES or a link (a version's
        files are plain files), or it cannot be read.
        """
        folder = Path(remote)
        size = 0
        for path in folder.rglob("*"):
            if path.is_symlink():
                raise RegistryError(f"{path} is a symbolic link in a model folder: refused")
            if path.is_file():
                size += path.stat().st_size
        if size > MAX_DOWNLOAD_BYTES:
            raise RegistryError(f"{folder} holds more than {MAX_DOWNLOAD_BYTES:,} bytes: refused")
        local = Path(destination) / folder.name
        try:
            shutil.copytree(folder, local, dirs_exist_ok=True)
        except OSError as error:
            raise_translated(error, f"copy {folder}", self.where)
        return local
