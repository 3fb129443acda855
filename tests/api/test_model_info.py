"""GET /model's answer in process (api.service over a real PredictionModel): one name per figure
and what the figures were measured on, from a real training in a real embedded store."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from api.model_info import FROM_METADATA, FROM_REPORT, TRAINING_REPORT
from api.service import PredictionService
from core.config import PROJECT_ROOT, Settings
from core.predict import PredictionModel
from core.train import TrainConfig, TrainResult, train_model
from tests.stores import embedded_settings
from tests.tiny_models import TINY_TRAINING

pytestmark = [pytest.mark.slow]
SEED = 11


@pytest.fixture(scope="module")
def trained(tmp_path_factory, store_template) -> tuple[Settings, TrainResult]:
    """v1 trained for real (with a small oracle sample: excess_error is measured), Production,
    exported to models/."""
    settings = embedded_settings(tmp_path_factory.mktemp("model-info"), store_template)
    config = {**TINY_TRAINING, "oracle_sample": 100, "oracle_replays": 20}
    result = train_model(
        TrainConfig(**config, seed=SEED, promotion_policy="threshold", threshold=0.0), settings
    )
    assert result.promoted and result.version == 1
    return settings, result


def test_model_gives_each_figure_once_and_what_it_was_measured_on(trained):
    """From a new user's trial: /model gave the same figure as `excess_error` and `oracle_gap`
    and did not say what its metrics were measured on."""
    from core.evaluate.stored import HELD_OUT_TEST, stored_report

    settings, result = trained
    logged = result.metrics  # what MLflow logged
    assert logged["oracle_gap"] == logged["excess_error"]  # training logs one figure twice
    info = PredictionService(PredictionModel(settings)).model_info()
    assert (info["source"], info["model_version"]) == ("registry", "1")
    metrics = info["metrics"]
    assert set(metrics) == set(logged) - {"oracle_gap"}
    assert metrics["excess_error"] == pytest.approx(logged["excess_error"])
    assert metrics["test_accuracy"] == pytest.approx(logged["test_accuracy"])
    report = stored_report(1, settings)
    assert info["measured_on"] == {**report["measured_on"], "recorded_in": FROM_REPORT}
    on = info["measured_on"]
    assert (on["kind"], on["seed"], on["heldout"]) == (HELD_OUT_TEST, SEED, True)
    assert 0 < on["battles"] < TINY_TRAINING["n_battles"]


def test_the_local_fallback_says_it_from_the_metadata(trained):
    settings, result = trained
    local = replace(settings, use_registry=False)
    info = PredictionService(PredictionModel(local)).model_info()
    assert (info["source"], info["model_version"]) == ("local", "1")
    assert "oracle_gap" not in info["metrics"] and "excess_error" in info["metrics"]
    on = info["measured_on"]
    assert (on["kind"], on["seed"], on["battles"]) == ("held-out test", SEED, None)
    assert on["recorded_in"] == FROM_METADATA and on["level"] == "50"


def test_the_readme_names_every_metric_of_model_once(trained):
    """The README's API section has one table of /model's metric names; each name is there."""
    from core.evaluate.report import REPORT_FILE
    from core.evaluate.stored import EVALUATION_PATH

    assert TRAINING_REPORT == f"{EVALUATION_PATH}/{REPORT_FILE}"
    settings, _ = trained
    metrics = PredictionService(PredictionModel(settings)).model_info()["metrics"]
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The prediction API", 1)[1].split("\n## ", 1)[0]
    table = [  # the metrics table's rows (the endpoints table's start with a method)
        line
        for line in section.splitlines()
        if line.startswith("| `") and not line.startswith(("| `GET", "| `POST"))
    ]
    named = re.findall(r"`([a-z_0-9]+)`", "\n".join(line.split(" | ")[0] for line in table))
    assert sorted(named) == sorted(set(named))  # each name once
    assert set(metrics) <= set(named) and "oracle_gap" not in named
