"""The Predict page's parts: a matchup that survives page switches, the heat map, the batch.

Streamlit forgets a widget's value when a run does not draw it (another page): the page keeps
its own copy under MEMORY and writes it back before drawing the widgets. Widgets get their
defaults through Session State only (never `index=`/`value=` as well), so Streamlit never warns.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from app import cache, charts, components, guard
from core.config import Settings
from core.pokedex import Pokedex
from core.predict import PredictionModel
from core.predict.batch import MAX_BATCH_ROWS
from core.predict.batch_csv import MAX_BATCH_BYTES, CsvBatch, predict_csv, write_batch_csv
from core.predict.sources import serving_label

MEMORY = "predict_memory"  # not a widget key: Streamlit keeps it across pages
BATCH_RESULT = "predict_batch_result"
README_SIMULATOR = "README.md › How it works › The battle simulator"
SIMPLIFICATIONS = (
    "The simulator is one-versus-one with damaging moves only: no status conditions, abilities, "
    "items, stat stages, switching or weather; moves whose rules are not modelled are left out."
)


def remembered(key: str, default: object) -> None:
    """Give widget `key` its remembered value (or `default`) before the widget is drawn."""
    memory = st.session_state.setdefault(MEMORY, {})
    if key not in st.session_state:
        st.session_state[key] = memory.get(key, default)


def remember(*keys: str) -> None:
    """Copy the current value of widget keys into the page's memory."""
    memory = st.session_state.setdefault(MEMORY, {})
    for key in keys:
        if key in st.session_state:
            memory[key] = st.session_state[key]


RULES_IN_BRIEF = (
    "- Stats at the chosen level (perfect IVs, no EVs, neutral nature); up to four damaging "
    "moves each, the four that hurt this opponent most unless you pick them.\n"
    "- Each turn the higher-priority move goes first, then the faster Pokémon (a tie is a coin "
    "flip); a move hits with its accuracy.\n"
    "- Damage follows the games' formula with critical hits, the 85–100 % roll, same-type bonus "
    "and type effectiveness; each move keeps its own rules (Foul Play, multi-hit, recoil, "
    "drain, fixed and level damage, high critical-hit ratio).\n"
    "- The battle ends when one side faints; if neither can hurt the other, or after 100 turns, "
    "the side with more HP left wins."
)


def simplifications_note() -> None:
    """A short note of what the simulator leaves out and its rules in brief, with the README
    section that has the full rules (and the developer's details)."""
    with st.expander("What the simulator leaves out", icon=":material/info:"):
        st.markdown(f"{SIMPLIFICATIONS}\n\n{RULES_IN_BRIEF}")
        st.caption(f"The full rules and every move left out: {README_SIMULATOR}.")


def heat_map(settings: Settings, model: PredictionModel, dex: Pokedex, group: list[str]) -> None:
    """The group's heat map and its CSV download."""
    level = st.session_state["predict_group_level"]
    status = model.status()
    matrix = cache.load_matchup_matrix(
        settings, status.model_version, status.source, tuple(group), level
    )
    names = {pid: dex.get(pid).name for pid in group}
    st.plotly_chart(charts.matchup_heatmap(matrix, names), key="predict_heatmap")
    table = matrix.rename(index=names, columns=names)
    table.index.name = "P(row beats column)"
    st.download_button(
        "Download the heat map (CSV)",
        table.round(4).to_csv().encode("utf-8"),
        file_name=f"matchups_level{level}_v{status.model_version or 'local'}.csv",
        mime="text/csv",
        key="predict_heatmap_download",
        icon=":material/download:",
    )


def batch_panel(model: PredictionModel) -> None:
    """Upload a CSV of matchups: answers, refusals with their reason, and the CSV to download."""
    st.caption(
        f"Columns: `pokemon_a,pokemon_b` and optionally `level_a,level_b,moves_a,moves_b` (moves "
        f"separated by `;` or `|`). Up to {MAX_BATCH_ROWS:,} rows and {MAX_BATCH_BYTES // 2**20} MB, "
        "UTF-8. Every row is answered by the same model version."
    )
    upload = st.file_uploader("Matchups CSV", type=["csv", "txt"], key="predict_batch_file")
    if upload is None:
        st.session_state.pop(BATCH_RESULT, None)
        return
    data = upload.getvalue()
    served = model.get_model()
    digest = hashlib.sha256(data).hexdigest()
    key = (digest, served.model_version, served.source)
    kept = st.session_state.get(BATCH_RESULT)
    if kept is None or kept[0] != key:
        with guard.errors_shown("read this batch"):
            kept = (key, predict_csv(served, data))
            st.session_state[BATCH_RESULT] = kept
    if kept is not None and kept[0] == key:
        batch_answers(kept[1], upload.name)


def batch_answers(batch: CsvBatch, name: str) -> None:
    """The two lists (answered, refused) and the download."""
    result = batch.result
    answered, refused = batch.answered, batch.refused
    st.success(
        f"{len(answered):,} of {len(batch.table):,} rows answered by "
        f"{result.model_name or 'the model'} {serving_label(result.source, result.model_version)}.",
        icon=":material/task_alt:",
    )
    shown = answered[["row", "pokemon_a", "pokemon_b", "level_a", "level_b", "p_a_wins", "winner"]]
    st.dataframe(
        shown.assign(model_version=result.model_version, source=result.source),
        hide_index=True,
        key="predict_batch_answers",
        column_config={"p_a_wins": st.column_config.NumberColumn("P(A wins)", format="%.3f")},
    )
    if len(refused):
        st.error(
            f"{len(refused):,} row(s) could not be answered; the reason is on each line.",
            icon=":material/rule:",
        )
        st.dataframe(
            refused[["row", "pokemon_a", "pokemon_b", "error"]],
            hide_index=True,
            key="predict_batch_refused",
        )
    stem = name.rsplit(".", 1)[0][:60] or "batch"
    st.download_button(
        "Download the answers (CSV)",
        write_batch_csv(batch.table),
        file_name=f"{stem}_predictions.csv",
        mime="text/csv",
        key="predict_batch_download",
        icon=":material/download:",
    )


def matchup_inputs(dex: Pokedex, letter: str, default: str) -> tuple[str, int, list[str]]:
    """One side's widgets and card, remembered across pages: (Pokémon id, level, moves)."""
    ids = dex.pokemon_ids
    key = f"predict_pokemon_{letter}"
    remembered(key, default if default in ids else ids[0])
    pokemon_id = st.selectbox(
        f"Pokémon {letter.upper()}", ids, key=key,
        format_func=lambda pid: components.pokemon_label(dex, pid),
    )  # fmt: skip
    remembered(f"predict_level_{letter}", 50)
    level = st.slider("Level", 1, 100, key=f"predict_level_{letter}")
    pokemon = dex.get(pokemon_id)
    moves_key = f"predict_moves_{letter}_{pokemon_id}"
    remembered(moves_key, [])
    moves = st.multiselect(
        "Moves (optional, up to 4)", pokemon.moves, max_selections=4,
        format_func=lambda mid: components.move_label(dex, mid),
        placeholder="default: the 4 best against the opponent", key=moves_key,
    )  # fmt: skip
    remember(key, f"predict_level_{letter}", moves_key)
    components.pokemon_card(pokemon, level)
    return pokemon_id, level, moves
