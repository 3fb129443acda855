"""The roster, stats, types, damaging moves, learnsets, type chart and per-move rules (poke-env data).

poke-env ships Pokémon Showdown's data (pokedex, moves, learnsets, type charts per generation) in
its wheel, so nothing is downloaded at run time. Each damaging move follows its own rules from the
move data (`core.pokedex.rules`), or is left out of the learnsets with its reason
(`python -m core.pokedex moves`). Everything the simulator needs is also exposed as numpy arrays
indexed by roster position and move position.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.pokedex import source
from core.pokedex.names import (
    PokedexError,
    _checked_key,
    _closest,
    _name_lookup,
    _shown,
    normalize_name,
)
from core.pokedex.rules import (
    HITS_2_TO_5,
    RULE_KINDS,
    STRUGGLE,
    STRUGGLE_ID,
    TYPELESS,
    TYPES,
    Category,
    Move,
    build_move,
    exclusion_reason,
)

__all__ = [
    "DATA_GENERATION", "HITS_2_TO_5", "MAX_LEVEL", "MIN_LEVEL", "ROSTERS", "RULE_KINDS", "STAT_NAMES", "STRUGGLE",
    "STRUGGLE_ID", "TYPELESS", "TYPES", "Category", "CoverageRow", "ExcludedMove", "Move", "Pokedex",
    "PokedexError", "Pokemon",
    "load_pokedex", "normalize_name", "stat_at_level",
]  # fmt: skip

RosterName = Literal["letsgo", "kanto"]
ROSTERS: tuple[str, ...] = ("letsgo", "kanto")
STAT_NAMES: tuple[str, ...] = ("hp", "atk", "def", "spa", "spd", "spe")
MIN_LEVEL, MAX_LEVEL = 1, 100
DATA_GENERATION = 7  # Let's Go Pikachu/Eevee are generation 7 games in Showdown's data

# Showdown's damageTaken codes: 0 neutral, 1 weak (x2), 2 resists (x0.5), 3 immune (x0).
_DAMAGE_TAKEN = {0: 1.0, 1: 2.0, 2: 0.5, 3: 0.0}
_LETSGO_FORMES = {"", "Alola", "Mega", "Mega-X", "Mega-Y", "Starter"}
_KANTO_FORMES = {""}


@dataclass(frozen=True)
class Pokemon:
    """One roster entry: Showdown id, display name, types, base stats and damaging learnset."""

    id: str
    name: str
    number: int
    types: tuple[str, ...]
    base_stats: dict[str, int]
    moves: tuple[str, ...]  # damaging move ids, sorted; ("struggle",) when it has none
    base_species: str

    def stats_at(self, level: int) -> dict[str, int]:
        """Stats at a level with IV 31, EV 0 and a neutral nature."""
        return {
            name: stat_at_level(self.base_stats[name], level, name == "hp") for name in STAT_NAMES
        }


def stat_at_level(base: int, level: int, is_hp: bool) -> int:
    """The standard stat formula with IV 31, EV 0, neutral nature."""
    core = (2 * base + 31) * level // 100
    return core + level + 10 if is_hp else core + 5


# poke-env's files one build reads (table name -> path under data/static).
SOURCE_FILES = {
    "species": f"pokedex/gen{DATA_GENERATION}pokedex.json",
    "moves": f"moves/gen{DATA_GENERATION}moves.json",
    "learnsets": "learnset.json",
    "typechart": f"typechart/gen{DATA_GENERATION}typechart.json",
}


def is_damaging(data: dict) -> bool:
    """A physical or special move (fixed-damage moves have base power 0 but are damaging)."""
    return data.get("category") in ("Physical", "Special")


def _learnset_codes(roster: str) -> tuple[str, ...]:
    if roster == "letsgo":
        return ("8V",)
    return tuple(str(gen) for gen in range(1, DATA_GENERATION + 1))


def _in_roster(species: dict, roster: str) -> bool:
    number = species.get("num", 0)
    forme = species.get("forme", "")
    # Formes introduced after generation 7 (Legends Z-A Megas) and cap Pikachu are not in the games.
    if (
        int(species.get("gen") or 0) > DATA_GENERATION
        or species.get("baseSpecies") == "Pikachu"
        and forme != "Starter"
    ):
        return False
    if roster == "letsgo":
        in_kanto = 1 <= number <= 151 and forme in _LETSGO_FORMES
        return in_kanto or (species["name"] in ("Meltan", "Melmetal"))
    return 1 <= number <= 151 and forme in _KANTO_FORMES


@dataclass
class Pokedex:
    """A roster with its moves and type chart, plus numpy arrays for the simulator."""

    roster: str
    pokemon: dict[str, Pokemon]
    moves: dict[str, Move]
    type_chart: np.ndarray  # (len(TYPES) + 1, len(TYPES)): multiplier of attack type vs one type
    excluded: dict[str, ExcludedMove] = field(default_factory=dict)  # left out, with the reason
    coverage: list[CoverageRow] = field(default_factory=list)  # every damaging move of the roster
    _lookup: dict[str, str] = field(default_factory=dict, repr=False)
    _move_lookup: dict[str, str] = field(default_factory=dict, repr=False)
    _excluded_lookup: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.pokemon_ids: list[str] = list(self.pokemon)
        self.pokemon_index = {pid: i for i, pid in enumerate(self.pokemon_ids)}
        self.move_ids: list[str] = list(self.moves)
        self.move_index = {mid: i for i, mid in enumerate(self.move_ids)}
        entries = [self.pokemon[pid] for pid in self.pokemon_ids]
        self.base_stats = np.array(
            [[p.base_stats[s] for s in STAT_NAMES] for p in entries], dtype=np.int32
        )
        # Types as indices, the second slot repeats the first for single-typed Pokémon.
        self.type_indices = np.array(
            [[TYPES.index(p.types[0]), TYPES.index(p.types[-1])] for p in entries], dtype=np.int16
        )
        # effectiveness[move_type, pokemon]: the multiplier of a move type against that Pokémon.
        first = self.type_chart[:, self.type_indices[:, 0]]
        second = self.type_chart[:, self.type_indices[:, 1]]
        single = self.type_indices[:, 0] == self.type_indices[:, 1]
        self.effectiveness = np.where(single[None, :], first, first * second)
        self._build_move_arrays()
        width = max(len(p.moves) for p in entries)
        self.learnset_matrix = np.full((len(entries), width), -1, dtype=np.int32)
        for row, entry in enumerate(entries):
            self.learnset_matrix[row, : len(entry.moves)] = [
                self.move_index[m] for m in entry.moves
            ]
        self._lookup = _name_lookup(entries)
        self._move_lookup = {normalize_name(m.name): m.id for m in self.moves.values()}
        self._move_lookup.update({m.id: m.id for m in self.moves.values()})
        self._excluded_lookup = {normalize_name(m.name): mid for mid, m in self.excluded.items()}
        self._excluded_lookup.update({mid: mid for mid in self.excluded})

    def _build_move_arrays(self) -> None:
        """Per-move rule arrays (index = move position) that the simulator gathers from."""
        moves = list(self.moves.values())

        def column(values: list, dtype: type) -> np.ndarray:
            return np.array(values, dtype=dtype)

        stat = {name: i for i, name in enumerate(STAT_NAMES)}
        self.move_power = column([m.power for m in moves], np.float64)  # one hit
        self.move_type = column([m.type_index for m in moves], np.int16)
        self.move_physical = column([m.category == "Physical" for m in moves], bool)
        self.move_accuracy = column([m.accuracy for m in moves], np.float64)
        self.move_priority = column([m.priority for m in moves], np.int8)
        self.move_attack_stat = column([stat[m.attack_stat] for m in moves], np.int8)
        self.move_attack_from_target = column([m.attack_from_target for m in moves], bool)
        self.move_defense_stat = column([stat[m.defense_stat] for m in moves], np.int8)
        self.move_crit_chance = column([m.crit_chance for m in moves], np.float64)
        self.move_min_hits = column([m.min_hits for m in moves], np.int8)
        self.move_max_hits = column([m.max_hits for m in moves], np.int8)
        self.move_expected_hits = column([m.expected_hits for m in moves], np.float64)
        self.move_fixed_damage = column([m.fixed_damage for m in moves], np.int32)
        self.move_level_damage = column([m.level_damage for m in moves], bool)
        self.move_half_hp = column([m.half_hp for m in moves], bool)
        self.move_recoil = column([m.recoil for m in moves], np.int32)  # (moves, 2): num, den
        self.move_drain = column([m.drain for m in moves], np.int32)
        self.move_struggle_recoil = column([m.struggle_recoil for m in moves], bool)
        # Moves that leave the one-roll path: several hits, fixed damage, HP changes for the user.
        self.move_special = (
            (self.move_max_hits > 1)
            | (self.move_fixed_damage > 0)
            | self.move_level_damage
            | self.move_half_hp
            | (self.move_recoil[:, 0] > 0)
            | (self.move_drain[:, 0] > 0)
            | self.move_struggle_recoil
        )
        # Rare per-slot rules that the tables patch in place rather than compute for every slot.
        default_attack = np.where(self.move_physical, 1, 3)
        default_defense = np.where(self.move_physical, 2, 4)
        self.move_stat_override = (
            self.move_attack_from_target
            | (self.move_attack_stat != default_attack)
            | (self.move_defense_stat != default_defense)
        )
        self.move_fixed_kind = (
            (self.move_fixed_damage > 0) | self.move_level_damage | self.move_half_hp
        )
        # Mean of one use relative to one hit at the top roll: mean roll x mean crit x mean hits.
        mean_crit = 1.0 + self.move_crit_chance * 0.5
        self.move_expected_factor = 0.925 * mean_crit * self.move_expected_hits
        # move_effectiveness[move, pokemon]: the type rule of each move, exceptions included.
        self.move_effectiveness = self.effectiveness[self.move_type].copy()
        for row, move in enumerate(moves):
            for forced in move.super_effective_on:
                self.move_effectiveness[row] = self._forced_effectiveness(move, forced)

    def _forced_effectiveness(self, move: Move, forced: str) -> np.ndarray:
        """The move's multipliers with one defending type counted as x2 (Freeze-Dry on Water)."""
        chart = self.type_chart[move.type_index].copy()
        chart[TYPES.index(forced)] = 2.0
        first, second = chart[self.type_indices[:, 0]], chart[self.type_indices[:, 1]]
        single = self.type_indices[:, 0] == self.type_indices[:, 1]
        return np.where(single, first, first * second)

    def get(self, pokemon_id: str) -> Pokemon:
        """The entry for an exact Showdown id (use resolve_pokemon for user input)."""
        return self.pokemon[pokemon_id]

    def resolve_pokemon(self, name: str) -> Pokemon:
        """Find a Pokémon forgivingly ('Mr. Mime', 'mr-mime', 'Raichu-Alola', 'Alolan Raichu')."""
        key = _checked_key(name, "Pokémon")
        found = self._lookup.get(key)
        if found is None:
            hint = _closest(key, self._lookup, lambda pid: self.pokemon[pid].name)
            raise PokedexError(
                f"Unknown Pokémon {_shown(name)} in the {self.roster} roster.{hint}"
                " Check the spelling or pick one from the roster."
            )
        return self.pokemon[found]

    def resolve_move(self, name: str) -> Move:
        """Find a damaging move forgivingly ('Thunderbolt', 'thunder-bolt', 'THUNDERBOLT')."""
        key = _checked_key(name, "move")
        found = self._move_lookup.get(key)
        if found is None and key in self._excluded_lookup:
            left_out = self.excluded[self._excluded_lookup[key]]
            raise PokedexError(
                f"{left_out.name} is not simulated: {left_out.reason}. It is left out of every"
                " learnset; pick another move (`python -m core.pokedex moves` lists them)."
            )
        if found is None:
            hint = _closest(key, self._move_lookup, lambda mid: self.moves[mid].name)
            raise PokedexError(
                f"Unknown damaging move {_shown(name)}.{hint} Only physical and special moves"
                " with a base power are simulated."
            )
        return self.moves[found]

    def resolve_moveset(self, pokemon: Pokemon, names: list[str] | str | None) -> list[str] | None:
        """Validate up to four moves the Pokémon can learn; None or empty means 'default'."""
        if names is None:
            return None
        if isinstance(names, str):
            names = [n for n in names.split(",") if n.strip()]
        names = [n for n in names if n and n.strip()]
        if not names:
            return None
        if len(names) > 4:
            raise PokedexError(f"{pokemon.name} can use at most 4 moves, got {len(names)}.")
        resolved: list[str] = []
        learnable = ", ".join(self.moves[m].name for m in pokemon.moves)
        for name in names:
            try:
                move = self.resolve_move(name)
            except PokedexError as error:
                raise PokedexError(f"{error} {pokemon.name} can use: {learnable}.") from None
            if move.id not in pokemon.moves:
                raise PokedexError(
                    f"{pokemon.name} cannot learn {move.name} in the {self.roster} roster."
                    f" It can learn: {learnable}."
                )
            if move.id not in resolved:
                resolved.append(move.id)
        return resolved

    def type_multiplier(self, move_type: str, defender: Pokemon) -> float:
        """Type effectiveness of a move type against a Pokémon (product over its types)."""
        index = TYPES.index(move_type) if move_type in TYPES else TYPELESS
        return float(self.effectiveness[index, self.pokemon_index[defender.id]])


def _build_type_chart(raw: dict) -> np.ndarray:
    chart = np.ones((len(TYPES) + 1, len(TYPES)), dtype=np.float64)
    for defending, entry in raw.items():
        name = defending.capitalize()
        if name not in TYPES:
            continue
        for attacking, code in entry["damageTaken"].items():
            if attacking in TYPES:
                chart[TYPES.index(attacking), TYPES.index(name)] = _DAMAGE_TAKEN[int(code)]
    return chart


@dataclass(frozen=True)
class ExcludedMove:
    """A damaging move left out of the learnsets, and why."""

    id: str
    name: str
    reason: str


@dataclass(frozen=True)
class CoverageRow:
    """One damaging move of a roster's learnsets: how the simulator handles it."""

    id: str
    name: str
    handling: Literal["modelled", "excluded"]
    detail: str  # the rules it follows, or why it is left out
    learners: int  # Pokémon of the roster that learn it


@functools.cache
def load_pokedex(roster: str = "letsgo") -> Pokedex:
    """Load a roster ("letsgo": Let's Go Pikachu/Eevee; "kanto": the 151) from poke-env's data.

    The roster's share of poke-env's files is cached, verified, in `.cache/pokedex`
    (core.pokedex.source): a fresh process parses 0.2 MB instead of 4.5 MB. Once per process.

    Raises:
        PokedexError: unknown roster.
    """
    if roster not in ROSTERS:
        raise PokedexError(f"Unknown roster {roster!r}: choose one of {', '.join(ROSTERS)}.")
    tables = source.read_inputs(roster, SOURCE_FILES, functools.partial(roster_tables, roster))
    return build_pokedex(roster, tables)


def roster_tables(roster: str, full: dict[str, dict]) -> dict[str, dict]:
    """What one roster's build reads of poke-env's tables (the cached share; same results)."""
    codes = _learnset_codes(roster)
    damaging = {mid: data for mid, data in full["moves"].items() if is_damaging(data)}
    species = {
        sid: data
        for sid, data in full["species"].items()
        if "num" in data and _in_roster(data, roster)
    }
    bases = {
        normalize_name(data.get("changesFrom") or data.get("baseSpecies", data["name"]))
        for data in species.values()
    }
    learnsets = {}
    for sid in sorted(set(species) | bases):
        entries = (full["learnsets"].get(sid) or {}).get("learnset") or {}
        kept = {
            mid: [code for code in sources if code.startswith(codes)]
            for mid, sources in entries.items()
            if mid in damaging
        }
        learnsets[sid] = {"learnset": {mid: sources for mid, sources in kept.items() if sources}}
    used = {mid for entry in learnsets.values() for mid in entry["learnset"]}
    moves = {mid: data for mid, data in damaging.items() if mid in used}
    return {
        "species": species,
        "moves": moves,
        "learnsets": learnsets,
        "typechart": full["typechart"],
    }


def build_pokedex(roster: str, tables: dict[str, dict]) -> Pokedex:
    """Build a roster's Pokédex from poke-env's tables (full, or the roster's cached share)."""
    species_data, move_data = tables["species"], tables["moves"]
    learnsets = tables["learnsets"]
    type_chart = _build_type_chart(tables["typechart"])
    codes = _learnset_codes(roster)
    reasons = {
        mid: exclusion_reason(mid, data, roster == "letsgo")
        for mid, data in move_data.items()
        if is_damaging(data)
    }

    def damaging_learnset(species_id: str) -> set[str]:
        entries = (learnsets.get(species_id) or {}).get("learnset") or {}
        return {
            mid
            for mid, sources in entries.items()
            if mid in reasons and any(src.startswith(codes) for src in sources)
        }

    pokemon: dict[str, Pokemon] = {}
    chosen = sorted(
        (sid for sid, data in species_data.items() if "num" in data and _in_roster(data, roster)),
        key=lambda sid: (species_data[sid]["num"], sid),
    )
    learners: dict[str, int] = {}
    for sid in chosen:
        data = species_data[sid]
        base_species = data.get("baseSpecies", data["name"])
        moves = damaging_learnset(sid)
        if not moves:  # Megas and some formes share their base species' learnset
            base_id = normalize_name(data.get("changesFrom") or base_species)
            moves = damaging_learnset(base_id)
        for mid in moves:
            learners[mid] = learners.get(mid, 0) + 1
        kept = sorted(mid for mid in moves if reasons[mid] is None)
        pokemon[sid] = Pokemon(
            id=sid,
            name=data["name"],
            number=int(data["num"]),
            types=tuple(data["types"]),
            base_stats={s: int(data["baseStats"][s]) for s in STAT_NAMES},
            moves=tuple(kept) if kept else (STRUGGLE_ID,),
            base_species=base_species,
        )
    modelled = sorted(mid for mid in learners if reasons[mid] is None)
    moves_table = {mid: build_move(mid, move_data[mid]) for mid in modelled}
    moves_table[STRUGGLE_ID] = STRUGGLE
    excluded = {
        mid: ExcludedMove(mid, move_data[mid]["name"], str(reasons[mid]))
        for mid in sorted(learners)
        if reasons[mid] is not None
    }
    coverage = [_coverage_row(mid, moves_table, excluded, learners) for mid in sorted(learners)]
    return Pokedex(roster, pokemon, moves_table, type_chart, excluded, coverage)


def _coverage_row(
    mid: str, moves: dict[str, Move], excluded: dict[str, ExcludedMove], learners: dict[str, int]
) -> CoverageRow:
    if mid in excluded:
        return CoverageRow(mid, excluded[mid].name, "excluded", excluded[mid].reason, learners[mid])
    move = moves[mid]
    detail = ", ".join(move.rules) + (f" ({move.notes})" if move.notes else "")
    return CoverageRow(mid, move.name, "modelled", detail, learners[mid])
