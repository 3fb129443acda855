"""Train: a form for one training run, live progress by step, then the result."""

import streamlit as st

from app import actions, auth, cache, components, guard, job_panel, search_view
from core.battle import MAX_LEVEL, MIN_LEVEL
from core.config import PROMOTION_POLICIES
from core.dataset import SCENARIO_CHOICES, LevelRange
from core.train import MODEL_TYPES, TrainConfig, TrainingError, field_limits, grid_combinations

REFRESH_SECONDS = 1.0
MODEL_NAMES = {"xgboost": "XGBoost", "random_forest": "Random forest"}
POLICY_NAMES = {
    "beats_production": "promote if it scores higher than Production on the same fresh battles and "
    "is not significantly worse (McNemar), and reaches the threshold",
    "threshold": "promote if test accuracy reaches the threshold (the seed's rule)",
    "manual": "register only",
}
SCENARIO_NAMES = {
    "all": "all three scenarios, mixed",
    "best_move": "both sides play their best move",
    "random_move": "B plays random moves",
    "all_combinations": "random movesets on both sides",
}

settings = cache.current_settings()
st.title("Train a model")
st.caption(
    "Simulate battles, fit a model, evaluate it on matchups it never saw next to the oracle, log "
    "it to MLflow and register a new version; the promotion policy decides whether it becomes "
    "Production. Training runs in the background: other pages and users are not held."
)

job = actions.current_training()


def limited_input(field: str, key: str) -> int:
    """A whole-number input whose label, bounds, step, default and help come from TrainConfig."""
    limits = field_limits(field)
    low, high = int(limits.low), int(limits.high)
    return st.number_input(
        limits.label, min_value=low, max_value=high, value=min(max(int(limits.default), low), high),
        step=int(limits.step), key=key,
        help=f"{limits.help} ({int(limits.low):,} to {int(limits.high):,})".lstrip(),
    )  # fmt: skip


if not auth.can_approve(settings):
    st.info(auth.why_not_allowed(settings, "train"), icon=":material/lock:")
    st.stop()

MODES = {"train": "Train one model", "search": "Search hyperparameters (Optuna)"}
if st.radio("Mode", MODES, format_func=MODES.get, horizontal=True, key="train_mode") == "search":
    search_view.render(settings)
    st.stop()

model_type = st.radio(
    "Model", MODEL_TYPES, format_func=MODEL_NAMES.get, horizontal=True, key="train_model_type"
)
with st.form("train_form"):
    st.markdown(f"**{MODEL_NAMES[model_type]} hyperparameters**")
    params, errors = components.hyperparameter_inputs(model_type)
    st.markdown("**Data**")
    left, middle, right = st.columns(3)
    with left:
        n_battles = limited_input("n_battles", "train_n_battles")
    with middle:
        seed = limited_input("seed", "train_seed")
    scenario = right.selectbox(
        "Scenario", SCENARIO_CHOICES, format_func=lambda s: f"{s}: {SCENARIO_NAMES.get(s, s)}",
        index=SCENARIO_CHOICES.index("all"), key="train_scenario",
    )  # fmt: skip
    levels = st.slider(
        "Levels (one value or a range)", MIN_LEVEL, MAX_LEVEL, (50, 50), key="train_levels"
    )
    st.markdown("**Search and promotion**")
    left, right = st.columns(2)
    use_grid = left.checkbox(
        "Grid search (picks hyperparameters, overrides those above)", key="train_use_grid"
    )
    grid_type = left.radio(
        "Grid", ("fast", "full"), horizontal=True, key="train_grid_type",
        format_func=lambda g: f"{g}: {len(grid_combinations(model_type, g))} combinations",
    )  # fmt: skip
    threshold = right.slider(
        "Promotion threshold (test accuracy)", 0.0, 1.0, settings.promotion_threshold, 0.01,
        key="train_threshold",
    )  # fmt: skip
    policy = right.radio(
        "After registering", PROMOTION_POLICIES, format_func=POLICY_NAMES.get,
        index=PROMOTION_POLICIES.index(settings.promotion_policy), key="train_promotion_policy",
    )  # fmt: skip
    label = right.text_input("Version label (optional)", max_chars=100, key="train_label")
    with st.expander("Oracle measurement (the best expected accuracy)"):
        oracle_sample = limited_input("oracle_sample", "train_oracle_sample")
        oracle_replays = limited_input("oracle_replays", "train_oracle_replays")
    busy = job is not None and not job.finished
    submitted = st.form_submit_button(
        "Train", type="primary", icon=":material/play_arrow:", disabled=busy, key="train_submit"
    )

if submitted:
    if errors:
        st.error(f"Fix {', '.join(errors)} above, then train again.", icon=":material/error:")
        st.stop()
    try:
        config = TrainConfig(
            model_type=model_type, params=params, n_battles=n_battles, seed=seed,
            scenario=scenario, level=LevelRange(*levels), use_gridsearch=use_grid,
            grid_type=grid_type, version_label=label.strip(), threshold=float(threshold),
            oracle_sample=oracle_sample, oracle_replays=oracle_replays, promotion_policy=policy,
        )  # fmt: skip
    except TrainingError as error:
        st.error(f"{error} Fix it above, then train again.", icon=":material/error:")
        st.stop()
    with guard.errors_shown("start the training"):
        actions.start_training(settings, config)
        st.rerun()

if job is not None:
    st.subheader("This session's training")
    running = not job.finished

    @st.fragment(run_every=REFRESH_SECONDS if running else None)
    def progress_panel() -> None:
        """The job's progress, refreshed every second while it runs."""
        job_panel.render(job)
        if running and job.finished:
            st.rerun()  # the whole page (and sidebar) now shows the new version

    progress_panel()
