"""Serving's REST reads of a tracking server (core.registry.rest) against a real `mlflow server`:
the same versions, stages, tags and model files as MLflow's own client, the same errors, and
the cases where MLflow's client still reads."""

from __future__ import annotations

import pytest

from core import registry
from core.config import MLFLOW_CLIENT_VARIABLES, Settings
from core.registry import (
    MLflowTracker,
    NoModelError,
    Registry,
    RegistryError,
    RegistryUnavailable,
    rest,
)
from tests.api.harness import MODEL_NAME, register_tiny_model
from tests.registry_reads import assert_same_reads, serving_reads

# Any MLflow credential variable hands the reads back to MLflow's client; a server without
# authentication ignores the bearer token this sets.
CLIENT_SWITCH = ("MLFLOW_TRACKING_TOKEN", "not-checked-by-this-server")


def _server_settings(url: str, tmp_path) -> Settings:
    return Settings(
        tracking_uri=url, artifacts_dir=tmp_path / "unused", models_dir=tmp_path / "models"
    )


@pytest.mark.server
@pytest.mark.slow
def test_rest_reads_equal_mlflows_client(mlflow_server, tmp_path, monkeypatch):
    settings = _server_settings(mlflow_server.url, tmp_path)
    versions = [register_tiny_model(settings, tmp_path, seed=seed) for seed in (1, 2, 3)]
    tracker = MLflowTracker(settings=settings)
    tracker.promote_to_production(MODEL_NAME, versions[0], reason="first")
    tracker.promote_to_production(MODEL_NAME, versions[1], reason="second")  # v1: Archived
    Registry(settings).promote(MODEL_NAME, versions[2], stage="Staging")

    report = tmp_path / "evaluation.json"
    report.write_text('{"measured_on": {"battles": 1234}}', encoding="utf-8")
    run_id = registry.resolve_version(MODEL_NAME, version=versions[1], settings=settings).run_id
    Registry(settings).log_to_run(run_id, {}, [report], path="evaluation")

    assert rest.applies(settings)
    over_rest = serving_reads(settings, versions)
    reader = rest.reader_for(settings)
    root = reader.run_artifacts(run_id)
    assert root is not None and root.endswith(f"{run_id}/artifacts")
    assert reader.read_text(root, "evaluation/evaluation.json") == report.read_text()
    assert reader.read_text(root, "evaluation/absent.json") is None
    monkeypatch.setenv(*CLIENT_SWITCH)
    assert not rest.applies(settings)
    over_client = serving_reads(settings, versions)
    assert (
        Registry(settings).read_run_text(run_id, "evaluation/evaluation.json") == report.read_text()
    )

    assert_same_reads(over_rest, over_client, production=versions[1])


@pytest.mark.server
@pytest.mark.slow
def test_rest_errors_match_the_clients(mlflow_server, tmp_path):
    settings = _server_settings(mlflow_server.url, tmp_path)
    with pytest.raises(NoModelError, match="not registered"):
        registry.resolve_version(MODEL_NAME, settings=settings)
    version = register_tiny_model(settings, tmp_path, seed=4)
    with pytest.raises(NoModelError, match="Production"):
        registry.resolve_version(MODEL_NAME, settings=settings)  # registered, nobody promoted
    with pytest.raises(RegistryError, match="core.registry list"):
        registry.resolve_version(MODEL_NAME, version=version + 40, settings=settings)
    info = registry.resolve_version(MODEL_NAME, version=version, settings=settings)

    mlflow_server.stop()
    with pytest.raises(RegistryUnavailable, match="not reachable"):
        registry.resolve_version(MODEL_NAME, settings=settings)
    with pytest.raises(RegistryUnavailable, match="not reachable"):
        registry.load_model_version(info, settings)


def test_rest_applies_to_servers_without_client_credentials(monkeypatch, tmp_path):
    server = Settings(tracking_uri="http://127.0.0.1:5000", artifacts_dir=tmp_path)
    embedded = Settings(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifacts_dir=tmp_path)
    assert rest.applies(server) and not rest.applies(embedded)
    for name in MLFLOW_CLIENT_VARIABLES:
        monkeypatch.setenv(name, "x")
        assert not rest.applies(server), name
        monkeypatch.delenv(name)
    assert rest.applies(server)


def test_rest_downloads_only_what_the_server_proxies():
    reader = rest.ServerReader("http://127.0.0.1:5000")
    assert reader.proxied_path("mlflow-artifacts:/1/abc/artifacts/model") == "1/abc/artifacts/model"
    assert reader.proxied_path("mlflow-artifacts://127.0.0.1:5000/1/m") == "1/m"
    for elsewhere in ("mlflow-artifacts://other:5000/1/m", "s3://bucket/1/m", "file:///tmp/m",
                      "/tmp/m", "mlflow-artifacts:/"):  # fmt: skip
        assert reader.proxied_path(elsewhere) is None, elsewhere


@pytest.mark.parametrize("listed", ["", ".", "..", "../..", "a\\..\\b", "x\x00y", "/"])
def test_rest_refuses_unsafe_names_in_a_listing(listed):
    with pytest.raises(RegistryError, match="unsafe artifact name"):
        rest._safe_name(listed)


def test_rest_keeps_the_last_component_of_a_listed_path():
    assert rest._safe_name("model.ubj") == "model.ubj"
    assert rest._safe_name("1/abc/artifacts/model/MLmodel") == "MLmodel"


@pytest.mark.parametrize(("raw", "seconds"), [("7", 7.0), ("0.5", 0.5), ("", 120.0),
                                              ("-3", 120.0), ("soon", 120.0)])  # fmt: skip
def test_rest_calls_take_mlflows_own_timeout(monkeypatch, raw, seconds):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raw)
    assert rest.ServerReader("http://127.0.0.1:5000").timeout == seconds


def test_a_server_that_is_not_mlflow_is_a_clear_registry_error(tmp_path):
    """A real HTTP server that is not MLflow (python -m http.server): one RegistryError that
    says what answered, never a traceback from parsing its pages."""
    import sys

    from tests.servers import HOST, _http_ok, spawn_on_free_port

    (tmp_path / "index.html").write_text("<html>not mlflow</html>", encoding="utf-8")
    process, port = spawn_on_free_port(
        "http.server",
        lambda port: [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            HOST,
            "--directory",
            str(tmp_path),
        ],  # fmt: skip
        lambda port: _http_ok(f"http://{HOST}:{port}/index.html"),
    )
    try:
        settings = _server_settings(f"http://{HOST}:{port}", tmp_path)
        with pytest.raises(RegistryError, match="HTTP 404") as raised:
            registry.resolve_version(MODEL_NAME, settings=settings)
        assert not isinstance(raised.value, RegistryUnavailable)  # it answered: not an outage
    finally:
        process.stop()
