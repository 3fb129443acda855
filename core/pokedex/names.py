"""Forgiving, safe name lookup for Pokémon and moves: normalisation, refusal, closest matches."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import PredictionDexError

if TYPE_CHECKING:
    from core.pokedex import Pokemon


class PokedexError(PredictionDexError, ValueError):
    """An unknown or invalid Pokémon, move or level; the message says what to do.

    Attributes:
        field: the input it is about ("pokemon_a", "level_b", "moves_a", ...), or None when the
            raise site does not know; set by whoever maps inputs to fields (`about`).
    """

    field: str | None = None

    def about(self, field: str) -> PokedexError:
        """This error, naming the input `field` it is about (kept if already named)."""
        if self.field is None:
            self.field = field
        return self


_GENDER_SIGNS = str.maketrans({"♀": "f", "♂": "m"})


def normalize_name(name: str) -> str:
    """Lower-case ASCII letters and digits only: 'Mr. Mime' -> 'mrmime', 'Flabébé' -> 'flabebe'."""
    ascii_name = (
        unicodedata.normalize("NFKD", name.translate(_GENDER_SIGNS))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


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


_GENDER_FORMS = {"F": "♀", "M": "♂"}


def display_aliases(entry: Pokemon) -> tuple[str, ...]:
    """Other names people type for an entry, each of which resolves to it.

    'Raichu-Alola' -> ('Alolan Raichu',), 'Charizard-Mega-X' -> ('Mega Charizard X',),
    'Pikachu-Starter' -> ('Partner Pikachu',), 'Farfetch’d' -> ("Farfetch'd", 'Farfetchd'),
    'Mr. Mime' -> ('Mr Mime',), 'Nidoran-F' -> ('Nidoran♀',). Select boxes put them in the
    option labels, since a select box filters on its labels only.
    """
    base = entry.base_species
    form = entry.name.removeprefix(base).strip("-")
    aliases: list[str] = []
    if form == "Alola":
        aliases.append(f"Alolan {base}")
    elif form.startswith("Mega"):
        aliases.append(" ".join(["Mega", base, *form.split("-")[1:]]))
    elif form == "Starter":
        aliases.append(f"Partner {base}")
    plain = entry.name.replace("’", "'")
    bare = re.sub(r"[.'’]", "", entry.name)
    gender = re.fullmatch(r"(.+)-([FM])", entry.name)
    if gender:
        aliases.append(gender[1] + _GENDER_FORMS[gender[2]])
    aliases.extend(name for name in (plain, bare) if name != entry.name)
    return tuple(dict.fromkeys(aliases))
