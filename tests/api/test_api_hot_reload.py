"""Hot reload and outages through a real API process: a CLI promotion is served without restart
and without a failed request; a registry that is closed, answers 503 or hangs leaves the local
fallback answering within 3 s; the registry serves again when it returns.

The registry is a real `mlflow server`; the outages are real sockets (tests/test_serving_outages'
broken servers and its switchable proxy). Every wait polls to a deadline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from urllib.parse import urlparse

import pytest
import requests

from core.config import Settings
from core.registry import MLflowTracker
from tests.api.harness import (
    MODEL_NAME,
    ApiServer,
    install_local_model,
    register_tiny_model,
    running_api,
    wait_for,
    wait_ready,
)
from tests.cli import run_python
from tests.servers import free_port
from tests.test_serving_outages import SwitchableProxy, broken_http_server

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.reliability]
WORST_CASE_SECONDS = 3.0
BODY = {"pokemon_a": "Snorlax", "pokemon_b": "Pikachu"}


class Hammer:
    """A client thread that predicts in a loop until stopped (or 180 s), recording each answer."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.answers: list[tuple[int, str | None, str | None]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 180
        session = requests.Session()
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                response = session.post(self.api.url + "/predict", json=BODY, timeout=10)
            except requests.RequestException as error:
                self.failures.append(repr(error))
                continue
            if response.status_code != 200:
                self.failures.append(f"{response.status_code}: {response.text[:200]}")
                continue
            body = response.json()
            self.answers.append((200, body["model_version"], body["source"]))

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def served(api: ApiServer) -> tuple[str | None, str | None, float]:
    """(model_version, source, seconds) of one /predict."""
    started = time.perf_counter()
    response = api.post("/predict", json=BODY)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["X-Model-Version"] == str(body["model_version"])
    return body["model_version"], body["source"], seconds


def test_cli_promotion_is_served_without_restart_then_outage_and_recovery(mlflow_server, tmp_path):
    direct = Settings(
        tracking_uri=mlflow_server.url,
        models_dir=tmp_path / "models",
        artifacts_dir=tmp_path / "unused",
        registry_ttl_seconds=0.5,
    )
    v1 = register_tiny_model(direct, tmp_path, seed=1)
    v2 = register_tiny_model(direct, tmp_path, seed=2)
    MLflowTracker(settings=direct).promote_to_production(MODEL_NAME, v1)
    install_local_model(direct, tmp_path, version="0")
    proxy = SwitchableProxy(urlparse(mlflow_server.url).port)
    try:
        with running_api(replace(direct, tracking_uri=proxy.url)) as api:
            wait_ready(api)
            # The local fallback answers first while the registry's v1 loads in the background.
            wait_for(lambda: served(api)[:2] == (str(v1), "registry"), 60, "v1 from the registry")

            with Hammer(api) as hammer:
                wait_for(lambda: len(hammer.answers) >= 5, 30, "answers before the promotion")
                promoted = run_python(["-m", "core.registry", "promote", str(v2)], settings=direct)
                assert promoted.returncode == 0, promoted.stderr
                wait_for(
                    lambda: hammer.answers and hammer.answers[-1][1] == str(v2),
                    60,
                    "the promoted version is served",
                )
                switched_at = len(hammer.answers)
                wait_for(lambda: len(hammer.answers) >= switched_at + 5, 30, "answers after")
            assert hammer.failures == []
            versions = [version for _, version, _ in hammer.answers]
            first_v2 = versions.index(str(v2))
            assert set(versions[:first_v2]) == {str(v1)} and set(versions[first_v2:]) == {str(v2)}
            assert {source for _, _, source in hammer.answers} == {"registry"}
            assert api.get("/model").json()["model_version"] == str(v2)

            # The registry's API hangs (its /health still answers): local within 3 s each time.
            # The CLI's promotion exported v2 as the local fallback (it follows Production).
            proxy.set_mode("hang_api")

            def local_answer() -> bool:
                version, source, seconds = served(api)
                assert seconds < WORST_CASE_SECONDS, f"{seconds:.2f} s"
                return source == "local" and version == str(v2)

            wait_for(local_answer, 20, "the local fallback answers")
            assert proxy.held >= 1
            assert api.get("/model").json()["fallback_reason"]

            proxy.set_mode("forward")  # the registry is back
            wait_for(
                lambda: served(api)[:2] == (str(v2), "registry"), 60, "the registry serves again"
            )
            assert "MLflow not available, using local files" in api.log()
    finally:
        proxy.close()


@pytest.mark.parametrize(("outage", "reason"), [("closed", "reach"), ("status503", "503")])
def test_api_facing_a_broken_registry_answers_from_local_in_time(outage, reason, tmp_path):
    settings = Settings(models_dir=tmp_path / "models", artifacts_dir=tmp_path / "unused")
    install_local_model(settings, tmp_path, version="0")
    if outage == "closed":
        with running_api(replace(settings, tracking_uri=f"http://127.0.0.1:{free_port()}")) as api:
            assert_local_in_time(api, reason)
        return
    with broken_http_server(outage) as broken:
        url = f"http://127.0.0.1:{broken.server_address[1]}"
        with running_api(replace(settings, tracking_uri=url)) as api:
            assert_local_in_time(api, reason)


def assert_local_in_time(api: ApiServer, reason: str) -> None:
    """Local serves, says why, and keeps answering within 3 s while the registry is re-tried."""
    ready = wait_ready(api)
    assert (ready["source"], ready["model_version"]) == ("local", "0")

    # A fresh API answers from local first ("the registry's model is still loading"), then says
    # why local stays once its first registry attempt has failed.
    def outage_named() -> dict | None:
        body = api.get("/model").json()
        return body if reason in (body["fallback_reason"] or "") else None

    info = wait_for(outage_named, 20, "the fallback reason names the outage")
    assert info["source"] == "local"
    # Past the breaker's cool-down (10 s) the registry is tried again, through the outage.
    until = time.monotonic() + 11
    while time.monotonic() < until:
        version, source, seconds = served(api)
        assert (version, source) == ("0", "local")
        assert seconds < WORST_CASE_SECONDS, f"an answer took {seconds:.2f} s"
        time.sleep(0.2)
