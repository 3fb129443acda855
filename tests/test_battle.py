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
    hit_damage_per_hit,
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
    p = win_probability("gengar", "gengar", n=20_000, seed=1, dex=dex).p_a_wins
    assert abs(p - 0.5) <= 0.02


def test_mewtwo_crushes_magikarp(dex):
    assert win_probability("mewtwo", "magikarp", n=20_000, seed=2, dex=dex).p_a_wins >= 0.99


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
    # rule:struggle_recoil: Ditto (123 HP) loses round(123/4) = 31 per Struggle, so it faints
    # after its 4th; Struggle does at most 21 to Magikarp (95 HP), which needs 5: Ditto never wins.
    assert default_moveset(dex, "ditto", "pikachu") == ["struggle"]
    assert hit_damage("ditto", "magikarp", "struggle", dex=dex) == 21
    result = win_probability("ditto", "magikarp", n=2000, seed=0, dex=dex)
    assert result.moves_a == ["struggle"] and result.p_a_wins == 0.0


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


@pytest.fixture(scope="module")
def kanto():
    return load_pokedex("kanto")


@pytest.mark.parametrize(
    ("attacker", "defender", "move", "roll", "expected"),
    [
        # rule:target_attack: Foul Play uses Machamp's Attack (150) against its Defense (100)
        ("persian", "machamp", "foulplay", 100, 32),
        ("persian", "machamp", "foulplay", 85, 27),
        # rule:defense_override: special moves that hit Defense (Chansey's Def 10 -> 15)
        ("mewtwo", "chansey", "psystrike", 100, 462),
        ("alakazam", "chansey", "psyshock", 100, 330),
        # rule:type_exception: Freeze-Dry is x2 on Water, so x4 on Water/Flying Gyarados
        ("lapras", "gyarados", "freezedry", 100, 168),
        # rule:hidden_power: IVs 31 -> Dark, power 60, super effective on Gengar
        ("gengar", "gengar", "hiddenpower", 100, 86),
        # rule:acrobatics: no item held -> power 110
        ("golbat", "machamp", "acrobatics", 100, 150),
        # rule:fixed_hits: Double Kick, 2 hits of 34..40 -> 68..80
        ("nidoking", "snorlax", "doublekick", 100, 80),
        ("nidoking", "snorlax", "doublekick", 85, 68),
        # rule:fixed_damage: Dragon Rage 40, Sonic Boom 20, whatever the stats; immune Fairy 0
        ("dratini", "mewtwo", "dragonrage", 85, 40),
        ("magnemite", "snorlax", "sonicboom", 100, 20),
        ("dratini", "clefable", "dragonrage", 100, 0),
        # rule:level_damage: Seismic Toss = the user's level; Normal Snorlax is immune to Night Shade
        ("machamp", "chansey", "seismictoss", 100, 50),
        ("gengar", "snorlax", "nightshade", 100, 0),
        # rule:half_hp: Super Fang halves the target's HP (Snorlax 235 -> 117)
        ("raticate", "snorlax", "superfang", 100, 117),
        # rule:standard
        ("pikachu", "gyarados", "thunderbolt", 100, 148),
    ],
)
def test_hand_worked_move_rules(kanto, attacker, defender, move, roll, expected):
    assert hit_damage(attacker, defender, move, roll=roll, dex=kanto) == expected


def test_multi_hit_per_hit_range_and_hit_counts(kanto):
    # rule:hits_2_to_5: each hit has its own roll; hit counts 35/35/15/15 % over 200,000 uses
    from core.battle.engine import draw_hits

    per_hit = [hit_damage_per_hit("nidoking", "snorlax", "doublekick", roll=r, dex=kanto)
               for r in range(85, 101)]  # fmt: skip
    assert min(per_hit) == 34 and max(per_hit) == 40
    two, five = np.full(200_000, 2), np.full(200_000, 5)
    hits = draw_hits(two, five, np.random.default_rng(11))
    shares = np.bincount(hits, minlength=6)[2:] / hits.size
    assert np.allclose(shares, [0.35, 0.35, 0.15, 0.15], atol=0.005)
    assert hit_damage("nidoking", "snorlax", "furyattack", hits=5, dex=kanto) == 5 * (
        hit_damage_per_hit("nidoking", "snorlax", "furyattack", dex=kanto)
    )


def crit_share(dex, attacker, defender, move, uses=200_000, seed=5):
    from core.battle.engine import use_moves
    from core.battle.tables import build_tables

    config = one_config(dex, attacker, defender, [move], [move])
    tables = build_tables(dex, config)
    flat = np.zeros(uses, dtype=np.int64)  # configuration 0, slot 0, `uses` times
    damage, _, _ = use_moves(dex, tables.side_a, config.moves_a, flat, np.random.default_rng(seed))
    no_crit_max = hit_damage(attacker, defender, move, roll=100, crit=False, dex=dex)
    assert hit_damage(attacker, defender, move, roll=85, crit=True, dex=dex) > no_crit_max
    return float((damage > no_crit_max).mean())


def test_high_crit_and_always_crit_rates(kanto):
    # rule:high_crit: Slash crits 1/8 of the time; rule:always_crit: Frost Breath always crits
    assert abs(crit_share(kanto, "persian", "snorlax", "slash") - 0.125) <= 0.005
    assert abs(crit_share(kanto, "persian", "snorlax", "tackle") - 1 / 24) <= 0.005
    # Frost Breath is 90 % accurate: every hit that lands is a critical hit
    assert abs(crit_share(kanto, "lapras", "snorlax", "frostbreath") - 0.9) <= 0.005


def test_recoil_drain_and_half_hp_after_a_hit(kanto):
    # rule:recoil rule:drain: rounded recoil (at least 1) and rounded-up drain of HP actually lost
    from core.battle.engine import _act

    def act(move, damage, user, target, max_user):
        index = np.array([kanto.move_index[move]])
        hp_user, hp_target = np.array([float(user)]), np.array([float(target)])
        special = kanto.move_special[index]
        _act(kanto, index, np.array([True]), np.array([float(damage)]), special, hp_user,
             hp_target, np.array([float(max_user)]))  # fmt: skip
        return int(hp_user[0]), int(hp_target[0])

    assert act("doubleedge", 100, 150, 200, 150) == (117, 100)  # recoil round(33) = 33
    assert act("doubleedge", 100, 150, 50, 150) == (133, 0)  # dealt 50 -> round(16.5) = 17
    assert act("takedown", 2, 150, 200, 150) == (149, 198)  # round(0.5) = 1, at least 1
    assert act("gigadrain", 75, 100, 200, 150) == (138, 125)  # ceil(37.5) = 38
    assert act("gigadrain", 75, 140, 200, 150) == (150, 125)  # capped at max HP
    assert act("superfang", 1, 100, 95, 100) == (100, 48)  # floor(95 / 2) = 47
    assert act("superfang", 1, 100, 1, 100) == (100, 0)  # at least 1


def test_recoil_ko_of_both_gives_the_win_to_the_user(kanto):
    # Both faint in one action only through recoil: the user of the move wins (gen 5+).
    from core.battle.engine import play_turn
    from core.battle.tables import build_tables

    config = one_config(kanto, "tauros", "rattata", ["doubleedge"], ["tackle"])
    tables = build_tables(kanto, config)
    hp = (np.array([1.0]), np.array([1.0]))  # Tauros (faster) hits first and dies of recoil
    won = play_turn(kanto, tables, (config.moves_a, config.moves_b), np.array([0]), hp,
                    np.random.default_rng(0))  # fmt: skip
    assert hp[0][0] <= 0 and hp[1][0] <= 0 and bool(won[0])


def test_attack_override_and_no_effect_fields_follow_the_data():
    # rule:attack_override (Body Press, not in generation 7's data) and rule:no_effect_here
    from core.pokedex.rules import build_move, exclusion_reason

    body_press = {"name": "Body Press", "type": "Fighting", "category": "Physical",
                  "basePower": 80, "accuracy": 100, "overrideOffensiveStat": "def"}  # fmt: skip
    assert exclusion_reason("bodypress", body_press, False) is None
    assert build_move("bodypress", body_press).attack_stat == "def"
    uturn = {"name": "U-turn", "type": "Bug", "category": "Physical", "basePower": 70,
             "accuracy": 100, "selfSwitch": True}  # fmt: skip
    assert build_move("uturn", uturn).rules == ("no_effect_here",)
    assert "does not model" in exclusion_reason("x", {**uturn, "onMystery": "onMystery"}, False)
