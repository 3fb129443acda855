"""A template SQLite MLflow store: migrated once per test session, copied into each test.

Opening a fresh SQLite store makes MLflow run its whole schema migration (~1.3 s on an idle
machine, several seconds on a loaded one); copying a migrated file costs milliseconds. The
template holds the schema at MLflow's head revision and no row beyond `alembic_version`: the
default experiment is removed, so whoever opens a copy first creates it with its own artifact
root, exactly as on a fresh store (`tests/test_stores.py` checks both are the same).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Settings, disable_usage_reporting

TEMPLATE_NAME = "template.db"
STORE_NAME = "mlflow.db"


@dataclass(frozen=True)
class StoreTemplate:
    """A migrated, empty SQLite store file; tests get copies, never the file itself."""

    path: Path

    def copy_to(self, directory: Path, name: str = STORE_NAME) -> str:
        """Copy the template to `directory/name`; returns its tracking URI (sqlite:///...).

        Raises:
            FileExistsError: a store is already there (a copy would silently replace its data).
        """
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / name
        if target.exists():
            raise FileExistsError(f"{target} exists: copy the template into an empty place")
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"


def embedded_settings(
    root: Path, template: StoreTemplate | None = None, **overrides: Any
) -> Settings:
    """Settings for an embedded store under `root` (root/mlflow.db, mlartifacts, models).

    With a `template`, a ready store is copied to root/mlflow.db first (if none is there);
    without one no file is made: the code under test creates the store. Keyword arguments
    override Settings fields.
    """
    values: dict[str, Any] = {
        "tracking_uri": f"sqlite:///{root / STORE_NAME}",
        "artifacts_dir": root / "mlartifacts",
        "models_dir": root / "models",
    }
    values.update(overrides)
    settings = Settings(**values)
    database = settings.sqlite_path
    if template is not None and database is not None and not database.exists():
        template.copy_to(database.parent, database.name)
    return settings


def migrate_store(path: Path) -> None:
    """Create a SQLite store at `path` the way the project's code first opens one."""
    disable_usage_reporting()
    from mlflow import MlflowClient

    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)


def build_store_template(directory: Path) -> StoreTemplate:
    """Migrate a store in `directory`, then empty it of the default experiment."""
    path = directory / TEMPLATE_NAME
    migrate_store(path)
    with contextlib.closing(sqlite3.connect(path)) as database, database:
        database.execute("DELETE FROM experiment_tags")
        database.execute("DELETE FROM experiments")
    return StoreTemplate(path)


def table_rows(path: Path) -> dict[str, int]:
    """Row count of every table of a SQLite file (sqlite_* bookkeeping tables left out)."""
    with contextlib.closing(sqlite3.connect(path)) as database:
        names = [
            row[0]
            for row in database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: database.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names
        }


def schema(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """(type, name, sorted lines of its SQL) of every table, index and trigger of a SQLite file.

    Lines are sorted because MLflow's migrations emit a table's constraints in set order, which
    changes from one process to the next: two fresh stores differ in that order only.
    """
    with contextlib.closing(sqlite3.connect(path)) as database:
        rows = database.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        return sorted(
            (kind, name, tuple(sorted(line.strip().rstrip(",") for line in sql.splitlines())))
            for kind, name, sql in rows.fetchall()
        )
