"""Training rows: one weighted row per (configuration, outcome), plus the mirrors serving uses."""

import numpy as np

from core.battle import simulate_arrays
from core.dataset import generate_dataset
from core.evaluate import FeatureRows
from core.features import FEATURE_COLUMNS, build_features
from core.train.rows import weighted_rows


def test_weighted_rows_keep_every_battle_once_and_add_mirrors_of_mixed_policies():
    configs = generate_dataset(2000, seed=3)  # every scenario: B random in a third
    replays = 6  # each configuration fought six times, as a shared dataset holds them
    index = np.repeat(np.arange(len(configs)), replays)
    winner = simulate_arrays(configs.dex, configs.arrays, 9, index=index)
    features = FeatureRows(build_features(configs.arrays, configs.dex), index)
    battles = np.arange(0, len(index), 2)
    x, y, weight = weighted_rows(features, winner, battles)
    assert list(x.columns) == FEATURE_COLUMNS and len(x) < len(battles)
    original = (x["a_random_policy"] == 0).to_numpy()  # the mirrors are the rows with A random
    # The original rows carry exactly the battles: their wins and their losses.
    assert weight[original].sum() == len(battles)
    assert weight[original & (y == 1)].sum() == winner[battles].sum()
    # Each mirror (A random) carries its configuration's battles with the labels swapped.
    b_random = configs.arrays.random_b[index[battles]]
    assert weight[~original].sum() == b_random.sum()
    assert weight[~original & (y == 1)].sum() == (1 - winner[battles][b_random]).sum()


def test_without_shared_configurations_each_battle_is_one_row():
    data = generate_dataset(500, seed=4, level=(30, 60))
    features = FeatureRows.of(data)
    battles = np.arange(len(data))
    x, y, weight = weighted_rows(features, data.winner, battles)
    original = (x["a_random_policy"] == 0).to_numpy()
    assert weight[original].sum() == len(data) and set(np.unique(weight)) == {1.0}
    assert (~original).sum() == data.arrays.random_b.sum()
