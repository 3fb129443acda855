"""Predict: who wins A against B, how sure, which model answered, why; a heat map; a batch CSV."""

import streamlit as st

from app import cache, components, guard, predict_view
from app.explanations import explain_prediction
from core.pokedex import load_pokedex

DEFAULT_A, DEFAULT_B = "pikachu", "charizard"
DEFAULT_GROUP = ["venusaur", "charizard", "blastoise", "pikachu", "gengar", "dragonite",
                 "mewtwo", "snorlax"]  # fmt: skip
MAX_GROUP = 20
SIMULATED_BATTLES = 1000

settings = cache.current_settings()
model = cache.get_prediction_model(settings)
st.title("Who wins?")
served = model.get_model()  # raises a clear NoModelError when there is no model at all
dex = load_pokedex(served.roster)
ids = dex.pokemon_ids

left, right = st.columns(2)
with left:
    a, level_a, moves_a = predict_view.matchup_inputs(dex, "a", DEFAULT_A)
with right:
    b, level_b, moves_b = predict_view.matchup_inputs(dex, "b", DEFAULT_B)
matchup = (a, b, level_a, level_b, tuple(moves_a), tuple(moves_b))
ask, simulate = st.columns(2)
if ask.button("Predict the winner", type="primary", key="predict_ask", icon=":material/swords:"):
    st.session_state["predict_asked"] = True
if simulate.button(
    f"Simulate {SIMULATED_BATTLES:,} battles", key="predict_simulate", icon=":material/casino:"
):
    st.session_state["predict_asked"] = True
    st.session_state["predict_simulated_for"] = matchup

if st.session_state.get("predict_asked"):  # then every answer is for the matchup on screen
    with guard.errors_shown("predict this battle"):
        battles = (
            SIMULATED_BATTLES if st.session_state.get("predict_simulated_for") == matchup else 0
        )
        prediction = model.predict_winner(
            a, b, level_a, level_b, moves_a or None, moves_b or None, battles, explain=False
        )
        explanation = explain_prediction(model.get_model(), prediction)
        predict_view.prediction_result(prediction, dex, model.status().fallback_reason, explanation)
        if not battles:
            st.caption("Press *Simulate* to see the simulator's answer next to the model's.")
else:
    st.info("Pick two Pokémon (type any name: 'Alolan Raichu', 'Mr. Mime'), then ask.",
            icon=":material/touch_app:")  # fmt: skip
predict_view.simplifications_note()

st.subheader("Matchup heat map")
predict_view.remembered("predict_group", [p for p in DEFAULT_GROUP if p in ids])
predict_view.remembered("predict_group_level", 50)
group = st.multiselect(
    f"Pokémon in the group (2 to {MAX_GROUP})", ids, max_selections=MAX_GROUP,
    format_func=lambda pid: components.pokemon_label(dex, pid), key="predict_group",
)  # fmt: skip
st.slider("Level of the whole group", 1, 100, key="predict_group_level")
predict_view.remember("predict_group", "predict_group_level")
if len(group) < 2:
    st.info("Pick at least two Pokémon for the heat map.")
else:
    with guard.errors_shown("draw the heat map"):
        predict_view.heat_map(settings, model, dex, group)

st.subheader("Many matchups at once")
predict_view.batch_panel(model)
