"""The Predict page's parts: a matchup that survives page switches, the answer with how sure it
is (the simulator's 95% interval beside the model), moves named by what they do, the heat map and
the batch.

Streamlit forgets a widget's value when a run does not draw it (another page): the page keeps
its own copy under MEMORY and writes it back before drawing the widgets. Widgets get their
defaults through Session State only (never `index=`/`value=` as well), so Streamlit never warns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from app import cache, charts, components, guard
from app.explanations import Explanation, side_names
from core.config import Settings
from core.pokedex import Move, Pokedex
from core.predict import Prediction, PredictionModel
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
        given = ["pokemon_a", "pokemon_b", "level_a", "level_b", "moves_a", "moves_b"]
        st.dataframe(  # the cells as given: text, so 'abc' and 50 sit in one column
            refused[["row", *given, "error"]].astype({c: "string" for c in given}),
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
        format_func=lambda mid: move_label(dex, mid),
        placeholder="default: the 4 best against the opponent", key=moves_key,
    )  # fmt: skip
    remember(key, f"predict_level_{letter}", moves_key)
    components.pokemon_card(pokemon, level)
    return pokemon_id, level, moves


def move_effect(move: Move) -> str:
    """What a move's damage comes from, by the simulator's own rule for it: its base power ('90'),
    or, for a move whose power is 0, 'damage = level', 'fixed 40 damage' or "half the target's HP".
    """
    if move.level_damage:
        return "damage = level"
    if move.fixed_damage > 0:
        return f"fixed {move.fixed_damage} damage"
    if move.half_hp:
        return "half the target's HP"
    return f"{move.power:g}"


def move_label(dex: Pokedex, move_id: str) -> str:
    """'Thunderbolt (Electric, 90)', 'Seismic Toss (Fighting, damage = level)'."""
    move = dex.moves[move_id]
    return f"{move.name} ({move.type}, {move_effect(move)})"


CONFIDENCE = 0.95  # of the simulator's interval


@dataclass(frozen=True)
class SimulatorCheck:
    """The model against the simulator: `low`..`high` is the 95% Wilson interval of the simulated
    share (probabilities), `gap_points` = 100 × (model − simulated share) in percentage points,
    `within` True when the model's P(A wins) lies inside the interval, `verdict` says it in words."""

    low: float
    high: float
    gap_points: float
    within: bool
    verdict: str


def compare_with_simulator(p_model: float, share: float, battles: int) -> SimulatorCheck:
    """The simulated share's 95% interval (Wilson score, scipy's binomtest) and whether the model's
    `p_model` lies inside it. `share` is the fraction of `battles` (≥ 1) that A won."""
    from scipy.stats import binomtest  # ~0.3 s to import: only when a simulation is shown

    wins = round(share * battles)
    interval = binomtest(wins, battles).proportion_ci(CONFIDENCE, method="wilson")
    low, high = float(interval.low), float(interval.high)
    within = low <= p_model <= high
    where = "within" if within else "outside"
    return SimulatorCheck(low, high, 100 * (p_model - share), within, f"{where} the 95% interval")


def simulator_metric(column, prediction: Prediction, name_a: str) -> str:
    """The simulator's share in `column`, the model's gap and whether it is within the 95%
    interval; returns the caption that gives the interval itself."""
    share, battles = prediction.simulated_p_a_wins, prediction.simulated_battles
    check = compare_with_simulator(prediction.p_a_wins, share, battles)
    column.metric(
        f"Simulator, {battles:,} battles",
        components.percent(share),
        f"model {check.gap_points:+.1f} pts, {check.verdict}",
        delta_color="off",
        delta_arrow="off",
        help=f"Share of simulated battles that {name_a} won.",
    )
    return (
        f"Simulator's 95% interval for P({name_a} wins) from {battles:,} battles: "
        f"{check.low:.1%}–{check.high:.1%} (Wilson score). The model's "
        f"{components.percent(prediction.p_a_wins)} is {check.verdict.split()[0]} it"
        + ("." if check.within else ": the gap is more than the simulator's own noise.")
    )


def prediction_result(
    prediction: Prediction, dex: Pokedex, fallback_reason: str | None, explanation: Explanation
) -> None:
    """The winner (or 'even'), P(A wins), who answered, the simulator's share with its 95%
    interval, and why. The sides of a mirror read 'Pikachu (A)' / 'Pikachu (B)'."""
    if prediction.source == "local":
        st.warning(
            f"Local fallback model: this answer comes from models/ "
            f"({serving_label(prediction.source, prediction.model_version)}), not from the "
            f"registry. Why: {fallback_reason or 'the registry is not in use'}.",
            icon=":material/cloud_off:",
        )
    name_a, name_b = side_names(prediction.name_a, prediction.name_b)
    p_a = prediction.p_a_wins
    winner = name_a if p_a > 0.5 else name_b
    st.subheader("Even: neither side is favoured" if p_a == 0.5 else f"{winner} wins")
    columns = st.columns([1, 1, 1.5, 1])  # the simulator's delta says more: room for it
    columns[0].metric(f"P({name_a} wins)", components.percent(p_a))
    columns[1].metric(f"P({name_b} wins)", components.percent(1 - p_a))
    interval = None
    if prediction.simulated_p_a_wins is not None:
        interval = simulator_metric(columns[2], prediction, name_a)
    columns[3].metric(
        "Answered by",
        f"v{prediction.model_version}" if prediction.model_version else "unversioned",
        "local fallback" if prediction.source == "local" else prediction.source,
        delta_color="off",
        delta_arrow="off",
    )
    if interval:
        st.caption(interval)
    simulator_disagreement(prediction, name_a)
    st.caption(f"Served by {components.serving_caption(prediction)}")
    mirror = name_a != prediction.name_a  # side_names marked the sides
    sides = []
    for name, level, moves in (
        (name_a, prediction.level_a, prediction.moves_a),
        (name_b, prediction.level_b, prediction.moves_b),
    ):
        who = f"{name}, level {level}" if mirror else f"{name} (level {level})"
        sides.append(f"{who}: {', '.join(dex.moves[m].name for m in moves)}")
    st.caption(" · ".join(sides))
    why(name_a, name_b, explanation)


def simulator_disagreement(prediction: Prediction, name_a: str) -> None:
    """A visible warning when the model and the simulator differ by more than the tolerance."""
    if prediction.simulated_p_a_wins is None:
        return
    text = disagreement_text(prediction, name_a)
    if text:
        st.warning(text, icon=":material/warning:")


README_KNOWN_LIMITS = "README.md › Evaluation against the truth › Known weak spot"


def disagreement_text(prediction: Prediction, name_a: str) -> str | None:
    """The warning when the model is more than DISAGREEMENT_POINTS off the simulated share (None
    otherwise): the difference, the simulator's 95% interval, and where to look. It names no
    cause: the page cannot know one (a feature fixed after this version was trained, a known
    weak spot, or this model's own error)."""
    share, battles = prediction.simulated_p_a_wins, prediction.simulated_battles
    if share is None or not battles:
        return None
    gap = 100 * (prediction.p_a_wins - share)
    if abs(gap) <= components.DISAGREEMENT_POINTS:
        return None
    check = compare_with_simulator(prediction.p_a_wins, share, battles)
    version = serving_label(prediction.source, prediction.model_version)
    return (
        f"The model and the simulator disagree by {abs(gap):.1f} points for P({name_a} wins): "
        f"model {prediction.p_a_wins:.1%}, simulator {share:.1%} (95% interval "
        f"{check.low:.1%}–{check.high:.1%} from {battles:,} battles). Trust the simulator for "
        f"this matchup. The matchups the model is known to get wrong, and the fixes made to "
        f"them, are in {README_KNOWN_LIMITS}; if this model ({version}) was trained before "
        "such a fix, retrain it and compare on this matchup."
    )


def why(name_a: str, name_b: str, explanation: Explanation) -> None:
    """The reasons chart and what its zero means."""
    st.plotly_chart(
        charts.contributions_bar(
            explanation.reasons, name_a, name_b, explanation.unit, explanation.base_rate
        ),
        key="predict_contributions_chart",
    )
    unit = "log-odds" if explanation.unit == "log-odds" else "probability points"
    st.caption(
        f"Each bar is one reason's push on the model's score, in {unit}: right for "
        f"{name_a}, left for {name_b}. Zero is the model's base rate "
        f"(P({name_a} wins) = {explanation.base_rate:.0%} before it looks at the "
        "matchup: the answer reads the matchup both ways, so neither side starts ahead); the "
        "pushes add up to the answer's lead over even. A reason that is the same for both "
        "Pokémon is one bar."
    )
