"""Checks of the analytic race (`a_analytic_win`) on planted matchups, shared by the recoil and
drain test modules: each planted row is (a, b, moves_a, moves_b)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.battle import BattleArrays, arrays_from_frame, resolve_matchup, win_probability
from core.features import build_features

REPLAYS = 2000
TOLERANCE = 0.04  # 2,000 replays: standard error at most 1.1 points


def check_against_the_simulator(dex, a: str, b: str, moves_a: list, moves_b: list) -> None:
    """Both orders of the matchup within TOLERANCE of the simulator's share of REPLAYS."""
    matchup = resolve_matchup(a, b, moves_a=moves_a, moves_b=moves_b, dex=dex)
    swapped = resolve_matchup(b, a, moves_a=moves_b, moves_b=moves_a, dex=dex)
    frame = pd.concat([matchup.to_frame(), swapped.to_frame()], ignore_index=True)
    analytic = build_features(frame, dex)["a_analytic_win"].to_numpy(float)
    orders = ((a, b, matchup.moves_a, matchup.moves_b), (b, a, matchup.moves_b, matchup.moves_a))
    for row, (x, y, ours, theirs) in enumerate(orders):
        truth = win_probability(x, y, moves_a=ours, moves_b=theirs, n=REPLAYS, seed=5, dex=dex)
        assert abs(analytic[row] - truth.p_a_wins) <= TOLERANCE, (x, y, analytic[row], truth)


def check_orders_agree(dex, planted: list) -> None:
    """Swapping the sides swaps the two features bit for bit, and they sum to one."""
    frame = pd.concat(
        [
            resolve_matchup(a, b, moves_a=ma, moves_b=mb, dex=dex).to_frame()
            for a, b, ma, mb in planted
        ],
        ignore_index=True,
    )
    batch = arrays_from_frame(frame, dex)
    swapped = BattleArrays(batch.b, batch.a, batch.level_b, batch.level_a, batch.moves_b,
                           batch.moves_a, batch.random_b, batch.random_a)  # fmt: skip
    here, there = build_features(batch, dex), build_features(swapped, dex)
    np.testing.assert_array_equal(here["a_analytic_win"], there["b_analytic_win"])
    total = (here["a_analytic_win"] + here["b_analytic_win"]).to_numpy(float)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def check_alone_as_in_a_batch(dex, planted: list) -> None:
    """Rows solved together share array sizes; each row's answer must not depend on them."""
    matchups = [resolve_matchup(a, b, moves_a=ma, moves_b=mb, dex=dex) for a, b, ma, mb in planted]
    together = build_features(pd.concat([m.to_frame() for m in matchups], ignore_index=True), dex)
    for i, matchup in enumerate(matchups):
        alone = build_features(matchup.to_frame(), dex)["a_analytic_win"].iloc[0]
        assert alone == pytest.approx(together["a_analytic_win"].iloc[i], abs=1e-7)
