"""Small shared widgets: Pokémon card, type badges, stat bars, metric deltas, results."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from app import actions, guard, models_tables
from core.config import Settings
from core.pokedex import STAT_NAMES, Pokedex, Pokemon
from core.pokedex.names import display_aliases
from core.predict import Prediction
from core.predict.sources import serving_label
from core.train import HYPERPARAMETERS, TrainingError

# st.badge offers a small palette; each type gets the closest colour and a Material icon.
TYPE_STYLE: dict[str, tuple[str, str]] = {
    "Normal": ("gray", "circle"),
    "Fire": ("red", "local_fire_department"),
    "Water": ("blue", "water_drop"),
    "Electric": ("yellow", "bolt"),
    "Grass": ("green", "eco"),
    "Ice": ("blue", "ac_unit"),
    "Fighting": ("orange", "sports_mma"),
    "Poison": ("violet", "science"),
    "Ground": ("orange", "landscape"),
    "Flying": ("blue", "air"),
    "Psychic": ("violet", "psychology"),
    "Bug": ("green", "bug_report"),
    "Rock": ("orange", "terrain"),
    "Ghost": ("violet", "visibility_off"),
    "Dragon": ("violet", "whatshot"),
    "Dark": ("gray", "dark_mode"),
    "Steel": ("gray", "settings"),
    "Fairy": ("violet", "auto_awesome"),
}
STAT_LABELS = {
    "hp": "HP",
    "atk": "Attack",
    "def": "Defense",
    "spa": "Sp. Atk",
    "spd": "Sp. Def",
    "spe": "Speed",
}
MAX_BASE_STAT = 255
DISAGREEMENT_POINTS = 10.0  # model vs simulator, in percentage points: above it, a warning


def _artwork_dir() -> Path | None:
    """pokemon/database/images of the installed `pokemon` package (found without importing it)."""
    spec = importlib.util.find_spec("pokemon")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "database" / "images"
    return folder if folder.is_dir() else None


ARTWORK_DIR = _artwork_dir()


def artwork_path(pokemon: Pokemon) -> Path | None:
    """The official artwork of a Pokémon (a form uses its base species' number), if shipped."""
    if ARTWORK_DIR is None or not 1 <= pokemon.number <= 1008:
        return None
    path = ARTWORK_DIR / f"{pokemon.number}.jpg"
    return path if path.is_file() else None


def pokemon_label(dex: Pokedex, pokemon_id: str) -> str:
    """'#026 Raichu-Alola · Alolan Raichu' for select boxes, which filter on labels only: the
    number, the name and every alias the README promises ('Mega Charizard X', "Farfetch'd")."""
    pokemon = dex.get(pokemon_id)
    return " · ".join([f"#{pokemon.number:03d} {pokemon.name}", *display_aliases(pokemon)])


def type_badges(types: tuple[str, ...]) -> None:
    """One coloured badge per type."""
    badges = []
    for name in types:
        color, icon = TYPE_STYLE.get(name, ("gray", "help"))
        badges.append(f":{color}-badge[:material/{icon}: {name}]")
    st.markdown(" ".join(badges))


def pokemon_card(pokemon: Pokemon, level: int) -> None:
    """Artwork (or type badges when there is none), types and base stat bars."""
    art = artwork_path(pokemon)
    picture, details = st.columns([1, 2], vertical_alignment="center")
    with picture:
        if art is not None:
            st.image(str(art), width=140)
        else:
            st.caption("no artwork for this form")
            type_badges(pokemon.types)
    with details:
        st.markdown(f"**#{pokemon.number:03d} {pokemon.name}**")
        type_badges(pokemon.types)
        stats = pokemon.stats_at(level)
        frame = pd.DataFrame(
            {
                "stat": [STAT_LABELS[name] for name in STAT_NAMES],
                "base": [pokemon.base_stats[name] for name in STAT_NAMES],
                f"at level {level}": [stats[name] for name in STAT_NAMES],
            }
        )
        st.dataframe(
            frame,
            hide_index=True,
            column_config={
                "stat": st.column_config.TextColumn("stat", width=64),
                "base": st.column_config.ProgressColumn(
                    "base stat", min_value=0, max_value=MAX_BASE_STAT, format="%d", width=150
                ),
                f"at level {level}": st.column_config.NumberColumn(f"Lv {level}", width=56),
            },
        )


def serving_caption(prediction: Prediction) -> str:
    """'battle_winner_predictor v3 (registry, xgboost)', '... v3 (local fallback, xgboost)',
    or 'unversioned local model (xgboost)'."""
    if prediction.source == "local" and not prediction.model_version:
        label = serving_label(prediction.source, prediction.model_version)
        return f"{label} ({prediction.model_type})"
    where = "local fallback" if prediction.source == "local" else prediction.source
    name = prediction.model_name or "model"
    return f"{name} v{prediction.model_version} ({where}, {prediction.model_type})"


def percent(p: float) -> str:
    """A probability as a percentage with one decimal, never a misleading 0.0% or 100.0%:
    below 0.05% it reads '< 0.1%', above 99.95% '> 99.9%' (exact 0 and 1 stay as they are)."""
    if 0.0 < p < 0.0005:
        return "< 0.1%"
    if 0.9995 < p < 1.0:
        return "> 99.9%"
    return f"{p:.1%}"


def _forget_pending() -> None:
    st.session_state.pop("models_pending_action", None)


def confirmation_panel(
    settings: Settings,
    pending: dict,
    table: pd.DataFrame,
    production: int | None,
    on_confirm: Callable[[], None],
) -> None:
    """Confirm a promotion or rollback: what changes, the metric deltas, and a reason."""
    stage = pending.get("stage", "Production")
    held = pending.get("expected_current")
    if pending["kind"] == "promote":
        target = pending.get("version")
        now = f"{stage} is v{held} now" if held else f"no version holds {stage} now"
        title = f"Promote v{target} to {stage}? ({now})"
    else:
        target = pending.get("target")
        title = f"Roll back Production from v{held} to v{target}?"
    with st.container(border=True):
        st.markdown(f"**{title}**")
        if target and production and target != production:
            models_tables.deltas_against(settings, table, target, production)
        st.text_input(
            "Reason (kept in the audit trail with your name)", max_chars=500, key="models_reason"
        )
        if not st.session_state.get("models_reason", "").strip():
            st.caption("A reason is required to confirm.")
        left, right = st.columns(2)
        left.button("Confirm", type="primary", key="models_confirm", on_click=on_confirm)
        right.button("Cancel", key="models_cancel", on_click=_forget_pending)


def description_editor(
    settings: Settings, table: pd.DataFrame, version: int, editable: bool
) -> None:
    """Show (and, for approvers, edit) a version's description."""
    current = str(table.loc[table["version"] == version, "description"].iloc[0] or "")
    with st.expander(f"Description of v{version}", expanded=False):
        text = st.text_input(
            "Description (one line, shown in the MLflow UI too)", value=current, max_chars=5000,
            disabled=not editable, key=f"models_description_{version}",
        )  # fmt: skip
        if editable and st.button("Save description", key="models_save_description"):
            with guard.errors_shown("save the description"):
                st.session_state["models_flash"] = actions.set_description(settings, version, text)
                st.rerun()


def hyperparameter_inputs(model_type: str) -> tuple[dict[str, float | int], list[str]]:
    """One number input per hyperparameter (default, valid range in the help), errors inline."""
    params: dict[str, float | int] = {}
    errors: list[str] = []
    columns = st.columns(3)
    for index, (name, spec) in enumerate(HYPERPARAMETERS[model_type].items()):
        with columns[index % 3]:
            is_int = spec.kind is int
            value = st.number_input(
                spec.label,
                value=spec.default,
                step=1 if is_int else 0.05,
                format="%d" if is_int else "%.4f",
                help=f"{spec.help} (`{name}`): {spec.range_text()} (default {spec.default:g})",
                key=f"train_{model_type}_{name}",
            )
            try:
                params[name] = spec.check(value)
            except TrainingError as error:
                st.error(str(error), icon=":material/error:")
                errors.append(spec.label)
    return params, errors
