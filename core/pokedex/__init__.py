"""The roster, stats, types, damaging moves, learnsets and type chart, from poke-env's static data.

poke-env ships Pokémon Showdown's data (pokedex, moves, learnsets, type charts per generation) in
its wheel, so nothing is downloaded at run time. Everything the simulator needs is also exposed as
numpy arrays indexed by roster position and move position.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import numpy as np
from core.errors import PredictionDexError

Category = Literal["Physical", "Special"]
RosterName = Literal["letsgo", "kanto"]
ROSTERS: tuple[str, ...] = ("letsgo", "kanto")
STAT_NAMES: tuple[str, ...] = ("hp", "atk", "def", "spa", "spd", "spe")
TYPES: tuple[str, ...] = (
    "Normal", "Fire", "Water", "Electric", "Grass", "Ice", "Fighting", "Poison", "Ground",
    "Flying", "Psychic", "Bug", "Rock", "Ghost", "Dragon", "Dark", "Steel", "Fairy",
)  # fmt: skip
TYPELESS = len(TYPES)  # the type index of Struggle: hits everything for neutral damage
STRUGGLE_ID = "struggle"
MIN_LEVEL, MAX_LEVEL = 1, 100
DATA_GENERATION = 7  # Let's Go Pikachu/Eevee are generation 7 games in Showdown's data

# Showdown's damageTaken codes: 0 neutral, 1 weak (x2), 2 resists (x0.5), 3 immune (x0).
_DAMAGE_TAKEN = {0: 1.0, 1: 2.0, 2: 0.5, 3: 0.0}
# Expected hits of multi-hit moves: 2-5 hits land 2, 3, 4, 5 times with 35/35/15/15 %.
_EXPECTED_HITS_2_TO_5 = 3.1
# Moves whose effect depends on what the simulator does not model (sleep, first turn, a move used
# by the target, item) are left out rather than simulated wrongly.
_CONDITIONAL_MOVES = frozenset(
    {"dreameater", "snore", "fakeout", "firstimpression", "focuspunch", "lastresort", "belch",
     "suckerpunch", "synchronoise", "futuresight", "doomdesire", "naturalgift", "fling"}
)  # fmt: skip
_LETSGO_FORMES = {"", "Alola", "Mega", "Mega-X", "Mega-Y", "Starter"}
_KANTO_FORMES = {""}


class PokedexError(PredictionDexError, ValueError):
    """An unknown or invalid Pokémon, move or level; the message says what to do."""


@dataclass(frozen=True)
class Move:
    """A damaging move as the simulator uses it."""

    id: str
    name: str
    type: str  # one of TYPES, or "???" for typeless Struggle
    category: Category
    power: float  # base power x expected hits for multi-hit moves
    accuracy: float  # hit probability in 0..1
    priority: int

    @property
    def type_index(self) -> int:
        """Index into TYPES (TYPELESS for Struggle)."""
        return TYPES.index(self.type) if self.type in TYPES else TYPELESS


STRUGGLE = Move(
    id=STRUGGLE_ID,
    name="Struggle",
    type="???",
    category="Physical",
    power=50.0,
    accuracy=1.0,
    priority=0,
)


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


_GENDER_SIGNS = str.maketrans({"♀": "f", "♂": "m"})


def normalize_name(name: str) -> str:
    """Lower-case ASCII letters and digits only: 'Mr. Mime' -> 'mrmime', 'Flabébé' -> 'flabebe'."""
    ascii_name = (
        unicodedata.normalize("NFKD", name.translate(_GENDER_SIGNS))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


def _read_static(relative: str) -> dict:
    root = resources.files("poke_env") / "data" / "static"
    return json.loads((root / relative).read_text(encoding="utf-8"))


def _is_damaging(move_id: str, data: dict, allow_letsgo_moves: bool) -> bool:
    if move_id in _CONDITIONAL_MOVES:
        return False
    if data.get("category") not in ("Physical", "Special") or not data.get("basePower"):
        return False
    nonstandard = data.get("isNonstandard")
    if nonstandard in ("CAP", "Unobtainable", "Past", "Future") or (
        nonstandard == "LGPE" and not allow_letsgo_moves
    ):
        return False
    flags = data.get("flags") or {}
    volatile = (data.get("self") or {}).get("volatileStatus")
    # Moves whose cost the simulator does not model are left out (documented in the README).
    return not (
        data.get("isZ")
        or data.get("isMax")
        or data.get("ohko")
        or data.get("selfdestruct")
        or flags.get("charge")
        or volatile == "mustrecharge"
    )


def _build_move(move_id: str, data: dict) -> Move:
    hits = data.get("multihit")
    if isinstance(hits, list):
        multiplier = _EXPECTED_HITS_2_TO_5 if hits == [2, 5] else (hits[0] + hits[1]) / 2
    else:
        multiplier = float(hits or 1)
    accuracy = 1.0 if data["accuracy"] is True else float(data["accuracy"]) / 100.0
    return Move(
        id=move_id,
        name=data["name"],
        type=data["type"],
        category=data["category"],
        power=float(data["basePower"]) * multiplier,
        accuracy=accuracy,
        priority=int(data.get("priority", 0)),
    )


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
    _lookup: dict[str, str] = field(default_factory=dict, repr=False)
    _move_lookup: dict[str, str] = field(default_factory=dict, repr=False)

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
        self.move_power = np.array([m.power for m in self.moves.values()], dtype=np.float64)
        self.move_type = np.array([m.type_index for m in self.moves.values()], dtype=np.int16)
        self.move_physical = np.array([m.category == "Physical" for m in self.moves.values()])
        self.move_accuracy = np.array([m.accuracy for m in self.moves.values()], dtype=np.float64)
        self.move_priority = np.array([m.priority for m in self.moves.values()], dtype=np.int8)
        # effectiveness[move_type, pokemon]: the multiplier of a move type against that Pokémon.
        first = self.type_chart[:, self.type_indices[:, 0]]
        second = self.type_chart[:, self.type_indices[:, 1]]
        single = self.type_indices[:, 0] == self.type_indices[:, 1]
        self.effectiveness = np.where(single[None, :], first, first * second)
        width = max(len(p.moves) for p in entries)
        self.learnset_matrix = np.full((len(entries), width), -1, dtype=np.int32)
        for row, entry in enumerate(entries):
            self.learnset_matrix[row, : len(entry.moves)] = [
                self.move_index[m] for m in entry.moves
            ]
        self._lookup = _name_lookup(entries)
        self._move_lookup = {normalize_name(m.name): m.id for m in self.moves.values()}
        self._move_lookup.update({m.id: m.id for m in self.moves.values()})

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
        for name in names:
            move = self.resolve_move(name)
            if move.id not in pokemon.moves:
                learnable = ", ".join(self.moves[m].name for m in pokemon.moves)
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


def _closest(key: str, lookup: dict[str, str], display: Callable[[str], str]) -> str:
    """' Closest matches: A, B.' for an unknown key (empty when nothing is close)."""
    suggestions = difflib.get_close_matches(key, list(lookup), n=5, cutoff=0.6)
    names = sorted({display(lookup[s]) for s in suggestions})
    return f" Closest matches: {', '.join(names)}." if names else ""


def _shown(name: str) -> str:
    """A user-given name made safe to echo: printable, at most 40 characters."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return repr(printable[:40] + ("…" if len(printable) > 40 else ""))


# Control, invisible (zero-width, bidi overrides), separator and unassigned code points.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _code_point(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '(unnamed)')}"


def _suspicious(name: str) -> str | None:
    """Why a typed name is refused before lookup (it would otherwise fold into a real name)."""
    for ch in name:
        if unicodedata.category(ch) in _HIDDEN_CATEGORIES:
            return f"contains the control or invisible character {_code_point(ch)}"
    if "/" in name or "\\" in name or ".." in name:
        return "contains path characters ('/', '\\' or '..')"
    for ch in name.translate(_GENDER_SIGNS):
        if unicodedata.normalize("NFKC", ch) != ch:
            return f"contains the styled character {_code_point(ch)}"
        if ch.isalpha() and not unicodedata.normalize("NFKD", ch).encode("ascii", "ignore"):
            return f"contains {_code_point(ch)}, which is not a Latin letter"
    return None


def _checked_key(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise PokedexError(f"A {what} name must be text, got {type(name).__name__}.")
    if len(name) > 64:
        raise PokedexError(f"That {what} name is {len(name)} characters long; names are short.")
    name = name.strip()
    why = _suspicious(name)
    if why:
        raise PokedexError(f"That {what} name {why}: type it with plain letters, e.g. 'Pikachu'.")
    key = normalize_name(name)
    if not key:
        raise PokedexError(f"Empty {what} name {_shown(name)}: type a name such as 'Pikachu'.")
    return key


def _name_lookup(entries: list[Pokemon]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for entry in entries:
        lookup[entry.id] = entry.id
        lookup[normalize_name(entry.name)] = entry.id
        base = normalize_name(entry.base_species)
        suffix = entry.id.removeprefix(base)
        # "Alolan Raichu", "Mega Charizard X", "Partner Pikachu"
        if suffix.startswith("alola"):
            lookup["alolan" + base] = entry.id
        elif suffix.startswith("mega"):
            lookup["mega" + base + suffix.removeprefix("mega")] = entry.id
        elif suffix == "starter":
            lookup["partner" + base] = entry.id
    return lookup


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


@functools.cache
def load_pokedex(roster: str = "letsgo") -> Pokedex:
    """Load a roster ("letsgo": Let's Go Pikachu/Eevee; "kanto": the 151) from poke-env's data."""
    if roster not in ROSTERS:
        raise PokedexError(f"Unknown roster {roster!r}: choose one of {', '.join(ROSTERS)}.")
    species_data = _read_static(f"pokedex/gen{DATA_GENERATION}pokedex.json")
    move_data = _read_static(f"moves/gen{DATA_GENERATION}moves.json")
    learnsets = _read_static("learnset.json")
    type_chart = _build_type_chart(_read_static(f"typechart/gen{DATA_GENERATION}typechart.json"))
    allow_letsgo_moves = roster == "letsgo"
    codes = _learnset_codes(roster)
    damaging = {
        mid: _build_move(mid, data)
        for mid, data in move_data.items()
        if _is_damaging(mid, data, allow_letsgo_moves)
    }

    def damaging_learnset(species_id: str) -> set[str]:
        entries = (learnsets.get(species_id) or {}).get("learnset") or {}
        return {
            mid
            for mid, sources in entries.items()
            if mid in damaging and any(src.startswith(codes) for src in sources)
        }

    pokemon: dict[str, Pokemon] = {}
    chosen = sorted(
        (sid for sid, data in species_data.items() if "num" in data and _in_roster(data, roster)),
        key=lambda sid: (species_data[sid]["num"], sid),
    )
    used_moves: set[str] = set()
    for sid in chosen:
        data = species_data[sid]
        base_species = data.get("baseSpecies", data["name"])
        moves = damaging_learnset(sid)
        if not moves:  # Megas and some formes share their base species' learnset
            base_id = normalize_name(data.get("changesFrom") or base_species)
            moves = damaging_learnset(base_id)
        move_ids = tuple(sorted(moves)) if moves else (STRUGGLE_ID,)
        used_moves.update(move_ids)
        pokemon[sid] = Pokemon(
            id=sid,
            name=data["name"],
            number=int(data["num"]),
            types=tuple(data["types"]),
            base_stats={s: int(data["baseStats"][s]) for s in STAT_NAMES},
            moves=move_ids,
            base_species=base_species,
        )
    moves_table = {mid: damaging[mid] for mid in sorted(used_moves - {STRUGGLE_ID})}
    moves_table[STRUGGLE_ID] = STRUGGLE
    return Pokedex(roster=roster, pokemon=pokemon, moves=moves_table, type_chart=type_chart)
