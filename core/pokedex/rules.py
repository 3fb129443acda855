"""The per-move rule table, derived from Showdown's generation-7 move data (shipped by poke-env).

Every damaging move is either modelled (`Move`, with the rules it follows: stat overrides, crit
stage, fixed / level / half-HP damage, hit counts, recoil, drain, type and power exceptions) or
excluded with a reason. The data's own fields decide: a field this table knows becomes a rule, a
field whose effect cannot happen in a 1v1 battle without status, items, weather or a bench is
noted as such, and any other field (a callback we do not model, a guaranteed side effect) excludes
the move. Nothing is guessed: an unknown field excludes the move rather than simulate it wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["Physical", "Special"]
TYPES: tuple[str, ...] = (
    "Normal", "Fire", "Water", "Electric", "Grass", "Ice", "Fighting", "Poison", "Ground",
    "Flying", "Psychic", "Bug", "Rock", "Ghost", "Dragon", "Dark", "Steel", "Fairy",
)  # fmt: skip
TYPELESS = len(TYPES)  # the type index of Struggle: hits everything for neutral damage
STRUGGLE_ID = "struggle"
# Generation 7 critical-hit chance by stage (critRatio 1 = stage 0): 1/24, 1/8, 1/2, always.
CRIT_CHANCE_BY_STAGE: tuple[float, ...] = (1 / 24, 1 / 8, 1 / 2, 1.0)
# Hit counts of a 2-5-hit move in generation 5+: 2, 3, 4, 5 hits with 35/35/15/15 %.
HITS_2_TO_5: tuple[tuple[int, float], ...] = ((2, 0.35), (3, 0.35), (4, 0.15), (5, 0.15))
IV = 31  # every IV, so Hidden Power's type and power follow from it
# Hidden Power's type order in the games' formula (gen 3+), indexed by the 0..15 result.
_HIDDEN_POWER_ORDER = (
    "Fighting", "Flying", "Poison", "Ground", "Rock", "Bug", "Ghost", "Steel", "Fire", "Water",
    "Grass", "Electric", "Psychic", "Ice", "Dragon", "Dark",
)  # fmt: skip
RULE_KINDS: tuple[str, ...] = (
    "standard", "high_crit", "always_crit", "target_attack", "defense_override",
    "attack_override", "fixed_damage", "level_damage", "half_hp", "recoil", "drain",
    "fixed_hits", "hits_2_to_5", "type_exception", "hidden_power", "acrobatics",
    "struggle_recoil", "no_effect_here",
)  # fmt: skip

# Data fields that change nothing the simulator computes differently (bookkeeping, display).
_NEUTRAL_FIELDS = frozenset(
    {"accuracy", "basePower", "category", "contestType", "flags", "name", "num", "pp", "priority",
     "target", "type", "maxMove", "zMove", "isNonstandard", "desc", "shortDesc", "noPPBoosts",
     "secondary", "secondaries", "critRatio", "willCrit", "multihit", "recoil", "drain",
     "overrideOffensivePokemon", "overrideOffensiveStat", "overrideDefensiveStat", "damage",
     "self", "struggleRecoil", "hasSheerForce", "ignoreAbility", "gen"}
)  # fmt: skip
# Fields whose effect cannot happen here (no status, items, stat stages, weather or bench).
_NO_EFFECT_FIELDS = {
    "thawsTarget": "thaws a frozen target: no status here",
    "breaksProtect": "breaks Protect: nobody protects here",
    "selfSwitch": "switches the user out: no bench in a 1v1",
    "forceSwitch": "forces a switch: no bench in a 1v1 (its priority is kept)",
    "ignoreDefensive": "ignores stat stages: none here",
    "ignoreEvasion": "ignores stat stages: none here",
}
# Callbacks the data names without saying what they do: per move, what it does here.
_HANDLED_CALLBACKS: dict[str, dict[str, str]] = {
    "acrobatics": {"basePowerCallback": "acrobatics"},
    "hiddenpower": {"onModifyType": "hidden_power"},
    "freezedry": {"onEffectiveness": "type_exception"},
    "superfang": {"damageCallback": "half_hp"},
    "naturesmadness": {"damageCallback": "half_hp"},
    "blizzard": {"onModifyMove": "no_effect_here"},  # accuracy changes in hail: no weather
    "thunder": {"onModifyMove": "no_effect_here"},  # accuracy changes in rain/sun: no weather
    "hurricane": {"onModifyMove": "no_effect_here"},
    "secretpower": {"onModifyMove": "no_effect_here"},  # its side effect follows the terrain
    "clearsmog": {"onHit": "no_effect_here"},  # resets stat stages: none here
    "freezyfrost": {"onHit": "no_effect_here"},
    "bugbite": {"onHit": "no_effect_here"},  # eats the target's berry: no items
    "pluck": {"onHit": "no_effect_here"},
    "incinerate": {"onHit": "no_effect_here"},
    "thief": {"onAfterHit": "no_effect_here"},  # steals an item: no items
    "covet": {"onAfterHit": "no_effect_here"},
    "rapidspin": {"onAfterHit": "no_effect_here", "onAfterSubDamage": "no_effect_here"},
    "flameburst": {"onHit": "no_effect_here", "onAfterSubDamage": "no_effect_here"},
    "brickbreak": {"onTryHit": "no_effect_here"},  # breaks screens: none here
    "fellstinger": {"onAfterMoveSecondarySelf": "no_effect_here"},  # boost after a KO: game over
}
# Why a move is left out, by the data field that makes it conditional (first match wins).
_EXCLUDING_FIELDS = {
    "isZ": "Z-move", "isMax": "Max move",
    "ohko": "one-hit KO", "selfdestruct": "the user faints (self-KO)",
    "hasCrashDamage": "crash damage to the user on a miss",
    "multiaccuracy": "power rises with each hit, each checking accuracy",
    "basePowerCallback": "power depends on a condition (HP, weight, speed, turn order, friendship, a previous move…)",
    "onBasePower": "power boosted under a condition (status, item, HP, an ally fainting…)",
    "damageCallback": "damage from a callback (a counter, an HP difference, a random amount)",
    "beforeMoveCallback": "acts before moving (charges, stores damage)",
    "beforeTurnCallback": "reacts to the target's action",
    "priorityChargeCallback": "charges at the start of the turn",
    "onTry": "works only in some situations (first turn, target attacking, asleep, a berry…)",
    "onTryMove": "works only in some situations (charge turn, a previous use…)",
    "onTryImmunity": "works only in some situations (a sleeping target…)",
    "onTryHit": "depends on the target (weight, protection…)",
    "sleepUsable": "usable only while asleep",
    "onDamage": "cannot knock out: leaves the target at 1 HP",
    "onModifyType": "type depends on weather, an item or the user",
    "onEffectiveness": "type effectiveness changed by a rule",
    "onPrepareHit": "combines with other moves or items",
    "onModifyMove": "power, type or effect change with the situation (weather, a random roll)",
    "onHit": "an effect on hit that changes the battle",
    "onAfterHit": "an effect after hitting that changes the battle",
    "onAfterMove": "an effect after moving that changes the battle",
    "onAfterSubDamage": "an effect after hitting that changes the battle",
    "onAfterMoveSecondarySelf": "an effect on the user after hitting",
    "condition": "sets up a lasting effect",
    "volatileStatus": "puts a lasting effect on the target (trapping damage, grounding…)",
    "ignoreImmunity": "ignores type immunity under a rule",
}  # fmt: skip


@dataclass(frozen=True)
class Move:
    """A damaging move as the simulator uses it, with the rules it follows.

    `power` is the base power of one hit (after the modelled power rules: Acrobatics 110);
    fixed-damage moves have power 0 and `fixed_damage` > 0, `level_damage` or `half_hp`.
    """

    id: str
    name: str
    type: str  # one of TYPES, or "???" for typeless Struggle
    category: Category
    power: float
    accuracy: float  # hit probability in 0..1
    priority: int
    rules: tuple[str, ...] = ("standard",)  # RULE_KINDS this move follows
    crit_stage: int = 0  # 0..3: 1/24, 1/8, 1/2, always
    min_hits: int = 1
    max_hits: int = 1  # 2..5 hits use HITS_2_TO_5
    fixed_damage: int = 0
    level_damage: bool = False
    half_hp: bool = False  # half the target's current HP (Super Fang), at least 1
    recoil: tuple[int, int] = (0, 1)  # fraction of the damage dealt, rounded, at least 1
    drain: tuple[int, int] = (0, 1)  # fraction of the damage dealt healed, rounded up
    struggle_recoil: bool = False  # a quarter of the user's max HP, rounded
    attack_stat: str = "atk"  # "atk" or "spa" (or "def" for Body Press)
    attack_from_target: bool = False  # Foul Play: the target's stat
    defense_stat: str = "def"  # "def" or "spd"
    super_effective_on: tuple[str, ...] = ()  # Freeze-Dry: x2 against Water, whatever the chart
    notes: str = ""  # how the move is handled, for the coverage table

    @property
    def type_index(self) -> int:
        """Index into TYPES (TYPELESS for Struggle)."""
        return TYPES.index(self.type) if self.type in TYPES else TYPELESS

    @property
    def crit_chance(self) -> float:
        """Probability of a critical hit per hit."""
        return CRIT_CHANCE_BY_STAGE[self.crit_stage]

    @property
    def expected_hits(self) -> float:
        """Mean number of hits of one use (3.1 for a 2-5-hit move)."""
        if self.max_hits == 5 and self.min_hits == 2:
            return sum(hits * share for hits, share in HITS_2_TO_5)
        return float(self.min_hits)

    @property
    def fixed_kind(self) -> bool:
        """True when the damage does not come from the formula (fixed, level, half HP)."""
        return self.fixed_damage > 0 or self.level_damage or self.half_hp


STRUGGLE = Move(
    id=STRUGGLE_ID, name="Struggle", type="???", category="Physical", power=50.0, accuracy=1.0,
    priority=0, rules=("struggle_recoil",), struggle_recoil=True,
    notes="typeless, recoil 1/4 of the user's max HP",
)  # fmt: skip


def hidden_power_type(iv: int = IV) -> str:
    """Hidden Power's type from the IVs (all equal to `iv`): the games' formula, Dark for 31."""
    bits = sum((iv & 1) << shift for shift in range(6))
    return _HIDDEN_POWER_ORDER[bits * 15 // 63]


def exclusion_reason(move_id: str, data: dict, allow_letsgo_moves: bool) -> str | None:
    """Why a damaging move is left out of the learnsets, or None when every rule is modelled."""
    nonstandard = data.get("isNonstandard")
    if nonstandard in ("CAP", "Unobtainable", "Past", "Future") or (
        nonstandard == "LGPE" and not allow_letsgo_moves
    ):
        return f"not in these games ({nonstandard})"
    flags = data.get("flags") or {}
    if flags.get("charge"):
        return "two-turn move: charges or hides first"
    own = (data.get("self") or {}) if isinstance(data.get("self"), dict) else {}
    if flags.get("recharge") or own.get("volatileStatus") == "mustrecharge":
        return "the user must recharge the next turn"
    handled = _HANDLED_CALLBACKS.get(move_id, {})
    for field, reason in _EXCLUDING_FIELDS.items():
        if data.get(field) and field not in handled:
            return reason
    if own.get("boosts"):
        return "changes the user's stats (stat stages are not modelled)"
    if own.get("volatileStatus"):
        return f"puts the user in a lasting state ({own['volatileStatus']})"
    if own.get("sideCondition"):
        return f"sets a screen on the user's side ({own['sideCondition']})"
    if own.get("onHit") and move_id != "sparklyswirl":  # Sparkly Swirl cures status: none here
        return "an effect on the user that changes the battle"
    for effect in [data.get("secondary")] + list(data.get("secondaries") or []):
        if isinstance(effect, dict) and effect.get("chance", 100) >= 100:
            return "a guaranteed side effect (a stat change or status) that is not modelled"
    if data.get("basePower", 0) == 0 and not data.get("damage") and "damageCallback" not in handled:
        return "no base power"
    multihit = data.get("multihit")
    if isinstance(multihit, list) and list(multihit) != [2, 5]:
        return f"{multihit[0]}-{multihit[1]} hits with no known distribution"
    unknown = sorted(
        key
        for key in data
        if key not in _NEUTRAL_FIELDS and key not in _NO_EFFECT_FIELDS and key not in handled
    )
    return f"a rule the simulator does not model ({', '.join(unknown)})" if unknown else None


def build_move(move_id: str, data: dict) -> Move:
    """The modelled rules of a move that `exclusion_reason` accepted."""
    rules: list[str] = []
    notes: list[str] = []
    kinds = set(_HANDLED_CALLBACKS.get(move_id, {}).values())
    fields: dict[str, object] = {}
    power = float(data.get("basePower") or 0)
    move_type = data["type"]
    if "acrobatics" in kinds:
        power *= 2  # doubles when the user holds no item, and nobody holds one here
        rules.append("acrobatics")
        notes.append(f"no item: power {power:g}")
    if "hidden_power" in kinds:
        move_type = hidden_power_type()
        rules.append("hidden_power")
        notes.append(f"IVs {IV}: {move_type}, power {power:g}")
    if "type_exception" in kinds:
        fields["super_effective_on"] = ("Water",)
        rules.append("type_exception")
        notes.append("x2 on Water")
    if "half_hp" in kinds:
        fields["half_hp"] = True
        rules.append("half_hp")
        notes.append("half the target's HP")
    damage = data.get("damage")
    if damage == "level":
        fields["level_damage"] = True
        rules.append("level_damage")
        notes.append("damage = the user's level")
    elif isinstance(damage, int) and damage > 0:
        fields["fixed_damage"] = damage
        rules.append("fixed_damage")
        notes.append(f"{damage} damage")
    _stat_rules(data, fields, rules, notes)
    _hit_rules(data, fields, rules, notes)
    if any(data.get(field) for field in _NO_EFFECT_FIELDS) or "no_effect_here" in kinds:
        rules.append("no_effect_here")
        reasons = [text for field, text in _NO_EFFECT_FIELDS.items() if data.get(field)]
        notes.append("; ".join(reasons) or "its extra effect cannot happen in this battle")
    accuracy = 1.0 if data["accuracy"] is True else float(data["accuracy"]) / 100.0
    return Move(
        id=move_id,
        name=data["name"],
        type=move_type,
        category=data["category"],
        power=power,
        accuracy=accuracy,
        priority=int(data.get("priority", 0)),
        rules=tuple(rules) or ("standard",),
        notes="; ".join(notes),
        **fields,  # type: ignore[arg-type]
    )


def _stat_rules(data: dict, fields: dict, rules: list[str], notes: list[str]) -> None:
    physical = data["category"] == "Physical"
    fields["attack_stat"] = data.get("overrideOffensiveStat") or ("atk" if physical else "spa")
    fields["defense_stat"] = data.get("overrideDefensiveStat") or ("def" if physical else "spd")
    if data.get("overrideOffensiveStat"):
        rules.append("attack_override")
        notes.append(f"uses the user's {fields['attack_stat']}")
    if data.get("overrideOffensivePokemon") == "target":
        fields["attack_from_target"] = True
        rules.append("target_attack")
        notes.append("uses the target's Attack")
    if data.get("overrideDefensiveStat"):
        rules.append("defense_override")
        notes.append(f"hits {fields['defense_stat']}")


def _hit_rules(data: dict, fields: dict, rules: list[str], notes: list[str]) -> None:
    if data.get("willCrit"):
        fields["crit_stage"] = 3
        rules.append("always_crit")
        notes.append("always a critical hit")
    elif int(data.get("critRatio") or 1) > 1:
        fields["crit_stage"] = min(int(data["critRatio"]) - 1, 3)
        rules.append("high_crit")
        notes.append(f"crit {CRIT_CHANCE_BY_STAGE[fields['crit_stage']]:.3g}")
    hits = data.get("multihit")
    if isinstance(hits, list):
        fields["min_hits"], fields["max_hits"] = int(hits[0]), int(hits[1])
        rules.append("hits_2_to_5")
        notes.append("2-5 hits (35/35/15/15 %), a roll per hit")
    elif hits:
        fields["min_hits"] = fields["max_hits"] = int(hits)
        rules.append("fixed_hits")
        notes.append(f"{hits} hits, a roll per hit")
    if data.get("recoil"):
        fields["recoil"] = (int(data["recoil"][0]), int(data["recoil"][1]))
        rules.append("recoil")
        notes.append(f"recoil {data['recoil'][0]}/{data['recoil'][1]} of damage dealt")
    if data.get("drain"):
        fields["drain"] = (int(data["drain"][0]), int(data["drain"][1]))
        rules.append("drain")
        notes.append(f"heals {data['drain'][0]}/{data['drain'][1]} of damage dealt")
