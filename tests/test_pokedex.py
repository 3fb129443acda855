"""The roster, stats, names and moves come from poke-env's data and resolve forgivingly."""

import functools
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from core.config import PROJECT_ROOT
from core.pokedex import (
    SOURCE_FILES,
    STRUGGLE_ID,
    TYPES,
    PokedexError,
    build_pokedex,
    load_pokedex,
    normalize_name,
    roster_tables,
    source,
    stat_at_level,
)


@pytest.fixture(scope="module")
def dex():
    return load_pokedex("letsgo")


def test_letsgo_roster_size_and_contents(dex):
    assert 180 <= len(dex.pokemon) <= 200
    ids = set(dex.pokemon)
    for expected in ("bulbasaur", "mew", "meltan", "melmetal", "raichualola", "charizardmegax",
                     "mewtwomegay", "pikachustarter", "eeveestarter", "marowakalola"):  # fmt: skip
        assert expected in ids
    # Not in Let's Go: later generations, cap Pikachu, Totem forms, Legends Z-A Megas.
    for absent in (
        "chikorita",
        "pikachualola",
        "raticatealolatotem",
        "raichumegax",
        "clefablemega",
    ):
        assert absent not in ids


def test_every_entry_has_stats_types_and_moves(dex):
    for pokemon in dex.pokemon.values():
        assert set(pokemon.base_stats) == {"hp", "atk", "def", "spa", "spd", "spe"}
        assert all(1 <= v <= 255 for v in pokemon.base_stats.values())
        assert 1 <= len(pokemon.types) <= 2 and all(t in TYPES for t in pokemon.types)
        assert pokemon.moves, pokemon.id
        for move_id in pokemon.moves:
            move = dex.moves[move_id]
            assert (move.power > 0 or move.fixed_kind) and 0 < move.accuracy <= 1
            assert move.category in ("Physical", "Special")
    assert dex.get("ditto").moves == (STRUGGLE_ID,)
    assert dex.moves[STRUGGLE_ID].power == 50 and dex.moves[STRUGGLE_ID].type == "???"


def test_kanto_roster_is_the_151(dex):
    kanto = load_pokedex("kanto")
    assert len(kanto.pokemon) == 151
    assert {p.number for p in kanto.pokemon.values()} == set(range(1, 152))


@pytest.mark.parametrize(
    ("name", "base", "level", "is_hp", "expected"),
    [
        ("pikachu hp", 35, 50, True, 110),
        ("pikachu speed", 90, 50, False, 110),
        ("mewtwo spa", 154, 50, False, 174),
        ("chansey hp", 250, 100, True, 641),
        ("magikarp atk", 10, 1, False, 5),
    ],
)
def test_stat_formula(name, base, level, is_hp, expected):
    assert stat_at_level(base, level, is_hp) == expected


def test_pikachu_level_50_stats(dex):
    stats = dex.resolve_pokemon("Pikachu").stats_at(50)
    assert stats["hp"] == 110 and stats["spe"] == 110


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Mr. Mime", "mrmime"),
        ("mr-mime", "mrmime"),
        ("mrmime", "mrmime"),
        ("MR MIME", "mrmime"),
        ("Raichu-Alola", "raichualola"),
        ("Alolan Raichu", "raichualola"),
        ("Mega Charizard X", "charizardmegax"),
        ("charizard-mega-x", "charizardmegax"),
        ("Farfetch’d", "farfetchd"),
        ("Nidoran♀", "nidoranf"),
        ("  pikachu  ", "pikachu"),
        ("Partner Pikachu", "pikachustarter"),
    ],
)
def test_forgiving_names(dex, typed, expected):
    assert dex.resolve_pokemon(typed).id == expected


def test_accents_are_folded():
    assert normalize_name("Flabébé") == "flabebe"


def test_unknown_name_lists_closest_matches(dex):
    with pytest.raises(PokedexError, match="Closest matches: .*Pikachu"):
        dex.resolve_pokemon("Pikachoo")
    with pytest.raises(PokedexError, match="Unknown Pokémon"):
        dex.resolve_pokemon("zzzzzz")


@pytest.mark.parametrize("bad", ["", "   ", "../../etc/passwd", "a" * 10_000, "\x00\x1b[31m", 42])
def test_hostile_names_get_a_clear_error(dex, bad):
    with pytest.raises(PokedexError) as info:
        dex.resolve_pokemon(bad)
    message = str(info.value)
    assert len(message) < 300 and "\x1b" not in message and "\x00" not in message


def test_cyrillic_lookalike_is_not_pikachu(dex):
    with pytest.raises(PokedexError):
        dex.resolve_pokemon("Рikachu")  # a Cyrillic capital Er, not a Latin P


def test_moves_resolve_and_learnsets_are_checked(dex):
    pikachu = dex.resolve_pokemon("pikachu")
    assert dex.resolve_move("Thunder-Bolt").id == "thunderbolt"
    assert dex.resolve_moveset(pikachu, "thunderbolt, quick attack") == [
        "thunderbolt",
        "quickattack",
    ]
    assert dex.resolve_moveset(pikachu, None) is None
    with pytest.raises(PokedexError, match="cannot learn Surf.*It can learn: .*Thunderbolt"):
        dex.resolve_moveset(pikachu, ["surf"])
    with pytest.raises(PokedexError, match="at most 4 moves"):
        dex.resolve_moveset(pikachu, ["thunderbolt"] * 5)
    with pytest.raises(PokedexError, match="Unknown damaging move"):
        dex.resolve_move("Thunderbolt2000")


@pytest.mark.parametrize(
    ("move_type", "defender", "expected"),
    [
        ("Electric", "gyarados", 4.0),
        ("Grass", "charizard", 0.25),
        ("Normal", "gastly", 0.0),
        ("Ground", "pikachu", 2.0),
        ("Fire", "bulbasaur", 2.0),
        ("???", "gastly", 1.0),
    ],
)
def test_type_chart(dex, move_type, defender, expected):
    assert dex.type_multiplier(move_type, dex.get(defender)) == expected


@pytest.mark.parametrize("roster", ["letsgo", "kanto"])
def test_coverage_table_accounts_for_every_move(roster):
    from core.pokedex import RULE_KINDS

    dex = load_pokedex(roster)
    rows = {row.id: row for row in dex.coverage}
    learned = {m for p in dex.pokemon.values() for m in p.moves} - {STRUGGLE_ID}
    assert learned <= {mid for mid, row in rows.items() if row.handling == "modelled"}
    for mid, row in rows.items():
        assert row.handling in ("modelled", "excluded") and row.detail and row.learners >= 1
        assert (mid in dex.excluded) == (row.handling == "excluded")
        if row.handling == "excluded":  # absent from every learnset
            assert all(mid not in p.moves for p in dex.pokemon.values()), mid
    for move in dex.moves.values():
        assert set(move.rules) <= set(RULE_KINDS)


def test_every_modelled_rule_kind_has_a_test():
    from pathlib import Path

    from core.pokedex import RULE_KINDS

    text = (Path(__file__).parent / "test_battle.py").read_text(encoding="utf-8")
    untested = [kind for kind in RULE_KINDS if f"rule:{kind}" not in text]
    assert not untested, f"rule kinds without a hand-worked test: {untested}"


def test_excluded_move_error_says_why_and_lists_what_it_can_use(dex):
    pikachu = dex.resolve_pokemon("pikachu")
    with pytest.raises(
        PokedexError, match="Facade is not simulated: power boosted.*Pikachu can use: .*Thunderbolt"
    ):
        dex.resolve_moveset(pikachu, ["facade"])
    with pytest.raises(PokedexError, match="Hyper Beam is not simulated: the user must recharge"):
        dex.resolve_move("Hyper Beam")


def test_coverage_cli_prints_json_and_markdown():
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "core.pokedex", "moves", *a],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    done = run("--roster", "kanto", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    by_id = {row["id"]: row for row in rows}
    assert (
        by_id["hyperbeam"]["handling"] == "excluded" and "recharge" in by_id["hyperbeam"]["detail"]
    )
    assert by_id["foulplay"]["handling"] == "modelled" and by_id["foulplay"]["learners"] == 19
    markdown = run("--roster", "letsgo")
    assert markdown.returncode == 0 and markdown.stdout.startswith("| move |")


def test_readme_simplifications_agree_with_the_coverage_table():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("**Simplifications**") :].split("\n\n")[0]
    for roster in ("letsgo", "kanto"):
        rows = load_pokedex(roster).coverage
        modelled = sum(row.handling == "modelled" for row in rows)
        assert re.search(rf"{roster} \*\*{modelled} of {len(rows)}\*\*", section), roster
    kanto = load_pokedex("kanto")
    names = {normalize_name(n) for n in re.findall(r"\(([^)]*)\)", section) for n in n.split(",")}
    for name in ("solarbeam", "hyperbeam", "explosion", "return", "facade", "bulldoze", "wrap"):
        assert name in kanto.excluded, name
    assert {"solarbeam", "hyperbeam", "explosion"} <= names


# --- the cache of poke-env's tables (core.pokedex.source) -------------------------------------


def _full_tables(folder) -> dict:
    return {
        name: json.loads((folder / relative).read_text(encoding="utf-8"))
        for name, relative in SOURCE_FILES.items()
    }


def _same_dex(a, b) -> None:
    assert list(a.pokemon) == list(b.pokemon) and a.pokemon == b.pokemon
    assert list(a.moves) == list(b.moves) and a.moves == b.moves
    assert a.excluded == b.excluded and a.coverage == b.coverage
    assert np.array_equal(a.type_chart, b.type_chart)


@pytest.fixture()
def data_copy(tmp_path):
    """A private copy of poke-env's four source files (so a test may edit them)."""
    folder = tmp_path / "static"
    for relative in SOURCE_FILES.values():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.data_dir() / relative, folder / relative)
    return folder


def _read(roster, cache_dir, source_dir=None):
    select = functools.partial(roster_tables, roster)
    return source.read_inputs(roster, SOURCE_FILES, select, cache_dir, source_dir)


@pytest.mark.parametrize("roster", ["letsgo", "kanto"])
def test_cached_build_equals_the_build_from_poke_env_files(roster, tmp_path):
    fresh = build_pokedex(roster, _full_tables(source.data_dir()))
    first = build_pokedex(roster, _read(roster, tmp_path))  # parses, writes the cache
    (cache_file,) = tmp_path.iterdir()
    assert cache_file.stat().st_size < 1_000_000  # the roster's share, not 4.5 MB
    second = build_pokedex(roster, _read(roster, tmp_path))  # from the cache
    _same_dex(fresh, first)
    _same_dex(fresh, second)


def test_cache_is_rebuilt_when_the_source_data_changes(data_copy, tmp_path):
    cache_dir = tmp_path / "cache"
    before = build_pokedex("letsgo", _read("letsgo", cache_dir, data_copy))
    species_file = data_copy / SOURCE_FILES["species"]
    species = json.loads(species_file.read_text(encoding="utf-8"))
    species["pikachu"]["baseStats"]["spe"] = 123
    species_file.write_text(json.dumps(species), encoding="utf-8")
    after = build_pokedex("letsgo", _read("letsgo", cache_dir, data_copy))
    assert before.get("pikachu").base_stats["spe"] == 90
    assert after.get("pikachu").base_stats["spe"] == 123
    assert len(list(cache_dir.iterdir())) == 2  # a new key, a new file


def test_cache_key_covers_the_format_and_every_input(data_copy):
    paths = {name: data_copy / relative for name, relative in SOURCE_FILES.items()}
    key = source.input_key(paths)
    assert key == source.input_key(paths)
    typechart = paths["typechart"]
    typechart.write_bytes(typechart.read_bytes() + b" ")
    assert source.input_key(paths) != key


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # truncated
        lambda raw: raw.replace(b'"pikachu"', b'"pikachv"', 1),  # edited payload
        lambda raw: b"not json\n" + raw,  # broken header
        lambda raw: b"",  # empty
    ],
    ids=["truncated", "edited", "header", "empty"],
)
def test_a_damaged_cache_is_rebuilt_not_trusted(damage, tmp_path):
    fresh = build_pokedex("letsgo", _full_tables(source.data_dir()))
    _read("letsgo", tmp_path)
    (cache_file,) = tmp_path.iterdir()
    good = cache_file.read_bytes()
    cache_file.write_bytes(damage(good))
    _same_dex(fresh, build_pokedex("letsgo", _read("letsgo", tmp_path)))
    assert cache_file.read_bytes() == good  # rewritten whole


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    fresh = build_pokedex("letsgo", _full_tables(source.data_dir()))
    _same_dex(fresh, build_pokedex("letsgo", _read("letsgo", blocker / "cache")))


def test_loading_the_pokedex_does_not_import_poke_env():
    code = (
        "import sys; from core.pokedex import load_pokedex; load_pokedex('letsgo'); "
        "print('poke_env' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
