"""Battle datasets: scenarios, seeded random matchups, levels, the split by matchup.

Scenarios (as in the original project): `best_move` (both sides use their default moveset and
play their best move), `random_move` (B plays a random move of its default moveset each turn),
`all_combinations` (random movesets from the learnset on both sides, best move played), and `all`
(an even mix). The split is by matchup: the unordered pair {A, B} is in train or test, never both.
The oracle (the best accuracy any model can reach on sampled labels) lives in core/evaluate.py.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from core.battle import (
    MAX_MOVES,
    RULES_VERSION,
    BattleArrays,
    arrays_from_frame,
    check_level,
    default_moves_indices,
    simulate_arrays,
)
from core.errors import PredictionDexError
from core.pokedex import Pokedex, PokedexError, load_pokedex

Scenario = Literal["best_move", "random_move", "all_combinations", "all"]
SCENARIOS: tuple[str, ...] = ("best_move", "random_move", "all_combinations")
SCENARIO_CHOICES: tuple[str, ...] = (*SCENARIOS, "all")
MAX_DATASET_BATTLES = 10_000_000  # ~1.5 GB of features at most; larger sets bring nothing here
DEFAULT_TEST_FRACTION = 0.2


class DatasetError(PredictionDexError, ValueError):
    """Invalid dataset parameters; the message says what to do."""


@dataclass
class BattleDataset:
    """Simulated battles: simulator arrays, labels (1 = A wins) and each row's scenario."""

    dex: Pokedex
    arrays: BattleArrays
    winner: np.ndarray
    scenario: np.ndarray  # index into SCENARIOS
    seed: int
    # The distinct configurations and each battle's row in them, when the generator knows them
    # (many battles share a pair's configuration): features are then computed once per row.
    configs: BattleArrays | None = None
    config_index: np.ndarray | None = None
    # The battle rules the labels were simulated with (log it with the dataset's parameters).
    rules_version: str = RULES_VERSION

    def __len__(self) -> int:
        return len(self.winner)

    def take(self, rows: np.ndarray) -> BattleDataset:
        """A subset of the battles."""
        return BattleDataset(
            self.dex,
            self.arrays.take(rows),
            self.winner[rows],
            self.scenario[rows],
            self.seed,
            self.configs,
            None if self.config_index is None else self.config_index[rows],
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per battle: the configuration table of CONTRACTS.md plus `winner`."""
        ids = np.array(self.dex.pokemon_ids, dtype=object)
        return pd.DataFrame(
            {
                "pokemon_a": ids[self.arrays.a],
                "pokemon_b": ids[self.arrays.b],
                "level_a": self.arrays.level_a.astype(np.int16),
                "level_b": self.arrays.level_b.astype(np.int16),
                "moves_a": _moves_text(self.dex, self.arrays.moves_a),
                "moves_b": _moves_text(self.dex, self.arrays.moves_b),
                "policy_a": np.where(self.arrays.random_a, "random", "best"),
                "policy_b": np.where(self.arrays.random_b, "random", "best"),
                "scenario": np.array(SCENARIOS, dtype=object)[self.scenario],
                "winner": self.winner.astype(np.int8),
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, dex: Pokedex | None = None) -> BattleDataset:
        """Rebuild from a table written by `to_frame` (e.g. a parquet file)."""
        dex = dex or load_pokedex()
        scenario = frame["scenario"].map({s: i for i, s in enumerate(SCENARIOS)})
        return cls(
            dex=dex,
            arrays=arrays_from_frame(frame, dex),
            winner=frame["winner"].to_numpy(np.uint8),
            scenario=scenario.to_numpy(np.int8),
            seed=-1,
        )

    def matchup_keys(self) -> np.ndarray:
        """The unordered pair {A, B} of each battle as one integer."""
        size = len(self.dex.pokemon_ids)
        low = np.minimum(self.arrays.a, self.arrays.b).astype(np.int64)
        high = np.maximum(self.arrays.a, self.arrays.b).astype(np.int64)
        return low * size + high


def _moves_text(dex: Pokedex, moves: np.ndarray) -> np.ndarray:
    unique, inverse = np.unique(moves, axis=0, return_inverse=True)
    texts = np.array(
        [",".join(dex.move_ids[i] for i in row if i >= 0) for row in unique], dtype=object
    )
    return texts[inverse.reshape(-1)]


def check_battle_count(n_battles: object) -> int:
    """n_battles as int in 1..MAX_DATASET_BATTLES, or a DatasetError saying what to use."""
    if isinstance(n_battles, bool) or not isinstance(n_battles, (int, np.integer)):
        raise DatasetError(f"n_battles must be a whole number from 1 to {MAX_DATASET_BATTLES:,}.")
    if not 1 <= n_battles <= MAX_DATASET_BATTLES:
        raise DatasetError(
            f"n_battles={n_battles:,} is out of range: use 1 to {MAX_DATASET_BATTLES:,}"
            " (about 100,000 is plenty for a good model)."
        )
    return int(n_battles)


@dataclass(frozen=True)
class LevelRange:
    """The levels of a dataset: one level (`low == high`) or an inclusive range, each 1..100.

    Build it with `LevelRange.of(50)`, `LevelRange.of((40, 60))` or `LevelRange.of("40-60")`;
    a bad level raises PokedexError (out of 1..100) and an empty range DatasetError.
    """

    low: int
    high: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", check_level(self.low))
        object.__setattr__(self, "high", check_level(self.high))
        if self.low > self.high:
            raise DatasetError(
                f"Level range {self.low}-{self.high} is empty: give the lower level first."
            )

    @classmethod
    def of(cls, value: LevelRange | int | str | tuple[int, int] | list[int]) -> LevelRange:
        """A LevelRange from a level, a (low, high) pair or text such as '50' or '40-60'."""
        if isinstance(value, LevelRange):
            return value
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise DatasetError("A level range is two levels (low, high), e.g. 40-60.")
            return cls(value[0], value[1])
        if isinstance(value, str) and "-" in value.strip().strip("-"):
            low, high = value.split("-", 1)
            return cls(low, high)  # type: ignore[arg-type]  # check_level converts text
        return cls(value, value)  # type: ignore[arg-type]

    @property
    def single(self) -> bool:
        """True when the range is one level."""
        return self.low == self.high

    def __str__(self) -> str:
        return str(self.low) if self.single else f"{self.low}-{self.high}"


def _random_moves(dex: Pokedex, attacker: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 4) up to four distinct learnset moves per row, uniformly at random, -1 for none."""
    known = (dex.learnset_matrix >= 0).sum(axis=1)[attacker]
    draws = rng.random((MAX_MOVES, len(attacker)))
    slots = np.full((len(attacker), MAX_MOVES), -1, dtype=np.int64)
    # Sampling without replacement, one slot at a time: the j-th pick is uniform over the
    # (known - j) positions left, then shifted past the positions already taken (kept sorted).
    for j in range(MAX_MOVES):
        left = known - j
        pick = np.floor(draws[j] * np.maximum(left, 1)).astype(np.int64)
        taken = np.sort(slots[:, :j], axis=1)
        for column in range(j):
            pick += pick >= taken[:, column]
        slots[:, j] = np.where(left > 0, pick, -1)
    moves = np.where(
        slots >= 0, np.take_along_axis(dex.learnset_matrix[attacker], np.maximum(slots, 0), 1), -1
    )
    # Known moves first (empty slots last), in learnset order: a moveset is a set.
    return -np.sort(-moves, axis=1).astype(np.int32)


def generate_dataset(
    n_battles: int,
    seed: int = 0,
    scenario: Scenario = "all",
    level: LevelRange | int | tuple[int, int] = 50,
    roster: str = "letsgo",
) -> BattleDataset:
    """Simulate n_battles random matchups (A != B, both orders) of a scenario, seeded."""
    n = check_battle_count(n_battles)
    if scenario not in SCENARIO_CHOICES:
        raise DatasetError(
            f"Unknown scenario {scenario!r}: use one of {', '.join(SCENARIO_CHOICES)}."
        )
    levels = LevelRange.of(level)
    low, high = levels.low, levels.high
    dex = load_pokedex(roster)
    rng = np.random.default_rng(seed)
    size = len(dex.pokemon_ids)
    a = rng.integers(0, size, n, dtype=np.int32)
    b = (a + rng.integers(1, size, n, dtype=np.int32)) % size  # uniform over B != A
    level_a = rng.integers(low, high + 1, n, dtype=np.int32)
    level_b = rng.integers(low, high + 1, n, dtype=np.int32)
    if scenario == "all":
        kind = rng.integers(0, len(SCENARIOS), n).astype(np.int8)
    else:
        kind = np.full(n, SCENARIOS.index(scenario), dtype=np.int8)
    combos = np.flatnonzero(kind == SCENARIOS.index("all_combinations"))
    random_b = kind == SCENARIOS.index("random_move")
    if low == high and n >= size * size // 4:
        # One level: a default-moveset battle is fully set by its ordered pair, so the
        # configurations are the pairs (and their random-policy twins) plus one row per combo.
        configs, index = _pair_configurations(dex, low, a, b, random_b)
    else:
        moves_a = default_moves_indices(dex, a, b, level_a, level_b)
        moves_b = default_moves_indices(dex, b, a, level_b, level_a)
        no_random = np.zeros(n, dtype=bool)
        configs = BattleArrays(a, b, level_a, level_b, moves_a, moves_b, no_random, random_b)
        index = np.arange(n)
    if combos.size:
        combo_rows = BattleArrays(
            a=a[combos],
            b=b[combos],
            level_a=level_a[combos],
            level_b=level_b[combos],
            moves_a=_random_moves(dex, a[combos], rng),
            moves_b=_random_moves(dex, b[combos], rng),
            random_a=np.zeros(combos.size, dtype=bool),
            random_b=np.zeros(combos.size, dtype=bool),
        )
        index[combos] = len(configs) + np.arange(combos.size)
        configs = concat_arrays([configs, combo_rows])
    winner = simulate_arrays(dex, configs, rng, index=index)
    arrays = configs.take(index)
    return BattleDataset(dex, arrays, winner, kind, seed, configs=configs, config_index=index)


def concat_arrays(parts: list[BattleArrays]) -> BattleArrays:
    """Stack several batches of configurations."""
    names = parts[0].__dict__
    return BattleArrays(**{k: np.concatenate([p.__dict__[k] for p in parts]) for k in names})


def _pair_configurations(
    dex: Pokedex, level: int, a: np.ndarray, b: np.ndarray, random_b: np.ndarray
) -> tuple[BattleArrays, np.ndarray]:
    size = len(dex.pokemon_ids)
    pair_a = np.repeat(np.arange(size, dtype=np.int32), size)
    pair_b = np.tile(np.arange(size, dtype=np.int32), size)
    levels = np.full(size * size, level, dtype=np.int32)
    moves_a = default_moves_indices(dex, pair_a, pair_b, levels, levels)
    moves_b = default_moves_indices(dex, pair_b, pair_a, levels, levels)
    no_random = np.zeros(size * size, dtype=bool)
    best = BattleArrays(pair_a, pair_b, levels, levels, moves_a, moves_b, no_random, no_random)
    random = BattleArrays(pair_a, pair_b, levels, levels, moves_a, moves_b, no_random, ~no_random)
    index = a.astype(np.int64) * size + b + np.where(random_b, size * size, 0)
    return concat_arrays([best, random]), index


def split_by_matchup(
    data: BattleDataset,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    holdout_pokemon: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Row indices of train / test (by unordered matchup) and holdout (battles of held-out Pokémon)."""
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction={test_fraction} must be strictly between 0 and 1.")
    size = len(data.dex.pokemon_ids)
    draw = np.random.default_rng([seed, 7919]).random(size * size)
    in_test = draw[data.matchup_keys()] < test_fraction
    held = np.zeros(len(data), dtype=bool)
    if holdout_pokemon:
        index = [data.dex.pokemon_index[data.dex.resolve_pokemon(p).id] for p in holdout_pokemon]
        held = np.isin(data.arrays.a, index) | np.isin(data.arrays.b, index)
    return {
        "train": np.flatnonzero(~in_test & ~held),
        "test": np.flatnonzero(in_test & ~held),
        "holdout": np.flatnonzero(held),
    }


def write_parquet_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write a parquet file through a temp file and a rename: no partial file on failure."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a folder: give a file path ending in .parquet.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DatasetError(f"Folder {folder} does not exist: create it or choose another --out.")
    temp_name = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        # O_EXCL like mkstemp, but mode 0o644 & ~umask as any written file (mkstemp gives 0o600).
        os.close(os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError as error:
        raise DatasetError(
            f"Cannot write in {folder} ({error.strerror}): choose another --out."
        ) from None
    try:
        frame.to_parquet(temp_name, index=False, compression="zstd")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def parse_level(text: str) -> LevelRange:
    """A CLI level: '50' or a range '40-60', each checked to be within 1..100."""
    return LevelRange.of(text)


def main(argv: list[str] | None = None) -> int:
    """CLI: simulate a dataset, write it as parquet and print one JSON line of figures."""
    parser = argparse.ArgumentParser(prog="python -m core.dataset")
    parser.add_argument("--n-battles", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", choices=SCENARIO_CHOICES, default="all")
    parser.add_argument("--level", default="50", help="a level (50) or a range (40-60)")
    parser.add_argument("--roster", default="letsgo")
    parser.add_argument("--out", type=Path, required=True, help="output .parquet file")
    parser.add_argument("--oracle-sample", type=int, default=0, help="configurations to replay")
    parser.add_argument("--oracle-replays", type=int, default=400)
    args = parser.parse_args(argv)
    try:
        started = time.perf_counter()
        data = generate_dataset(
            args.n_battles, args.seed, args.scenario, parse_level(args.level), args.roster
        )
        simulated = time.perf_counter() - started
        report: dict[str, object] = {
            "rows": len(data),
            "a_win_share": round(float(data.winner.mean()), 6),
            "scenario": args.scenario,
            "seed": args.seed,
            "rules_version": data.rules_version,
            "seconds": round(simulated, 3),
            "battles_per_s": round(len(data) / max(simulated, 1e-9)),
        }
        if args.oracle_sample > 0:
            from core.evaluate import oracle_accuracy  # evaluate reads datasets: import late

            report["oracle_accuracy"] = round(
                oracle_accuracy(
                    data, sample=args.oracle_sample, replays=args.oracle_replays, seed=args.seed
                ),
                6,
            )
        write_parquet_atomically(data.to_frame(), args.out)
        report["out"] = str(args.out)
    except (DatasetError, PokedexError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
