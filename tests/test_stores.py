"""The session's template store (tests/stores.py) is a fresh store, only cheaper to make.

A copy must be indistinguishable from a store MLflow migrates itself: same schema at the same
revision, no data, and once opened the same rows (the default experiment made by whoever opens
it first). If an MLflow upgrade changes how a fresh store looks, these tests say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stores import StoreTemplate, embedded_settings, migrate_store, schema, table_rows


def test_a_copy_has_the_schema_of_a_fresh_store(store_template: StoreTemplate, tmp_path: Path):
    """Same tables, indexes, revision and migration rows as a store migrated from nothing, but
    no default experiment yet (it is made when the copy is first opened)."""
    fresh = tmp_path / "fresh.db"
    migrate_store(fresh)
    store_template.copy_to(tmp_path / "copy")
    copy = tmp_path / "copy" / "mlflow.db"
    assert schema(copy) == schema(fresh)
    fresh_rows = table_rows(fresh)
    assert fresh_rows["experiments"] == 1 and fresh_rows["alembic_version"] == 1
    assert table_rows(copy) == {**fresh_rows, "experiments": 0}


def test_an_opened_copy_holds_what_an_opened_fresh_store_holds(
    store_template: StoreTemplate, tmp_path: Path
):
    """Opened by the project's own code, both have the same rows in every table."""
    from core.registry import ensure_store

    fresh = embedded_settings(tmp_path / "fresh")
    copied = embedded_settings(tmp_path / "copied", store_template)
    assert copied.sqlite_path is not None and copied.sqlite_path.exists()
    assert fresh.sqlite_path is not None and not fresh.sqlite_path.exists()
    assert ensure_store(copied) == ensure_store(fresh)  # the same experiment id
    assert table_rows(copied.sqlite_path) == table_rows(fresh.sqlite_path)


def test_copies_are_independent_and_never_overwrite(store_template: StoreTemplate, tmp_path):
    """A copy never replaces a store that is there, and writing one leaves the template as it was."""
    before = store_template.path.read_bytes()
    uri = store_template.copy_to(tmp_path)
    assert uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "mlflow.db").write_bytes(b"a store with data in it")
    with pytest.raises(FileExistsError, match="exists"):
        store_template.copy_to(tmp_path)
    assert (tmp_path / "mlflow.db").read_bytes() == b"a store with data in it"
    assert store_template.path.read_bytes() == before


def test_settings_factory_makes_a_store_only_when_asked(settings_factory):
    """Without with_store no file exists (serving tests rely on it); with it, a ready store."""
    plain = settings_factory()
    assert plain.sqlite_path is not None and not plain.sqlite_path.exists()
    ready = settings_factory(with_store=True)
    assert ready == plain and ready.sqlite_path.exists()
    assert table_rows(ready.sqlite_path)["alembic_version"] == 1
    server = settings_factory(with_store=True, tracking_uri="http://127.0.0.1:9")
    assert server.sqlite_path is None
