"""Serving's direct reads of the embedded SQLite store (core.registry.embedded) against MLflow's
own client on the same real store: the same versions, stages, tags, files and report, the same
errors, and the cases where MLflow's client still reads (another schema revision, a corrupt or
missing file, an MLflow client or workspace variable)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from core import registry
from core.artifacts import UntrustedModelError
from core.config import MLFLOW_CLIENT_VARIABLES, Settings
from core.registry import (
    MLflowTracker,
    NoModelError,
    Registry,
    RegistryError,
    StoreError,
    embedded,
)
from tests.api.harness import MODEL_NAME, register_tiny_model
from tests.cli import run_python
from tests.registry_reads import assert_same_reads, serving_reads

# Any MLflow client variable hands the reads back to MLflow's client; a file store ignores it.
CLIENT_SWITCH = ("MLFLOW_TRACKING_TOKEN", "unused-by-a-file-store")


def test_the_schema_revision_is_the_installed_mlflows():
    """The reader's tables are those of the installed MLflow's newest migration: an MLflow
    upgrade that adds one fails here (update MLFLOW_SCHEMA_REVISION after checking the
    queries), and at run time a store of another revision is read by MLflow's client."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert embedded.MLFLOW_SCHEMA_REVISION == _get_latest_schema_revision()


@pytest.mark.slow
def test_embedded_reads_equal_mlflows_client(settings_factory, tmp_path, monkeypatch):
    settings = settings_factory(with_store=True)
    versions = [register_tiny_model(settings, tmp_path, seed=seed) for seed in (1, 2, 3, 4)]
    tracker = MLflowTracker(settings=settings)
    tracker.promote_to_production(MODEL_NAME, versions[0], reason="first")
    tracker.promote_to_production(MODEL_NAME, versions[1], reason="second")  # v1: Archived
    Registry(settings).promote(MODEL_NAME, versions[2], stage="Staging")
    tracker.client.delete_model_version(MODEL_NAME, str(versions[3]))

    report = tmp_path / "evaluation.json"
    report.write_text('{"measured_on": {"battles": 1234}}', encoding="utf-8")
    run_id = registry.resolve_version(MODEL_NAME, version=versions[1], settings=settings).run_id
    Registry(settings).log_to_run(run_id, {}, [report], path="evaluation")

    reader = embedded.reader_for(settings)
    assert reader is not None and registry.direct_reader(settings) is not None
    direct = serving_reads(settings, versions[:3])
    root = reader.run_artifacts(run_id)
    assert root is not None and root.endswith(f"{run_id}/artifacts")
    assert reader.read_text(root, "evaluation/evaluation.json") == report.read_text()
    assert reader.read_text(root, "evaluation/absent.json") is None
    with pytest.raises(RegistryError, match="core.registry list"):  # deleted: as the client
        registry.resolve_version(MODEL_NAME, version=versions[3], settings=settings)

    monkeypatch.setenv(*CLIENT_SWITCH)
    assert embedded.reader_for(settings) is None
    over_client = serving_reads(settings, versions[:3])
    with pytest.raises(RegistryError, match="core.registry list"):
        registry.resolve_version(MODEL_NAME, version=versions[3], settings=settings)

    assert_same_reads(direct, over_client, production=versions[1])


def test_embedded_errors_match_the_clients(settings_factory, tmp_path):
    settings = settings_factory(with_store=True)
    assert embedded.reader_for(settings) is not None
    with pytest.raises(NoModelError, match="not registered"):
        registry.resolve_version(MODEL_NAME, settings=settings)
    version = register_tiny_model(settings, tmp_path, seed=5)
    with pytest.raises(NoModelError, match="Production"):
        registry.resolve_version(MODEL_NAME, settings=settings)  # registered, nobody promoted
    with pytest.raises(RegistryError, match="core.registry list"):
        registry.resolve_version(MODEL_NAME, version=version + 40, settings=settings)


def test_a_tampered_model_folder_is_refused_as_before(settings_factory, tmp_path):
    """The copy is checked against the version's manifest like any download."""
    settings = settings_factory(with_store=True)
    version = register_tiny_model(settings, tmp_path, seed=7)
    info = registry.resolve_version(MODEL_NAME, version=version, settings=settings)
    folder = embedded.reader_for(settings).proxied_path(info.source)
    assert folder is not None
    first = sorted(path for path in Path(folder).iterdir() if path.is_file())[0]
    first.write_bytes(first.read_bytes() + b" ")
    with pytest.raises(UntrustedModelError):
        registry.load_model_version(info, settings)


def test_mlflows_client_reads_a_store_of_another_revision_or_a_broken_file(
    settings_factory, tmp_path, monkeypatch
):
    settings = settings_factory(with_store=True)
    database = settings.sqlite_path
    assert embedded.reader_for(settings) is not None

    for name in MLFLOW_CLIENT_VARIABLES:
        monkeypatch.setenv(name, "x")
        assert embedded.reader_for(settings) is None, name
        monkeypatch.delenv(name)

    other = tmp_path / "other" / "mlflow.db"
    other.parent.mkdir()
    shutil.copy(database, other)
    with sqlite3.connect(other) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    older = settings_factory(tracking_uri=f"sqlite:///{other}")
    assert embedded.reader_for(older) is None
    with pytest.raises(StoreError) as refused:  # what MLflow's path has always said
        registry.resolve_version(MODEL_NAME, settings=older)
    assert refused.value.kind == "schema"

    database.write_bytes(b"not a database " * 100)
    assert embedded.reader_for(settings) is None
    with pytest.raises(StoreError) as corrupt:
        registry.resolve_version(MODEL_NAME, settings=settings)
    assert corrupt.value.kind == "corrupt"

    missing = settings_factory(tracking_uri=f"sqlite:///{tmp_path}/absent/mlflow.db")
    server = Settings(tracking_uri="http://127.0.0.1:5000", artifacts_dir=tmp_path)
    assert embedded.reader_for(missing) is None and embedded.reader_for(server) is None


def test_embedded_copies_only_local_folders(tmp_path):
    reader = embedded.EmbeddedReader(tmp_path / "mlflow.db", "sqlite:///mlflow.db")
    model = tmp_path / "artifacts" / "model"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{}", encoding="utf-8")
    assert reader.proxied_path(model.as_uri()) == str(model)
    assert reader.proxied_path((tmp_path / "absent").as_uri()) is None
    assert reader.proxied_path("mlflow-artifacts:/1/abc/artifacts/model") is None
    assert reader.proxied_path("s3://bucket/model") is None
    assert reader.proxied_path("file://otherhost/srv/model") is None
    copied = reader.download(str(model), tmp_path / "out")
    assert copied == tmp_path / "out" / "model"
    assert (copied / "model.json").read_text(encoding="utf-8") == "{}"
    (model / "link").symlink_to("/etc/passwd")
    with pytest.raises(RegistryError, match="symbolic link"):
        reader.download(str(model), tmp_path / "again")


def test_a_serving_read_on_the_embedded_store_imports_no_mlflow(settings_factory, tmp_path):
    """In a fresh interpreter: resolve and load Production with neither mlflow nor sqlalchemy
    imported (the import is what made an embedded replica's first answer ~5 s)."""
    settings = settings_factory(with_store=True)
    version = register_tiny_model(settings, tmp_path, seed=8)
    MLflowTracker(settings=settings).promote_to_production(MODEL_NAME, version)
    code = (
        "import sys\n"
        "from core.registry import load_model_from_registry\n"
        "from core.config import Settings\n"
        f"bundle, info = load_model_from_registry({MODEL_NAME!r}, settings=Settings.from_env())\n"
        "print(info.version, 'mlflow' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    done = run_python(["-c", code], settings=settings, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(version), "False", "False"]
