"""Datasets: scenarios, determinism, the split by matchup, the oracle, the CLI and its errors."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.dataset import (
    SCENARIOS,
    BattleDataset,
    DatasetError,
    generate_dataset,
    split_by_matchup,
)
from core.evaluate import oracle_accuracy, oracle_probabilities

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scenario", [*SCENARIOS, "all"])
def test_scenarios_make_valid_battles(scenario):
    data = generate_dataset(3000, seed=5, scenario=scenario)
    frame = data.to_frame()
    assert len(frame) == 3000
    assert (frame["pokemon_a"] != frame["pokemon_b"]).all()
    assert set(frame["winner"].unique()) <= {0, 1}
    assert 0.3 < frame["winner"].mean() < 0.7
    if scenario == "all":
        assert set(frame["scenario"]) == set(SCENARIOS)
    else:
        assert set(frame["scenario"]) == {scenario}
    assert (frame["policy_b"] == "random").any() == (scenario in ("random_move", "all"))
    # Every move is one the Pokémon can learn (or Struggle).
    for row in frame.sample(200, random_state=0).itertuples():
        learnset = set(data.dex.get(row.pokemon_a).moves)
        assert set(row.moves_a.split(",")) <= learnset


def test_both_orders_appear():
    frame = generate_dataset(20_000, seed=1, scenario="best_move").to_frame()
    pairs = set(zip(frame["pokemon_a"], frame["pokemon_b"], strict=True))
    assert any((b, a) in pairs for a, b in list(pairs)[:2000])


def test_same_seed_same_data_other_seed_differs():
    first = generate_dataset(5000, seed=11).to_frame()
    again = generate_dataset(5000, seed=11).to_frame()
    other = generate_dataset(5000, seed=12).to_frame()
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_large_pair_path_matches_rules():
    # Above ~9k battles the generator builds per-pair tables; the labels stay balanced and valid.
    data = generate_dataset(60_000, seed=2, scenario="best_move")
    assert abs(float(data.winner.mean()) - 0.5) < 0.02


def test_level_range():
    frame = generate_dataset(2000, seed=1, level=(40, 60)).to_frame()
    assert frame["level_a"].between(40, 60).all() and frame["level_a"].nunique() > 10


def test_split_is_by_matchup():
    data = generate_dataset(20_000, seed=3)
    split = split_by_matchup(data, test_fraction=0.2, seed=3)
    keys = data.matchup_keys()
    assert not set(keys[split["train"]]) & set(keys[split["test"]])
    share = len(split["test"]) / len(data)
    assert 0.15 < share < 0.25
    assert len(split["holdout"]) == 0


def test_holdout_pokemon():
    data = generate_dataset(20_000, seed=3)
    split = split_by_matchup(data, seed=3, holdout_pokemon=("Pikachu", "Mewtwo"))
    held = {data.dex.pokemon_index["pikachu"], data.dex.pokemon_index["mewtwo"]}
    rows = split["holdout"]
    assert len(rows) > 0
    assert all(
        a in held or b in held
        for a, b in zip(data.arrays.a[rows], data.arrays.b[rows], strict=True)
    )
    others = np.concatenate([split["train"], split["test"]])
    assert not np.isin(data.arrays.a[others], list(held)).any()


def test_oracle_probability_matches_labels_and_bounds():
    data = generate_dataset(4000, seed=4, scenario="best_move")
    p = oracle_probabilities(data.take(np.arange(500)), replays=200, seed=0)
    assert p.shape == (500,) and ((0 <= p) & (p <= 1)).all()
    # Sampled labels agree with the more likely side about as often as the oracle says.
    labels = data.winner[:500]
    agreement = float(((p >= 0.5) == (labels == 1)).mean())
    oracle = float(np.maximum(p, 1 - p).mean())
    assert abs(agreement - oracle) < 0.05
    assert 0.85 < oracle_accuracy(data, sample=500, replays=200) <= 1.0


def test_one_oracle_implementation_in_core():
    """mean(max(p, 1 - p)) is written once in core, in the evaluation module."""
    hits = [
        f"{path.relative_to(ROOT).as_posix()}:{number}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "maximum(p, 1 - p)" in line or "np.maximum(p" in line
    ]
    assert len(hits) == 1 and hits[0].startswith("core/evaluate"), hits


def test_dataset_cli_and_training_share_the_oracle(tmp_path):
    """The dataset CLI reports evaluate.oracle_accuracy on the same data, seed and salt."""
    args = ("--n-battles", "2500", "--seed", "6", "--scenario", "all")
    done = run_cli(*args, "--out", str(tmp_path / "d.parquet"), "--oracle-sample", "120",
                   "--oracle-replays", "40")  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = generate_dataset(2500, seed=6, scenario="all")
    expected = oracle_accuracy(data, sample=120, replays=40, seed=6)
    assert json.loads(done.stdout)["oracle_accuracy"] == round(expected, 6)
    # Over all rows, training's call (rows given explicitly) is the same number.
    assert oracle_accuracy(data, np.arange(len(data)), sample=120, replays=40, seed=6) == expected


def test_from_frame_round_trip():
    data = generate_dataset(1000, seed=9)
    back = BattleDataset.from_frame(data.to_frame(), data.dex)
    assert np.array_equal(back.winner, data.winner)
    assert np.array_equal(back.arrays.moves_a, data.arrays.moves_a)
    assert np.array_equal(back.arrays.random_b, data.arrays.random_b)


@pytest.mark.parametrize("bad", [0, -5, 10**10, 2.5, True])
def test_bad_battle_counts(bad):
    with pytest.raises(DatasetError):
        generate_dataset(bad)


def test_bad_scenario_and_levels():
    with pytest.raises(DatasetError, match="Unknown scenario"):
        generate_dataset(10, scenario="best")
    with pytest.raises(Exception, match="out of range"):
        generate_dataset(10, level=101)
    with pytest.raises(DatasetError, match="empty"):
        generate_dataset(10, level=(60, 40))


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "core.dataset", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_cli_writes_identical_files_and_reports(tmp_path):
    first, second, third = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    args = ("--n-battles", "3000", "--seed", "3", "--scenario", "all")
    done = run_cli(*args, "--out", str(first), "--oracle-sample", "200", "--oracle-replays", "100")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 3000 and 0 < report["a_win_share"] < 1
    assert report["battles_per_s"] > 0 and report["seconds"] >= 0
    assert 0.5 < report["oracle_accuracy"] <= 1
    assert run_cli(*args, "--out", str(second)).returncode == 0
    assert sha(first) == sha(second)
    assert run_cli("--n-battles", "3000", "--seed", "4", "--out", str(third)).returncode == 0
    assert sha(first) != sha(third)
    frame = pd.read_parquet(first)
    assert list(frame.columns[:8]) == [
        "pokemon_a", "pokemon_b", "level_a", "level_b", "moves_a", "moves_b", "policy_a", "policy_b",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--n-battles", "0"), "out of range"),
        (("--n-battles", "100000000000"), "out of range"),
        (("--n-battles", "10", "--level", "0"), "out of range"),
        (("--n-battles", "10", "--level", "60-40"), "empty"),
    ],
)
def test_cli_bad_input(tmp_path, args, message):
    out = tmp_path / "x.parquet"
    done = run_cli(*args, "--out", str(out))
    assert done.returncode == 2 and message in done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert not out.exists()


def test_cli_unwritable_output_leaves_nothing(tmp_path):
    missing = tmp_path / "no-such-folder" / "x.parquet"
    done = run_cli("--n-battles", "10", "--out", str(missing))
    assert done.returncode == 2 and "does not exist" in done.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        done = run_cli("--n-battles", "10", "--out", str(locked / "x.parquet"))
        if os.geteuid() != 0:  # root may write anywhere; the folder case above covers it
            assert done.returncode == 2 and "choose another --out" in done.stderr
        assert not list(locked.glob("*.tmp"))
    finally:
        locked.chmod(0o700)
    folder_as_file = tmp_path / "folder"
    folder_as_file.mkdir()
    done = run_cli("--n-battles", "10", "--out", str(folder_as_file))
    assert done.returncode == 2 and "is a folder" in done.stderr


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_parquet_is_written_with_the_usual_mode_not_mkstemps_0600(tmp_path, umask):
    from core.dataset import write_parquet_atomically

    before = os.umask(umask)
    try:
        write_parquet_atomically(pd.DataFrame({"x": [1, 2]}), tmp_path / "d.parquet")
    finally:
        os.umask(before)
    assert (tmp_path / "d.parquet").stat().st_mode & 0o777 == 0o644 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]
