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
