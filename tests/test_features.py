"""One feature function for training and serving: columns, values and agreement."""

import numpy as np
import pandas as pd
import pytest

from core.battle import resolve_matchup
from core.dataset import generate_dataset
from core.features import FEATURE_COLUMNS, build_features
from core.pokedex import load_pokedex


@pytest.fixture(scope="module")
def dex():
    return load_pokedex()


def test_columns_and_dtype(dex):
    data = generate_dataset(2000, seed=1)
    features = build_features(data.arrays, dex)
    assert list(features.columns) == FEATURE_COLUMNS
    assert len(FEATURE_COLUMNS) == len(set(FEATURE_COLUMNS))
    assert (features.dtypes == np.float32).all()
    assert np.isfinite(features.to_numpy()).all()
    assert not any("id" == c.split("_")[-1] for c in FEATURE_COLUMNS)  # no Pokémon ids as numbers


def test_frame_and_arrays_give_the_same_features(dex):
    data = generate_dataset(1500, seed=2)
    from_arrays = build_features(data.arrays, dex)
    from_frame = build_features(data.to_frame(), dex)
    pd.testing.assert_frame_equal(from_arrays, from_frame)


def test_chunked_features_equal_one_pass(dex):
    data = generate_dataset(3000, seed=3)
    pd.testing.assert_frame_equal(
        build_features(data.arrays, dex, chunk=700), build_features(data.arrays, dex)
    )


def test_values_for_a_known_matchup(dex):
    frame = resolve_matchup("Pikachu", "Gyarados", moves_a=["thunderbolt"], dex=dex).to_frame()
    row = build_features(frame, dex).iloc[0]
    assert row["a_level"] == 50 and row["a_stat_hp"] == 110 and row["a_stat_spe"] == 110
    assert row["a_type_electric"] == 1 and row["a_type_water"] == 0
    assert row["b_type_water"] == 1 and row["b_type_flying"] == 1
    assert (
        row["a_move_power"] == 90 and row["a_move_effectiveness"] == 4 and row["a_move_stab"] == 1
    )
    assert row["a_move_physical"] == 0 and row["a_moves_known"] == 1
    assert row["a_moves_first"] == 1.0  # Pikachu (110) outspeeds Gyarados (101)
    # 148 damage at the top roll against Gyarados's 170 HP: two hits at any roll.
    assert row["a_hits_to_ko_high_roll"] == 2 and row["a_hits_to_ko_low_roll"] == 2
    assert row["turns_to_ko_difference"] == pytest.approx(
        row["b_turns_to_ko"] - row["a_turns_to_ko"]
    )


def test_swapping_sides_mirrors_features(dex):
    ab = resolve_matchup("Pikachu", "Onix", dex=dex)
    ba = resolve_matchup("Onix", "Pikachu", moves_a=ab.moves_b, moves_b=ab.moves_a, dex=dex)
    fa = build_features(ab.to_frame(), dex).iloc[0]
    fb = build_features(ba.to_frame(), dex).iloc[0]
    for name in ("stat_hp", "move_power", "turns_to_ko", "expected_damage_share"):
        assert fa[f"a_{name}"] == fb[f"b_{name}"]
    assert fa["a_moves_first"] == 1 - fb["a_moves_first"]


def test_features_per_configuration_equal_features_per_battle(dex):
    data = generate_dataset(20_000, seed=4)  # large enough for shared pair configurations
    assert data.configs is not None and data.config_index is not None
    per_config = build_features(data.configs, dex).iloc[data.config_index]
    pd.testing.assert_frame_equal(
        per_config.reset_index(drop=True), build_features(data.arrays, dex)
    )


def _swapped(arrays):
    from core.battle import BattleArrays

    return BattleArrays(arrays.b, arrays.a, arrays.level_b, arrays.level_a, arrays.moves_b,
                        arrays.moves_a, arrays.random_b, arrays.random_a)  # fmt: skip


def test_mirror_rows_are_exactly_the_features_of_the_swapped_battles(dex):
    from core.features import feature_matrix, mirror_rows

    data = generate_dataset(6000, seed=8, level=(20, 80))  # every scenario, uneven levels
    rows = feature_matrix(data.arrays, dex)
    swapped = feature_matrix(_swapped(data.arrays), dex)
    np.testing.assert_array_equal(mirror_rows(rows), swapped)
    np.testing.assert_array_equal(mirror_rows(mirror_rows(rows)), rows)  # an involution


def test_mirror_rows_refuses_rows_of_another_width():
    from core.features import FeatureError, mirror_rows

    with pytest.raises(FeatureError, match="feature_matrix"):
        mirror_rows(np.zeros((2, len(FEATURE_COLUMNS) - 1), np.float32))


def test_analytic_race_on_hand_checked_matchups(dex):
    # Pikachu's Thunderbolt: 2 hits at any roll on Gyarados (170 HP), never 1 without a crit.
    frame = resolve_matchup("Pikachu", "Gyarados", moves_a=["thunderbolt"], dex=dex).to_frame()
    row = build_features(frame, dex).iloc[0]
    assert row["a_ko_within_2"] == 1.0
    assert 0.0 < row["a_ko_within_1"] < 0.05  # only a crit (1/24) can do it in one
    assert row["a_analytic_win"] + row["b_analytic_win"] == pytest.approx(1.0, abs=1e-6)
    sure = build_features(resolve_matchup("Mewtwo", "Magikarp", dex=dex).to_frame(), dex)
    assert sure["a_analytic_win"].iloc[0] >= 0.99 and sure["analytic_edge"].iloc[0] >= 0.98
    mirror = build_features(resolve_matchup("Snorlax", "Snorlax", dex=dex).to_frame(), dex)
    assert mirror["a_analytic_win"].iloc[0] == mirror["b_analytic_win"].iloc[0]
    assert mirror["analytic_edge"].iloc[0] == 0.0


def test_analytic_win_probability_is_within_a_point_of_the_simulator(dex):
    """150 random level-50 pairs at default movesets vs 2,000 seeded replays each."""
    from core.battle import simulate_arrays
    from core.evaluate.matchups import pair_arrays
    from core.features import feature_matrix

    rng = np.random.default_rng(21)
    size = len(dex.pokemon_ids)
    a, b = rng.integers(0, size, 300), rng.integers(0, size, 300)
    keep = np.flatnonzero(a != b)[:150]
    arrays = pair_arrays(dex, a[keep], b[keep])
    q = feature_matrix(arrays, dex)[:, FEATURE_COLUMNS.index("a_analytic_win")]
    replays = 2000
    index = np.repeat(np.arange(len(keep)), replays)
    p = simulate_arrays(dex, arrays, 3, index=index).reshape(len(keep), replays).mean(axis=1)
    error = np.abs(q - p)
    assert error.mean() <= 0.012  # ~0.009 of it is the replays' own noise
    assert np.quantile(error, 0.9) <= 0.03


def test_batches_built_on_threads_equal_one_batch_at_a_time(monkeypatch):
    """Several batches at once (FEATURE_THREADS) give the same values, bit for bit."""
    import core.features as features
    from core.dataset import generate_dataset
    from core.pokedex import load_pokedex

    data = generate_dataset(6000, 11, "all", 50, "letsgo")
    dex = load_pokedex()
    monkeypatch.setattr(features, "FEATURE_THREADS", 1)
    one = features.feature_matrix(data.configs, dex, chunk=512)
    monkeypatch.setattr(features, "FEATURE_THREADS", 2)
    threaded = features.feature_matrix(data.configs, dex, chunk=512)
    assert len(one) > 4 * 512  # several batches, so the pool is used
    np.testing.assert_array_equal(one, threaded)
