"""Fixtures of the reliability suite and the counts each guarantee reports.

Each test records what it measured (trials, errors, versions, rounds, payloads tried, payloads
that ran) with the `counts` fixture. They travel in the test's report (as a user property, so
they reach the main process from an xdist worker too), are printed at the end of the run and
stored in pytest's cache (`.pytest_cache`, under the key `reliability/last_counts`) by
tests/conftest.py, from where RELIABILITY.md is updated by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# The user property that carries a test's counts; tests/conftest.py collects it.
COUNTS_PROPERTY = "reliability_counts"


@pytest.fixture
def counts(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """Record this test's measured counts: counts(trials=20, errors=0, ...)."""
    name = request.node.name  # test_x[param]: the node id after "::" (no classes here)
    entry: dict[str, Any] = {}
    started = time.perf_counter()

    def record(**values: Any) -> None:
        entry.update(values)

    yield record
    if entry:
        entry["seconds"] = round(time.perf_counter() - started, 1)
        request.node.user_properties.append((COUNTS_PROPERTY, {"name": name, **entry}))


@pytest.fixture(scope="session")
def local_model_dir(tmp_path_factory: pytest.TempPathFactory):
    """A verified local fallback model (models/ format) from a tiny real training."""
    from core.train import TrainConfig, train_model
    from tests.stores import embedded_settings
    from tests.tiny_models import TINY_TRAINING

    settings = embedded_settings(tmp_path_factory.mktemp("local-model"))  # no store is opened
    train_model(TrainConfig(use_mlflow=False, **TINY_TRAINING), settings)
    return settings.models_dir
