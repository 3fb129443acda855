"""API keys (401), body limits (413, declared and streamed), content types (415) and hostile input
through a real uvicorn process: each refusal is a clear 4xx that echoes nothing raw, and the
process stays alive with its model untouched.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest

from core.config import Settings
from tests.api.harness import ApiServer, install_local_model, running_api, wait_ready
from tests.reliability.test_hostile_input import CONTROL, code_payloads, name_payloads

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.reliability]
KEYS = ("alpha-key-0123456789", "beta-key-9876543210")
GOOD = {"X-API-Key": KEYS[1]}
MAX_MESSAGE_CHARS = 2000
TWO_MB = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("api-guards")
    settings = Settings(use_registry=False, models_dir=root / "models", artifacts_dir=root / "a")
    install_local_model(settings, root, version="5")
    with running_api(settings, PREDICTIONDEX_API_KEYS=f" {KEYS[0]} ,{KEYS[1]},") as server:
        wait_ready(server)
        yield server


def baseline(api: ApiServer) -> tuple:
    """What must not change: the model serving (version, load time) and one answer."""
    model = api.get("/model", headers=GOOD).json()
    answer = api.post("/predict", json={"pokemon_a": "Pikachu", "pokemon_b": "Onix"}, headers=GOOD)
    return model["model_version"], model["loaded_at"], answer.json()["p_a_wins"]


def assert_clean_refusal(response, statuses=(400, 413, 415, 422)) -> dict:
    """A 4xx with our error body, a bounded message and no control characters echoed."""
    assert response.status_code in statuses, response.text[:300]
    error = response.json()["error"]
    text = json.dumps(error, ensure_ascii=False)
    assert len(text) < MAX_MESSAGE_CHARS * 2
    assert not CONTROL.search(text), text[:300]
    assert error["message"] and error["kind"]
    return error


def test_api_keys(api):
    body = {"pokemon_a": "Pikachu", "pokemon_b": "Onix"}
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEYS[0][:-1]}, {"X-API-Key": ""}):
        response = api.post("/predict", json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["kind"] == "unauthorized"
        assert "X-API-Key" in response.json()["error"]["hint"]
    assert api.get("/model").status_code == 401
    assert api.get("/matrix?pokemon=Pikachu,Onix").status_code == 401
    assert api.post("/predict/batch", json={"rows": [body]}).status_code == 401
    # Probes and docs stay open for load balancers and people.
    for path in ("/health", "/ready", "/docs", "/openapi.json"):
        assert api.get(path).status_code == 200, path
    for key in KEYS:
        assert api.post("/predict", json=body, headers={"X-API-Key": key}).status_code == 200
    # /docs can send the key: the schema declares it (an Authorize button), probes stay open.
    schema = api.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
    }  # fmt: skip
    assert schema["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_body_over_2_mb_is_413_by_its_declared_length(api):
    padding = "x" * (TWO_MB + 1)
    response = api.post(
        "/predict/batch", data=json.dumps({"rows": [padding]}), headers={
            **GOOD, "Content-Type": "application/json"},
    )  # fmt: skip
    assert_clean_refusal(response, (413,))
    exactly = b'{"rows": [' + b" " * (TWO_MB - 20) + b'{"pokemon_a":"a"}]}'
    response = api.post(
        "/predict/batch",
        data=exactly[:TWO_MB],
        headers={**GOOD, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)  # at the limit: read, then refused as bad JSON


def test_streamed_body_over_2_mb_is_cut_off_with_413(api):
    """Chunked, no Content-Length: the server stops reading at 2 MB and answers 413."""
    address = urlparse(api.url)
    with socket.create_connection((address.hostname, address.port), timeout=20) as connection:
        connection.sendall(
            b"POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {KEYS[0]}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"[" * 65536
        sent = 0
        try:
            while sent < 8 * TWO_MB:  # a client that would never stop
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection after its answer
        answer = b""
        try:
            while part := connection.recv(65536):
                answer += part
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 8 * TWO_MB, "the server kept reading"
    assert api.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", '{"pokemon_a": "Pikachu", "pokemon_b": "Onix"}'),
        ("application/x-www-form-urlencoded", "pokemon_a=Pikachu&pokemon_b=Onix"),
        ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data\r\n\r\n--x--"),
        ("application/xml", "<pokemon_a>Pikachu</pokemon_a>"),
        (None, '{"pokemon_a": "Pikachu", "pokemon_b": "Onix"}'),
    ],
)
def test_wrong_content_types_are_415(api, content_type, data):
    headers = dict(GOOD)
    if content_type:
        headers["Content-Type"] = content_type
    response = api.post("/predict", data=data.encode(), headers=headers)
    error = assert_clean_refusal(response, (415,))
    assert "application/json" in error["hint"]


def test_hostile_input_is_refused_clearly_and_changes_nothing(api, tmp_path):
    before = baseline(api)
    marker = tmp_path / "pwned"
    names = name_payloads("Pikachu", marker) + code_payloads(marker)
    for payload in names:
        for field in ("pokemon_a", "pokemon_b"):
            body = {"pokemon_a": "Onix", "pokemon_b": "Onix", field: payload}
            response = api.post("/predict", json=body, headers=GOOD)
            error = assert_clean_refusal(response, (422,))
            if len(payload) > 40 or not payload.isprintable():  # never repeated as sent
                assert payload not in json.dumps(error, ensure_ascii=False)
        moves = api.post(
            "/predict", json={"pokemon_a": "Pikachu", "pokemon_b": "Onix", "moves_a": [payload]},
            headers=GOOD,
        )  # fmt: skip
        assert_clean_refusal(moves, (422,))
    batch = api.post(
        "/predict/batch", json={"rows": [{"pokemon_a": p, "pokemon_b": "Onix"} for p in names]},
        headers=GOOD,
    ).json()  # fmt: skip
    assert batch["failed"] == len(names) and batch["succeeded"] == 0
    assert not CONTROL.search(json.dumps(batch["results"], ensure_ascii=False))
    matrix = api.get("/matrix", params={"pokemon": ["Pikachu", names[6]]}, headers=GOOD)
    assert_clean_refusal(matrix, (422,))
    assert not marker.exists()
    assert api.get("/health").status_code == 200
    assert baseline(api) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # a nested JSON bomb as the whole body
        b'{"pokemon_a": ' + b"[" * 50_000 + b"]" * 50_000 + b', "pokemon_b": "Onix"}',
        b'{"rows": [' + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"]}",
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": 1' + b"0" * 5000 + b"}",
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": 1e308}',
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": -99999999999999999999}',
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": NaN}',
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_b": Infinity}',
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix", "explain": "maybe"}',
        b'{"pokemon_a": "Pika\\u0000chu", "pokemon_b": "Onix"}',
        b'{"pokemon_a": "Pikachu", "pokemon_b": "Onix"',  # cut short
        b"\xff\xfe\x00garbage",
        b"",
        b"null",
        b"[]",
        b'"Pikachu"',
    ],
)
def test_malformed_and_oversized_json_is_a_clear_4xx(api, raw):
    for path in ("/predict", "/predict/batch"):
        response = api.post(
            path, data=raw, headers={**GOOD, "Content-Type": "application/json"}, timeout=30
        )
        assert_clean_refusal(response, (400, 422))
        assert b"garbage" not in response.content
    assert api.get("/health").status_code == 200


def test_cut_short_json_names_the_body_not_a_character_offset(api):
    """A truncated body says it is not valid JSON, never 'invalid request: 13' (an offset)."""
    response = api.post(
        "/predict",
        data=b'{"pokemon_a": "Pikachu"',
        headers={**GOOD, "Content-Type": "application/json"},
        timeout=30,
    )
    error = assert_clean_refusal(response, (422,))
    assert error["message"] == "invalid request: the body is not valid JSON"
    assert [problem["field"] for problem in error["fields"]] == ["body"]
