"""Predict: who wins A against B, how sure, which model answered, why, and a matchup heat map."""

import streamlit as st

from app import cache, charts, components, guard
from core.pokedex import load_pokedex

DEFAULT_A, DEFAULT_B = "pikachu", "charizard"
DEFAULT_GROUP = [
    "venusaur",
    "charizard",
    "blastoise",
    "pikachu",
    "gengar",
    "dragonite",
    "mewtwo",
    "snorlax",
]
MAX_GROUP = 20
SIMULATED_BATTLES = 1000

settings = cache.current_settings()
model = cache.get_prediction_model(settings)
st.title("Who wins?")
served = model.get_model()  # raises a clear NoModelError when there is no model at all
dex = load_pokedex(served.roster)
ids = dex.pokemon_ids


def side(column, letter: str, default: str) -> tuple[str, int, list[str]]:
    """One fighter's widgets and card: (Pokémon id, level, chosen moves)."""
    with column:
        pokemon_id = st.selectbox(
            f"Pokémon {letter.upper()}", ids, index=ids.index(default) if default in ids else 0,
            format_func=lambda pid: components.pokemon_label(dex, pid), key=f"predict_pokemon_{letter}",
        )  # fmt: skip
        level = st.slider("Level", 1, 100, 50, key=f"predict_level_{letter}")
        pokemon = dex.get(pokemon_id)
        moves = st.multiselect(
            "Moves (optional, up to 4)", pokemon.moves, max_selections=4,
            format_func=lambda mid: components.move_label(dex, mid),
            placeholder="default: the 4 best against the opponent",
            key=f"predict_moves_{letter}_{pokemon_id}",
        )  # fmt: skip
        components.pokemon_card(pokemon, level)
    return pokemon_id, level, moves


(a, level_a, moves_a), (b, level_b, moves_b) = (
    side(column, letter, default)
    for column, letter, default in zip(st.columns(2), "ab", (DEFAULT_A, DEFAULT_B), strict=True)
)
matchup = (a, b, level_a, level_b, tuple(moves_a), tuple(moves_b))
left, right = st.columns(2)
if left.button("Predict the winner", type="primary", key="predict_ask", icon=":material/swords:"):
    st.session_state["predict_asked"] = True
if right.button(
    f"Simulate {SIMULATED_BATTLES:,} battles", key="predict_simulate", icon=":material/casino:"
):
    st.session_state["predict_asked"] = True
    st.session_state["predict_simulated_for"] = matchup

if st.session_state.get("predict_asked"):
    with guard.errors_shown("predict this battle"):
        simulate = (
            SIMULATED_BATTLES if st.session_state.get("predict_simulated_for") == matchup else 0
        )
        prediction = model.predict_winner(
            a, b, level_a, level_b, moves_a or None, moves_b or None, simulate, explain=True
        )
        components.prediction_result(prediction, dex, model.status().fallback_reason)
else:
    st.info("Pick two Pokémon (type to search), then ask.", icon=":material/touch_app:")

st.subheader("Matchup heat map")
group = st.multiselect(
    "Pokémon in the group (2 to 20)", ids, default=[p for p in DEFAULT_GROUP if p in ids],
    max_selections=MAX_GROUP, format_func=lambda pid: components.pokemon_label(dex, pid),
    key="predict_group",
)  # fmt: skip
group_level = st.slider("Level of the whole group", 1, 100, 50, key="predict_group_level")
if len(group) < 2:
    st.info("Pick at least two Pokémon for the heat map.")
else:
    with guard.errors_shown("draw the heat map"):
        status = model.status()
        matrix = cache.load_matchup_matrix(
            settings, status.model_version, status.source, tuple(group), group_level
        )
        names = {pid: dex.get(pid).name for pid in group}
        st.plotly_chart(charts.matchup_heatmap(matrix, names), key="predict_heatmap")
