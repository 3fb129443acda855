"""The analytic race where drain (Absorb, Mega Drain, Leech Life, Bouncy Bubble) decides it,
against the simulator."""

import numpy as np
import pytest

from core.features.drain import two_use_ko
from core.pokedex import load_pokedex
from tests.races import check_against_the_simulator, check_alone_as_in_a_batch, check_orders_agree

# The worst letsgo drain pairs of the folded race (default movesets, level 50; each side's
# best move, which is the move the default moveset plays). The fold was 72, 70, 60, 45, 45 and
# 33 points off on the first six: it counted the drainer's first heal, which restores nothing,
# and missed the heals that count when the drainer's blow may KO or not.
PLANTED = [
    ("golem-alola", "eevee-starter", ["brickbreak"], ["bouncybubble"]),  # the pair
    ("grimer-alola", "venonat", ["firepunch"], ["leechlife"]),
    ("omastar", "golbat", ["icebeam"], ["megadrain"]),
    ("omastar", "vileplume", ["icebeam"], ["megadrain"]),  # Mega Drain KOs half the time
    ("omastar", "kabutops", ["surf"], ["megadrain"]),  # heals of 30/32/34/36 HP: their law
    ("slowpoke", "exeggcute", ["fireblast"], ["megadrain"]),  # 85 % accuracy
    ("paras", "onix", ["megadrain"], ["rockslide"]),  # the drainer slower, 90 % accuracy
    ("chansey", "venonat", ["fireblast"], ["leechlife"]),  # a long race
    # Speed ties: who moves first on a turn also decides whether the heal comes before the blow.
    ("ekans", "kabuto", ["megadrain"], ["waterfall"]),
    ("rhydon", "gloom", ["firepunch"], ["megadrain"]),
    # A drain against recoil: the lattice leaves the row to the race, which counts the recoil
    # use by use with the heals (it was 14.5 points off with the recoil folded in as a rate).
    ("venonat", "eevee", ["leechlife"], ["doubleedge"]),
]


@pytest.fixture(scope="module")
def dex():
    return load_pokedex()


@pytest.mark.parametrize(("a", "b", "moves_a", "moves_b"), PLANTED)
def test_analytic_race_within_a_few_points_of_the_simulator(dex, a, b, moves_a, moves_b):
    check_against_the_simulator(dex, a, b, moves_a, moves_b)


def test_the_two_orders_sum_to_one_and_agree_bit_for_bit(dex):
    check_orders_agree(dex, PLANTED)


def test_one_row_alone_answers_as_in_a_batch(dex):
    check_alone_as_in_a_batch(dex, PLANTED)


def test_two_use_ko_counts_every_roll_pair_against_the_heal():
    # Rolls 10..25 (no crit), HP 30: one use never KOs; two KO when d1 + d2 >= 30 + heal.
    plain = np.arange(10, 26, dtype=float)[None]
    grid = plain[0][:, None] + plain[0][None, :]
    # Two laws of the heal in between: 0 or 5 HP at 25/75 %, and 5 HP surely.
    heals = (np.array([[0.0, 5.0]]), np.array([[[0.25, 0.0], [0.75, 1.0]]]))
    expected = [0.25 * (grid >= 30).mean() + 0.75 * (grid >= 35).mean(), (grid >= 35).mean()]
    got = two_use_ko(plain, plain + 100, np.zeros(1), np.array([30.0]), heals)
    np.testing.assert_allclose(got[0], expected)
    # A first use that KOs ends it whatever the heal: rolls 30.. against HP 30.
    ko = two_use_ko(plain + 20, plain + 20, np.zeros(1), np.array([30.0]), heals)
    np.testing.assert_allclose(ko[0], [1.0, 1.0])
