"""Served probabilities are antisymmetric by construction (issue 13, Build 1 and its acceptance).

q(A, B) + q(B, A) = 1 within 1e-9, and a mirror match is exactly ½, through every public entry
point: predict_winner, predict_matrix, the batch, the API (a real process), and the evaluation
(classification metrics' probabilities and the matchup calibration). Checked over all ordered
pairs of a 12-Pokémon group and 200 random pairs, with real models trained on real battles
(XGBoost and random forest) — whose own f(A, B) + f(B, A) is NOT 1, which the last test shows.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.artifacts import ModelBundle
from core.battle import BattleArrays
from core.dataset import generate_dataset, split_by_matchup
from core.evaluate import FeatureRows, matchup_calibration, predict_probability
from core.evaluate.matchups import pair_arrays
from core.features import FEATURE_COLUMNS, build_features, feature_matrix
from core.pokedex import load_pokedex
from core.predict.answers import predict_matrix, predict_winner
from core.predict.batch import MatchupInput, predict_batch
from core.predict.scoring import RowScorer
from core.predict.sources import ServedModel
from core.train.pipeline import make_estimator
from core.train.rows import weighted_rows

TOLERANCE = 1e-9
GROUP = [
    "Pikachu", "Charizard", "Venusaur", "Blastoise", "Gengar", "Snorlax",
    "Dragonite", "Mewtwo", "Magikarp", "Ditto", "Raichu-Alola", "Chansey",
]  # fmt: skip


@pytest.fixture(scope="module")
def dex():
    return load_pokedex()


@pytest.fixture(scope="module")
def data():
    return generate_dataset(20_000, seed=5)


@pytest.fixture(scope="module", params=["xgboost", "random_forest"])
def served(request, data) -> ServedModel:
    """A real model trained the pipeline's way (weighted configuration rows) on real battles."""
    split = split_by_matchup(data, 0.2, seed=5)
    x, y, weight = weighted_rows(FeatureRows.of(data), data.winner, split["train"])
    params = {"n_estimators": 30, "max_depth": 5}
    estimator = make_estimator(request.param, params, seed=5).fit(x, y, sample_weight=weight)
    estimator.set_params(n_jobs=1)  # one-row answers: no thread pool per call
    bundle = ModelBundle(estimator, request.param, list(FEATURE_COLUMNS), {"roster": "letsgo"})
    return ServedModel(bundle, "local", "battle_winner_predictor", "1", time.time())


@pytest.fixture(scope="module")
def pairs(dex) -> list[tuple[str, str]]:
    """All ordered pairs of the group, then 200 random pairs of the roster (A != B)."""
    ordered = [(a, b) for a in GROUP for b in GROUP if a != b]
    rng = np.random.default_rng(13)
    ids = dex.pokemon_ids
    picks = rng.choice(len(ids), size=(400, 2))
    extra = [(ids[a], ids[b]) for a, b in picks if a != b][:200]
    assert len(extra) == 200
    return ordered + extra


def test_predict_winner_is_antisymmetric_and_a_mirror_is_one_half(served, pairs):
    worst = 0.0
    for a, b in pairs:
        forward = predict_winner(served, a, b).p_a_wins
        backward = predict_winner(served, b, a).p_a_wins
        worst = max(worst, abs(forward + backward - 1.0))
    assert worst <= TOLERANCE
    for name in GROUP[:4]:
        assert predict_winner(served, name, name).p_a_wins == 0.5
    # Levels and moves given: still antisymmetric.
    one = predict_winner(served, "Pikachu", "Onix", 40, 60, ["thunderbolt"], ["rockslide"])
    two = predict_winner(served, "Onix", "Pikachu", 60, 40, ["rockslide"], ["thunderbolt"])
    assert abs(one.p_a_wins + two.p_a_wins - 1.0) <= TOLERANCE


def test_predict_matrix_is_antisymmetric(served):
    table = predict_matrix(served, GROUP).to_numpy(dtype=float)
    off = ~np.eye(len(GROUP), dtype=bool)
    assert np.nanmax(np.abs(table + table.T - 1.0)[off]) <= TOLERANCE
    assert not np.isnan(table[off]).any()


def test_batch_is_antisymmetric_and_answers_a_mirror_with_one_half(served, pairs):
    rows = [MatchupInput(i, a, b) for i, (a, b) in enumerate(pairs)]
    rows += [MatchupInput(len(pairs) + i, b, a) for i, (a, b) in enumerate(pairs)]
    rows.append(MatchupInput(2 * len(pairs), "Snorlax", "Snorlax"))
    result = predict_batch(served, rows)
    assert not result.errors
    p = result.answers["p_a_wins"].to_numpy(dtype=float)
    n = len(pairs)
    assert np.abs(p[:n] + p[n : 2 * n] - 1.0).max() <= TOLERANCE
    assert p[-1] == 0.5


def _swapped(arrays: BattleArrays) -> BattleArrays:
    return BattleArrays(arrays.b, arrays.a, arrays.level_b, arrays.level_a, arrays.moves_b,
                        arrays.moves_a, arrays.random_b, arrays.random_a)  # fmt: skip


def test_evaluation_probabilities_are_antisymmetric(served, data, dex):
    # Every scenario (B random included), both orders, as the evaluation scores test battles.
    arrays = data.arrays.take(np.arange(3000))
    forward = predict_probability(served.bundle.estimator, build_features(arrays, dex))
    backward = predict_probability(served.bundle, build_features(_swapped(arrays), dex))
    assert np.abs(forward + backward - 1.0).max() <= TOLERANCE
    mirror = build_features(pair_arrays(dex, np.array([7]), np.array([7])), dex)
    assert predict_probability(served.bundle, mirror)[0] == 0.5
    pair_ids = np.array([[dex.pokemon_index["snorlax"], dex.pokemon_index["gengar"]]])
    calibration = matchup_calibration(served.bundle, dex, pair_ids, replays=50, seed=1)
    assert calibration.antisymmetry_max <= TOLERANCE


def test_the_models_own_probability_is_not_antisymmetric(served, data, dex):
    """Why the construction is needed: the raw f(A,B) + f(B,A) misses 1 (this test can fail)."""
    arrays = data.arrays.take(np.arange(3000))
    scorer = RowScorer(served.bundle)
    raw = scorer.model_probability(feature_matrix(arrays, dex))
    raw_back = scorer.model_probability(feature_matrix(_swapped(arrays), dex))
    assert np.abs(raw + raw_back - 1.0).max() > 1e-3


@pytest.mark.slow
@pytest.mark.server
def test_the_api_is_antisymmetric(tmp_path, pairs):
    """A real `python -m api` process: /predict/batch both ways, /matrix, and /predict's mirror."""
    from core.config import Settings
    from tests.api.harness import install_local_model, running_api, wait_ready
    from tests.servers import free_port

    settings = Settings(
        tracking_uri=f"http://127.0.0.1:{free_port()}", use_registry=False,
        models_dir=tmp_path / "models", artifacts_dir=tmp_path / "mlartifacts",
    )  # fmt: skip
    install_local_model(settings, tmp_path, version="1")
    rows = [{"pokemon_a": a, "pokemon_b": b} for a, b in pairs]
    rows += [{"pokemon_a": b, "pokemon_b": a} for a, b in pairs]
    with running_api(settings) as api:
        wait_ready(api)
        batch = api.post("/predict/batch", json={"rows": rows}, timeout=60).json()
        p = np.array([r["prediction"]["p_a_wins"] for r in batch["results"]])
        matrix = api.get("/matrix", params={"pokemon": ",".join(GROUP)}).json()["p_row_wins"]
        mirror = api.post("/predict", json={"pokemon_a": "Mew", "pokemon_b": "Mew"}).json()
    n = len(pairs)
    assert np.abs(p[:n] + p[n:] - 1.0).max() <= TOLERANCE
    table = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    off = ~np.eye(len(GROUP), dtype=bool)
    assert np.abs(table + table.T - 1.0)[off].max() <= TOLERANCE
    assert mirror["p_a_wins"] == 0.5
