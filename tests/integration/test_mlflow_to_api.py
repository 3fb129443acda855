"""The seed guide's Test 2: `pytest tests/integration/test_mlflow_to_api.py::test_e2e_mlflow_to_api -v`.

End to end, as the guide lists it: 1. training and registration (the real pipeline, promoted by
its threshold), 2. loading from the API (a real uvicorn process on the same SQLite store: it
resolves the Production alias to that version), 3. a working prediction that names the version.
"""

from __future__ import annotations

import pytest

from core.train import TrainConfig, train_model
from tests.api.harness import running_api, wait_for, wait_ready
from tests.tiny_models import TINY_TRAINING

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_e2e_mlflow_to_api(settings_factory):
    settings = settings_factory(with_store=True, promotion_threshold=0.5)
    result = train_model(TrainConfig(seed=3, export_local=False, **TINY_TRAINING), settings)
    assert result.promoted and result.version == 1
    assert not settings.models_dir.exists() or not any(settings.models_dir.iterdir())

    with running_api(settings) as api:
        wait_ready(api, timeout=60)

        def from_registry() -> dict | None:
            answer = api.post("/predict", json={"pokemon_a": "Mewtwo", "pokemon_b": "Magikarp"})
            assert answer.status_code == 200, answer.text  # nothing else can serve: no local files
            body = answer.json()
            return body if body["source"] == "registry" else None

        answer = wait_for(from_registry, 30, "the registry's Production version answers")
        assert answer["model_version"] == "1" and answer["model_name"] == settings.model_name
        assert answer["winner_id"] in ("mewtwo", "magikarp") and 0 <= answer["p_a_wins"] <= 1
        model = api.get("/model").json()
        assert (model["model_version"], model["source"]) == ("1", "registry")
        assert model["metrics"]["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])
