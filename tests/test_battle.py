"""The simulator follows DESIGN §3: hand-worked damage, statistical rules, determinism, CLI."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.battle import (
    BattleArrays,
    default_moveset,
    hit_damage,
    simulate_arrays,
    win_probability,
)
from core.pokedex import PokedexError, load_pokedex

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dex():
    return load_pokedex("letsgo")


def expected_damage(dex, attacker, defender, move, level_a, level_d, roll, crit):
    """DESIGN §3 by hand: base damage, then crit, roll, STAB, type, flooring after each step."""
    att, dfn, mv = dex.get(attacker), dex.get(defender), dex.moves[move]
    sa, sd = att.stats_at(level_a), dfn.stats_at(level_d)
    a, d = (sa["atk"], sd["def"]) if mv.category == "Physical" else (sa["spa"], sd["spd"])
    damage = math.floor(math.floor(math.floor(2 * level_a / 5 + 2) * mv.power * a / d) / 50) + 2
    if crit:
        damage = math.floor(damage * 1.5)
    damage = math.floor(damage * roll / 100)
    if mv.type in att.types:
        damage = math.floor(damage * 1.5)
    multiplier = 1.0
    for t in dfn.types:
        multiplier *= {"Electric": {"Water": 2, "Flying": 2, "Ground": 0},
                       "Grass": {"Fire": 0.5, "Flying": 0.5, "Water": 2},
                       "Normal": {"Ghost": 0},
                       "Fighting": {"Normal": 2},
                       "Rock": {"Fire": 2, "Flying": 2},
                       "Psychic": {}}.get(mv.type, {}).get(t, 1)  # fmt: skip
    damage = math.floor(damage * multiplier)
    return 0 if multiplier == 0 else max(damage, 1)


@pytest.mark.parametrize(
    ("attacker", "defender", "move", "level_a", "level_d", "roll", "crit", "hand_value"),
    [
        # special, STAB, x4: Pikachu (SpA 70) Thunderbolt vs Gyarados (SpD 120) -> 25 -> 37 -> 148
        ("pikachu", "gyarados", "thunderbolt", 50, 50, 100, False, 148),
        # physical, STAB, x2: Machamp (Atk 150) Brick Break vs Snorlax (Def 85)
        ("machamp", "snorlax", "brickbreak", 50, 50, 100, False, None),
        # x0.25, no STAB: Bulbasaur's Vine Whip is STAB, Charizard is Fire/Flying
        ("bulbasaur", "charizard", "vinewhip", 50, 50, 85, False, None),
        # immunity: Tackle cannot touch Gastly
        ("rattata", "gastly", "tackle", 50, 50, 100, False, 0),
        # critical hit and the lowest roll, x4 STAB: Onix Rock Slide vs Charizard
        ("onix", "charizard", "rockslide", 50, 50, 85, True, None),
        # a level gap
        ("mewtwo", "magikarp", "psychic", 100, 5, 93, False, None),
        # neutral, no STAB, special: Alakazam's Shadow Ball vs Snorlax is immune? no: Ghost vs Normal
        ("alakazam", "pidgeot", "psychic", 50, 50, 100, False, None),
    ],
)
def test_hand_worked_damage(
    dex, attacker, defender, move, level_a, level_d, roll, crit, hand_value
):
    by_hand = expected_damage(dex, attacker, defender, move, level_a, level_d, roll, crit)
    if hand_value is not None:
        assert by_hand == hand_value
    assert hit_damage(attacker, defender, move, level_a, level_d, roll, crit, dex) == by_hand


def test_quarter_effective_damage_is_small_but_positive(dex):
    assert 1 <= hit_damage("bulbasaur", "charizard", "vinewhip", 50, 50, 85, False, dex) < 10


def one_config(dex, a, b, moves_a, moves_b, level_a=50, level_b=50, random_b=False):
    pad = lambda moves: [dex.move_index[m] for m in moves] + [-1] * (4 - len(moves))  # noqa: E731
    return BattleArrays(
        a=np.array([dex.pokemon_index[a]]),
        b=np.array([dex.pokemon_index[b]]),
        level_a=np.array([level_a]),
        level_b=np.array([level_b]),
        moves_a=np.array([pad(moves_a)]),
        moves_b=np.array([pad(moves_b)]),
        random_a=np.array([False]),
        random_b=np.array([random_b]),
    )


def rate(dex, config, n=20_000, seed=0):
    return float(simulate_arrays(dex, config, seed, index=np.zeros(n, dtype=np.int64)).mean())


def test_mirror_match_is_a_coin_flip(dex):
    p = win_probability("gengar", "gengar", n=20_000, seed=1, dex=dex)["p_a_wins"]
    assert abs(p - 0.5) <= 0.02


def test_mewtwo_crushes_magikarp(dex):
    assert win_probability("mewtwo", "magikarp", n=20_000, seed=2, dex=dex)["p_a_wins"] >= 0.99


def test_priority_beats_speed(dex):
    # Pidgeotto is slower than Abra; both need exactly two hits to KO the other.
    pidgeotto, abra = dex.get("pidgeotto").stats_at(50), dex.get("abra").stats_at(50)
    assert pidgeotto["spe"] < abra["spe"]
    for roll in (85, 100):
        assert 2 * hit_damage("pidgeotto", "abra", "quickattack", roll=roll) >= abra["hp"]
        assert hit_damage("pidgeotto", "abra", "quickattack", roll=roll) < abra["hp"]
        assert hit_damage("abra", "pidgeotto", "psychic", roll=roll) < pidgeotto["hp"]
    with_priority = rate(dex, one_config(dex, "pidgeotto", "abra", ["quickattack"], ["psychic"]))
    without = rate(dex, one_config(dex, "pidgeotto", "abra", ["tackle"], ["psychic"]))
    assert with_priority >= 0.9  # Quick Attack (+1) moves first every turn
    assert without <= 0.1  # Tackle: same power and type, no priority: Abra is faster


def test_speed_tie_is_a_coin_flip(dex):
    # Same Pokémon, same level, one-hit KOs both ways: only the coin decides.
    config = one_config(dex, "alakazammega", "alakazammega", ["psychic"], ["psychic"], 100, 100)
    assert dex.get("alakazammega").stats_at(100)["hp"] > 0
    p = rate(dex, config, n=20_000, seed=3)
    assert abs(p - 0.5) <= 0.02


def test_immune_attacker_never_deals_damage_and_tie_break_decides(dex):
    # Rattata's Tackle cannot touch Gastly; Gastly's Tackle hits Rattata: Gastly always wins.
    one_immune = one_config(dex, "gastly", "rattata", ["tackle"], ["tackle"])
    assert hit_damage("rattata", "gastly", "tackle") == 0
    assert hit_damage("gastly", "rattata", "tackle") > 0
    winners, turns = simulate_arrays(
        dex, one_immune, 0, return_turns=True, index=np.zeros(1000, dtype=np.int64)
    )
    assert winners.mean() == 1.0  # Gastly hits, Rattata never does
    none_can_hurt = one_config(dex, "gastly", "haunter", ["tackle"], ["tackle"])
    winners, turns = simulate_arrays(
        dex, none_can_hurt, 0, return_turns=True, index=np.zeros(1000, dtype=np.int64)
    )
    # Equal HP fraction (both untouched) -> the faster Haunter wins every time, with no turn played.
    assert dex.get("haunter").stats_at(50)["spe"] > dex.get("gastly").stats_at(50)["spe"]
    assert winners.sum() == 0 and turns.max() == 0


def test_struggle_when_no_damaging_move(dex):
    assert default_moveset(dex, "ditto", "pikachu") == ["struggle"]
    result = win_probability("ditto", "magikarp", n=2000, seed=0, dex=dex)
    assert result["moves_a"] == ["struggle"] and 0.0 < result["p_a_wins"] <= 1.0


def test_default_moveset_is_best_four_by_expected_damage(dex):
    moves = default_moveset(dex, "pikachu", "gyarados")
    # Against Water/Flying Gyarados (x4 Electric), the four best are Pikachu's Electric moves.
    assert len(moves) == 4 and all(dex.moves[m].type == "Electric" for m in moves)
    pikachu, gyarados = dex.get("pikachu").stats_at(50), dex.get("gyarados").stats_at(50)

    def score(m):
        mv = dex.moves[m]
        ratio = (
            (pikachu["atk"] / gyarados["def"])
            if mv.category == "Physical"
            else (pikachu["spa"] / gyarados["spd"])
        )
        return mv.power * mv.accuracy * ratio

    assert [score(m) for m in moves] == sorted((score(m) for m in moves), reverse=True)


def test_same_seed_same_result_other_seed_differs(dex):
    config = one_config(dex, "gengar", "gengar", ["shadowball"], ["shadowball"])
    index = np.zeros(5000, dtype=np.int64)
    first = simulate_arrays(dex, config, 7, index=index)
    again = simulate_arrays(dex, config, 7, index=index)
    other = simulate_arrays(dex, config, 8, index=index)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_random_policy_differs_from_best(dex):
    """B wasting turns on Tackle (random policy) loses more often than B always using Hydro Pump.

    Strictly, and by more than sampling noise: the gap must exceed 4 standard errors of the
    difference of two win rates over n battles each (seeded, so the test is deterministic).
    """
    n = 20_000
    moves_b = ["hydropump", "tackle"]
    best = rate(dex, one_config(dex, "pikachu", "gyarados", ["thunderbolt"], moves_b), n=n)
    random = rate(
        dex,
        one_config(dex, "pikachu", "gyarados", ["thunderbolt"], moves_b, random_b=True),
        n=n,
    )
    standard_error = math.sqrt((best * (1 - best) + random * (1 - random)) / n)
    assert random - best > 4 * standard_error, (best, random, standard_error)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"a": "pikachoo", "b": "onix"}, "Closest matches"),
        ({"a": "pikachu", "b": "onix", "moves_a": ["surf"]}, "cannot learn Surf"),
        ({"a": "pikachu", "b": "onix", "moves_a": ["notamove"]}, "Unknown damaging move"),
        ({"a": "pikachu", "b": "onix", "level_a": 0}, "out of range"),
        ({"a": "pikachu", "b": "onix", "level_b": 101}, "out of range"),
        ({"a": "pikachu", "b": "onix", "n": 0}, "from 1 to"),
        ({"a": "pikachu", "b": "onix", "n": 10**10}, "from 1 to"),
    ],
)
def test_bad_input_errors(dex, kwargs, message):
    with pytest.raises(PokedexError, match=message):
        win_probability(dex=dex, **kwargs)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "core.battle", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_one_json_object():
    done = run_cli("--a", "Pikachu", "--b", "Mr. Mime", "--n", "2000", "--moves-a", "thunderbolt")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pokemon_a"] == "pikachu" and result["pokemon_b"] == "mrmime"
    assert result["moves_a"] == ["thunderbolt"] and len(result["moves_b"]) == 4
    assert 0.0 <= result["p_a_wins"] <= 1.0 and result["level_a"] == 50


@pytest.mark.parametrize(
    "args",
    [
        ("--a", "Pikachoo", "--b", "onix"),
        ("--a", "pikachu", "--b", "onix", "--level-a", "0"),
        ("--a", "pikachu", "--b", "onix", "--moves-a", "surf"),
        ("--a", "pikachu", "--b", "onix", "--n", "0"),
    ],
)
def test_cli_errors_exit_2_with_one_line(args):
    done = run_cli(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
