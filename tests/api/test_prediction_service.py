"""The API's endpoints on a real uvicorn process serving the local fallback (the seed's Test 3).

`USE_MLFLOW_REGISTRY=false pytest tests/api/test_prediction_service.py -v`: the API loads the
local files, answers without error although MLflow is unreachable (its tracking URI is a closed
port), and every endpoint does what /docs says. The process gets its settings explicitly, so the
test checks the same thing whether or not the shell sets the variable.
"""

from __future__ import annotations

import math

import pytest

from core.config import Settings
from core.predict import PredictionModel
from tests.api.harness import ApiServer, install_local_model, running_api, wait_ready
from tests.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server]
LOCAL_VERSION = "2"


@pytest.fixture(scope="module")
def local_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Registry off and unreachable anyway; a tiny real model as the local fallback."""
    root = tmp_path_factory.mktemp("api-local")
    settings = Settings(
        tracking_uri=f"http://127.0.0.1:{free_port()}",  # nothing listens: MLflow is away
        use_registry=False,
        models_dir=root / "models",
        artifacts_dir=root / "mlartifacts",
    )
    install_local_model(settings, root, version=LOCAL_VERSION)
    return settings


@pytest.fixture(scope="module")
def api(local_settings: Settings):
    with running_api(local_settings) as server:
        wait_ready(server)
        yield server


def predict(api: ApiServer, **body) -> dict:
    response = api.post("/predict", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_loads_the_local_files_without_error_when_mlflow_is_away(api):
    ready = api.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True, "reason": None, "model_version": LOCAL_VERSION, "source": "local",
    }  # fmt: skip
    answer = predict(api, pokemon_a="Mewtwo", pokemon_b="Magikarp")
    assert (answer["source"], answer["model_version"]) == ("local", LOCAL_VERSION)
    assert "Traceback" not in api.log() and " ERROR " not in api.log()


def test_health_answers_and_names_the_serving_model(api):
    response = api.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["X-Model-Version"] == LOCAL_VERSION
    assert response.headers["X-Model-Source"] == "local"


def test_model_endpoint(api):
    response = api.get("/model")
    assert response.status_code == 200
    info = response.json()
    assert info["model_name"] == "battle_winner_predictor"
    assert (info["model_version"], info["source"], info["model_type"]) == (
        LOCAL_VERSION, "local", "xgboost",
    )  # fmt: skip
    assert info["stage"] == "Production" and info["loaded_at"].endswith("+00:00")
    assert info["label"] == f"v{LOCAL_VERSION} (local fallback)"  # not "Production v..."
    assert info["metrics"]["test_accuracy"] == pytest.approx(0.9)
    # What the metrics were measured on: a local model says it from its metadata (this tiny
    # one records no dataset, so nothing but where it looked).
    assert info["measured_on"]["recorded_in"].startswith("the model's metadata")
    assert info["fallback_reason"]  # says why local serves
    assert response.headers["X-Model-Source"] == "local"


def test_predict_is_the_dashboards_answer(api, local_settings):
    response = api.post("/predict", json={"pokemon_a": "Snorlax", "pokemon_b": "Pikachu"})
    assert response.status_code == 200
    answer = response.json()
    assert response.headers["X-Model-Version"] == answer["model_version"] == LOCAL_VERSION
    assert response.headers["X-Model-Source"] == answer["source"] == "local"
    in_process = PredictionModel(local_settings).predict_winner("Snorlax", "Pikachu")
    assert answer["p_a_wins"] == pytest.approx(in_process.p_a_wins, abs=1e-6)
    assert answer["winner_id"] == in_process.winner_id
    assert answer["moves_a"] == list(in_process.moves_a)
    assert answer["contributions"] is None  # computed only when asked
    assert 0.0 <= answer["p_a_wins"] <= 1.0


def test_a_mirror_is_even_with_no_winner_id(api):
    response = api.post("/predict", json={"pokemon_a": "Pikachu", "pokemon_b": "pikachu"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["p_a_wins"], answer["winner"], answer["winner_id"]) == (0.5, "even", None)


def test_a_mirror_row_of_a_batch_is_even_too(api):
    body = {"rows": [{"pokemon_a": "Pikachu", "pokemon_b": "pikachu"}]}
    response = api.post("/predict/batch", json=body)
    assert response.status_code == 200, response.text
    prediction = response.json()["results"][0]["prediction"]
    assert (prediction["winner"], prediction["winner_id"]) == ("even", None)


def test_predict_with_explain_and_levels_and_moves(api):
    answer = predict(
        api, pokemon_a="pikachu", pokemon_b="Onix", level_a=80, level_b=20,
        moves_a=["Thunderbolt"], explain=True,
    )  # fmt: skip
    assert (answer["level_a"], answer["level_b"], answer["moves_a"]) == (80, 20, ["thunderbolt"])
    contributions = answer["contributions"]
    assert 1 <= len(contributions) <= 8
    assert {"feature", "value", "contribution"} <= set(contributions[0])
    sizes = [abs(c["contribution"]) for c in contributions]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize(
    ("body", "field", "advice"),
    [
        ({"pokemon_a": "Pikachu"}, "pokemon_b", "add this field"),
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": 101}, "level_a", "<= 100"),
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_b": 0}, "level_b", ">= 1"),
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": "high"}, "level_a", "whole"),
        ({"pokemon_a": "", "pokemon_b": "Onix"}, "pokemon_a", "non-empty"),
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "power": 9}, "power", "remove this field"),
        (
            {"pokemon_a": "Pikachu", "pokemon_b": "Onix", "moves_a": ["a"] * 5},
            "moves_a",
            "at most 4",
        ),
        ({"pokemon_a": 25, "pokemon_b": "Onix"}, "pokemon_a", "string"),
        # Strict: true is not level 1, 50.5 not level 50, "yes" not an explanation request.
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_a": True}, "level_a", "whole"),
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "level_b": 50.5}, "level_b", "whole"),
        ({"pokemon_a": "Pikachu", "pokemon_b": "Onix", "explain": "yes"}, "explain", "true or"),
    ],
)
def test_invalid_fields_are_422_with_the_field_and_what_to_do(api, body, field, advice):
    response = api.post("/predict", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["kind"] == "validation"
    problem = next(p for p in error["fields"] if p["field"] == field)
    assert advice in problem["what_to_do"]
    assert response.headers["X-Model-Version"] == LOCAL_VERSION


def test_unknown_names_list_suggestions(api):
    response = api.post("/predict", json={"pokemon_a": "Pikachuu", "pokemon_b": "Onix"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["kind"] == "invalid_matchup"
    assert "Closest matches: Pikachu" in error["message"]
    # The field is named, with the suggestions, and there is something to do.
    assert [p["field"] for p in error["fields"]] == ["pokemon_a"]
    assert "Closest matches: Pikachu" in error["fields"][0]["problem"]
    assert error["hint"] and error["fields"][0]["what_to_do"]
    response = api.post(
        "/predict", json={"pokemon_a": "Mew", "pokemon_b": "Onix", "moves_b": ["Thunderbolt"]}
    )
    error = response.json()["error"]
    assert response.status_code == 422 and "cannot learn" in error["message"]
    assert [p["field"] for p in error["fields"]] == ["moves_b"]


def test_batch_answers_valid_rows_and_gives_invalid_ones_their_error_and_index(api):
    rows = [
        {"pokemon_a": "Snorlax", "pokemon_b": "Pikachu"},
        {"pokemon_a": "Pikachu"},  # missing field
        {"pokemon_a": "Ditto", "pokemon_b": "Onix", "level_a": 7},  # Struggle only
        {"pokemon_a": "Pikachuu", "pokemon_b": "Onix"},  # unknown name
        {"pokemon_a": "Mew", "pokemon_b": "Pikachu", "moves_a": ["Psychic"], "level_b": 99},
        {"pokemon_a": "Mew", "pokemon_b": "Onix", "level_a": 1000},  # out of range
        "not an object",
    ]
    response = api.post("/predict/batch", json={"rows": rows})
    assert response.status_code == 200, response.text
    batch = response.json()
    assert (batch["count"], batch["succeeded"], batch["failed"]) == (7, 3, 4)
    assert [r["index"] for r in batch["results"]] == list(range(7))
    assert [r["ok"] for r in batch["results"]] == [True, False, True, False, True, False, False]
    assert batch["results"][1]["error"]["fields"][0]["field"] == "pokemon_b"
    assert "Closest matches: Pikachu" in batch["results"][3]["error"]["message"]
    assert batch["results"][5]["error"]["fields"][0]["field"] == "level_a"
    assert response.headers["X-Model-Version"] == batch["model_version"] == LOCAL_VERSION
    # Each valid row gets exactly the answer /predict gives for it (same features, same model).
    for index in (0, 2, 4):
        single = predict(api, **rows[index])
        row = batch["results"][index]["prediction"]
        assert row["p_a_wins"] == pytest.approx(single["p_a_wins"], abs=1e-6), index
        assert (row["moves_a"], row["moves_b"]) == (single["moves_a"], single["moves_b"])
        assert row["winner_id"] == single["winner_id"]


def test_every_refused_batch_row_names_its_fields_and_echoes_what_was_sent(api):
    """From a new user's trial: /predict/batch row errors had `fields: []` while the hint said
    'Fix the field named' (single /predict names pokemon_a). Each refusal names its field, on
    the right side, and carries the row's fields as sent; the counts add up."""
    rows = [
        {"pokemon_a": "Pikachuu", "pokemon_b": "Onix"},
        {"pokemon_a": "Onix", "pokemon_b": "Pikachuu"},  # the same unknown name, side B
        {"pokemon_a": "Mew", "pokemon_b": "Onix", "moves_b": ["Thunderbolt"]},
        {"pokemon_a": "Mew", "pokemon_b": "Onix"},
        {"pokemon_a": "=cmd\u0007" + "x" * 100, "pokemon_b": "Onix", "level_a": 0, "extra": 1},
        None,
    ]
    batch = api.post("/predict/batch", json={"rows": rows}).json()
    assert (batch["count"], batch["succeeded"], batch["failed"]) == (6, 1, 5)
    refused = [r for r in batch["results"] if not r["ok"]]
    assert [r["index"] for r in refused] == [0, 1, 2, 4, 5]
    named = [[f["field"] for f in r["error"]["fields"]] for r in refused]
    assert named[:3] == [["pokemon_a"], ["pokemon_b"], ["moves_b"]]
    assert set(named[3]) == {"pokemon_a", "level_a", "extra"} and named[4] == ["body"]
    assert all(r["error"]["fields"] and r["error"]["hint"] for r in refused)
    assert "Closest matches: Pikachu" in refused[1]["error"]["fields"][0]["problem"]
    assert [r["given"] for r in refused[:3]] == [rows[0], rows[1], rows[2]]
    echoed = refused[3]["given"]
    assert echoed["level_a"] == 0 and echoed["pokemon_b"] == "Onix" and "extra" not in echoed
    assert echoed["pokemon_a"].startswith("=cmd?x") and len(echoed["pokemon_a"]) == 60
    assert refused[4]["given"] is None and batch["results"][3]["given"] is None


def test_batch_of_ten_thousand_rows_and_not_one_more(api):
    rows = [{"pokemon_a": "Snorlax", "pokemon_b": "Pikachu", "level_a": 1 + i % 100}
            for i in range(10_000)]  # fmt: skip
    response = api.post("/predict/batch", json={"rows": rows}, timeout=60)
    assert response.status_code == 200
    batch = response.json()
    assert batch["succeeded"] == 10_000 and len(batch["results"]) == 10_000
    response = api.post("/predict/batch", json={"rows": rows + rows[:1]})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "rows"
    assert api.post("/predict/batch", json={"rows": []}).status_code == 422


def test_matrix(api):
    response = api.get("/matrix", params={"pokemon": "Snorlax,Pikachu", "level": 30})
    assert response.status_code == 200
    table = response.json()
    more = api.get("/matrix?pokemon=Snorlax&pokemon=Pikachu,Onix&level=30").json()
    assert table["pokemon"] == ["snorlax", "pikachu"] and more["level"] == 30
    assert more["names"] == ["Snorlax", "Pikachu", "Onix"]
    values = more["p_row_wins"]
    assert [values[i][i] for i in range(3)] == [None, None, None]
    assert values[0][1] == pytest.approx(table["p_row_wins"][0][1])
    single = predict(api, pokemon_a="Snorlax", pokemon_b="Onix", level_a=30, level_b=30)
    assert values[0][2] == pytest.approx(single["p_a_wins"], abs=1e-6)
    assert all(0 <= v <= 1 for row in values for v in row if v is not None and not math.isnan(v))
    assert more["model_version"] == LOCAL_VERSION


def test_matrix_limits(api):
    from core.pokedex import load_pokedex

    names = load_pokedex().pokemon_ids[:41]
    response = api.get("/matrix", params={"pokemon": ",".join(names)})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.pokemon"
    assert api.get("/matrix", params={"pokemon": ",".join(names[:40])}).status_code == 200
    assert api.get("/matrix", params={"pokemon": "Pikachu", "level": 50}).status_code == 422
    assert api.get("/matrix", params={"pokemon": "Pikachu,Onix", "level": 0}).status_code == 422
    assert api.get("/matrix").status_code == 422
    unknown = api.get("/matrix", params={"pokemon": "Pikachu,Onixx"})
    assert unknown.status_code == 422 and "Onix" in unknown.json()["error"]["message"]
    same = api.get("/matrix", params={"pokemon": "Pikachu,pikachu"})  # one Pokémon, two spellings
    assert same.status_code == 422
    assert same.json()["error"]["fields"][0]["field"] == "pokemon"
    assert "two different" in same.json()["error"]["message"]


def test_openapi_docs(api):
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = api.get("/openapi.json").json()
    assert {"/health", "/ready", "/model", "/predict", "/predict/batch", "/matrix"} <= set(
        schema["paths"]
    )
    assert "securitySchemes" not in schema.get("components", {})  # no keys: nothing to send
    assert api.get("/nowhere").status_code == 404
