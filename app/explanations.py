"""The "Why" of a prediction in plain words: labels with names and values, one bar per reason.

A feature that has the same value on both sides (both at level 50, both 2 hits from a KO) is one
bar "both ..." with the sum of its two contributions, never two opposite bars. Everything here is
plain Python over core's results (no Streamlit), so it is tested directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.features import FEATURE_COLUMNS, mirror_rows
from core.predict import Prediction, ServedModel
from core.predict.answers import resolve

TOP_REASONS = 8
STAT_WORDS = {"hp": "HP", "atk": "Attack", "def": "Defense", "spa": "Sp. Atk", "spd": "Sp. Def"}
STAT_WORDS["spe"] = "Speed"


@dataclass(frozen=True)
class Reason:
    """One bar: `label` (a sentence naming the Pokémon and the value), `contribution` (> 0 favours
    A, in the model's unit) and `feature` (the FEATURE_COLUMNS name, or 'a_x+b_x' when merged)."""

    label: str
    contribution: float
    feature: str


@dataclass(frozen=True)
class Explanation:
    """`reasons` (largest |contribution| first), `unit` ("log-odds" or "probability") and
    `base_rate`: P(A wins) the model gives before it looks at the matchup, what 0 means (½: the
    served answer is antisymmetric, so the model's own bias cancels)."""

    reasons: tuple[Reason, ...]
    unit: str
    base_rate: float


def side_names(name_a: str, name_b: str) -> tuple[str, str]:
    """The two sides as the page names them: 'Pikachu (A)' / 'Pikachu (B)' when both sides are
    the same Pokémon (a mirror), so no sentence reads 'right for Pikachu, left for Pikachu'."""
    if name_a != name_b:
        return name_a, name_b
    return f"{name_a} (A)", f"{name_b} (B)"


def _side_what(rest: str, value: float, other: str) -> str | None:
    """What one side's feature says, without its subject ('needs 3 hits to KO Onix')."""
    if rest == "level":
        return f"is level {value:g}"
    if rest.startswith("stat_"):
        return f"has {STAT_WORDS.get(rest[5:], rest[5:])} {value:.0f}"
    if rest.startswith("type_"):
        kind = rest[5:].capitalize()
        return f"is {kind}-type" if value >= 0.5 else f"is not {kind}-type"
    phrases = {
        "move_power": (
            f"'s best move has power {value:g}"
            if value > 0  # power 0: level, fixed or half-HP damage, not from the formula
            else "'s best move does set damage (its level, a fixed amount or half the HP)"
        ),
        "move_effectiveness": f"'s best move is ×{value:g} effective on {other}",
        "move_stab": f"'s best move gets a same-type bonus ×{value:g}",
        "move_physical": "'s best move is " + ("physical" if value >= 0.5 else "special"),
        "move_accuracy": f"'s best move hits {value:.0f}% of the time",
        "move_priority": f"'s best move has priority {value:+g}",
        "moves_known": f"knows {value:.0f} damaging move(s)",
        "random_policy": "picks moves at random" if value >= 0.5 else "always picks its best move",
        "best_effectiveness": f"'s most effective move is ×{value:g} on {other}",
        "expected_damage_share": f"deals {value:.0%} of {other}'s HP per turn",
        "hits_to_ko_low_roll": f"needs {value:g} hits to KO {other} on low rolls",
        "hits_to_ko_high_roll": f"needs {value:g} hits to KO {other} on high rolls",
        "turns_to_ko": (
            f"KOs {other} in one turn"
            if value <= 1
            else f"needs about {value:.1f} turns to KO {other}"
        ),
        "analytic_win": f"wins {value:.0%} of the time by the damage-race estimate",
    }
    if rest in phrases:
        return phrases[rest]
    if rest.startswith("ko_within_"):
        turns = rest.removeprefix("ko_within_")
        return f"KOs {other} within {turns} turn(s) with probability {value:.0%}"
    return None


def _sentence(who: str, what: str) -> str:
    """'Dragonite' + "'s best move ..." or 'Dragonite' + 'is level 50'."""
    return f"{who}{what}" if what.startswith("'s ") else f"{who} {what}"


def _without_verb(what: str) -> str:
    """'is level 50' -> 'level 50', "'s best move ..." -> 'best move ...' (after 'Both A and B:')."""
    for start in ("'s ", "is ", "has "):
        if what.startswith(start):
            return what.removeprefix(start)
    return what


def _ratio(mine: float, theirs: float) -> str:
    return "∞" if theirs <= 0 else f"{mine / theirs:.1f}"


def _pair_label(feature: str, values: dict[str, float], name_a: str, name_b: str) -> str | None:
    """A sentence for a feature about both sides at once."""
    value = values[feature]
    if feature == "expected_damage_share_difference":
        share_a = values.get("a_expected_damage_share", 0.0)
        share_b = values.get("b_expected_damage_share", 0.0)
        if math.isclose(share_a, share_b, rel_tol=1e-6):
            return f"{name_a} and {name_b} take the same share of each other's HP per turn"
        if share_a > share_b:
            ratio = _ratio(share_a, share_b)
            return f"{name_a}'s best move does {ratio}× more of {name_b}'s HP per turn"
        ratio = _ratio(share_b, share_a)
        return f"{name_b}'s best move does {ratio}× more of {name_a}'s HP per turn"
    if feature == "a_moves_first":
        if value in (0.0, 1.0):
            return f"{name_a if value else name_b} moves first"
        return f"{name_a} moves first {value:.0%} of the time"
    if feature == "speed_ratio":
        return f"{name_a} is {value:.2g}× as fast as {name_b}"
    for stem, noun in (("turns_to_ko", "turns"), ("hits_to_ko", "hits")):
        if feature == f"{stem}_difference":
            if value == 0:
                return f"both need as many {noun} to KO the other"
            faster, slower = (name_a, name_b) if value > 0 else (name_b, name_a)
            return f"{faster} needs {abs(value):.1f} fewer {noun} to KO than {slower}"
    if feature == "analytic_edge":
        return f"damage-race edge of {name_a}: {value:+.0%}"
    return None


def _fallback(feature: str, name_a: str, name_b: str, value: float) -> str:
    side, _, rest = feature.partition("_")
    who = {"a": name_a, "b": name_b}.get(side)
    words = (rest if who else feature).replace("_", " ")
    return f"{who}: {words} = {value:.3g}" if who else f"{words} = {value:.3g}"


def reasons_from(
    values: dict[str, float], contributions: dict[str, float], name_a: str, name_b: str
) -> list[Reason]:
    """Plain-language reasons, same-valued side pairs merged, largest |contribution| first."""
    reasons: list[Reason] = []
    done: set[str] = set()
    for feature in contributions:
        if feature in done:
            continue
        side, _, rest = feature.partition("_")
        partner = f"{'b' if side == 'a' else 'a'}_{rest}"
        if side in ("a", "b") and partner in contributions and feature != "a_moves_first":
            done.update((feature, partner))
            value_a, value_b = values[f"a_{rest}"], values[f"b_{rest}"]
            total = contributions[feature] + contributions[partner]
            if value_a == value_b:
                what = _side_what(rest, value_a, "the other") or rest.replace("_", " ")
                label = f"Both {name_a} and {name_b}: {_without_verb(what)}"
                reasons.append(Reason(label, total, f"a_{rest}+b_{rest}"))
                continue
            for who, other, name in ((name_a, name_b, f"a_{rest}"), (name_b, name_a, f"b_{rest}")):
                what = _side_what(rest, values[name], other)
                label = (
                    _sentence(who, what) if what else _fallback(name, name_a, name_b, values[name])
                )
                reasons.append(Reason(label, contributions[name], name))
            continue
        done.add(feature)
        label = _pair_label(feature, values, name_a, name_b)
        label = label or _fallback(feature, name_a, name_b, values[feature])
        reasons.append(Reason(label, contributions[feature], feature))
    reasons.sort(key=lambda reason: -abs(reason.contribution))
    return reasons


def _swapped(feature: str) -> str:
    """The column that holds the same fact in the mirrored row (B vs A): a_x <-> b_x."""
    side, _, rest = feature.partition("_")
    partner = f"{'b' if side == 'a' else 'a'}_{rest}" if side in ("a", "b") else feature
    return partner if partner in FEATURE_COLUMNS else feature


def explain_prediction(
    served: ServedModel, prediction: Prediction, top: int = TOP_REASONS
) -> Explanation:
    """The `top` reasons for `prediction` under `served` (the model that answered it).

    The served answer reads the matchup both ways (q = ½ + (f(A,B) − f(B,A)) / 2), so each
    reason's push is half its contribution to f(A,B) minus half that of the same fact to f(B,A):
    the model's own base rate cancels, zero means even, and the pushes add up to the served
    score exactly for a random forest (in log-odds, the two margins' half-difference, for XGBoost).
    """
    _, row = resolve(
        served.roster, prediction.pokemon_a, prediction.pokemon_b, prediction.level_a,
        prediction.level_b, tuple(prediction.moves_a), tuple(prediction.moves_b),
    )  # fmt: skip
    both = np.concatenate([row[:1], mirror_rows(row[:1])])
    tables = served.bundle.contributions(served.scorer.frame(both))
    direct, mirrored = (tables.iloc[i].drop("bias") for i in (0, 1))
    values = dict(zip(FEATURE_COLUMNS, np.asarray(row[0], dtype=np.float64).tolist(), strict=True))
    contributions = {
        str(name): (float(direct[name]) - float(mirrored.get(_swapped(str(name)), 0.0))) / 2
        for name in direct.index
    }
    unit = "log-odds" if served.model_type == "xgboost" else "probability"
    name_a, name_b = side_names(prediction.name_a, prediction.name_b)
    reasons = reasons_from(values, contributions, name_a, name_b)
    return Explanation(tuple(reasons[:top]), unit, 0.5)
