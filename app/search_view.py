"""The Train page's search mode: an Optuna study as a cancellable job, its trials live.

The form makes a `SearchConfig` (its limits are the model's); the search runs as
`python -m core.search` in its own processes through the server's job queue (core.jobs), and
the panel reads the study from its storage every few seconds: trials done / pruned / running,
the best so far, the trials table and Optuna's own figures. Widget keys start with `search_`.
"""

from __future__ import annotations

import streamlit as st

from app import auth, guard
from core.config import Settings
from core.jobs import TRAINING_QUEUE
from core.search import SearchConfig, SearchError, max_workers
from core.search.job import SearchJob, SearchView
from core.search.live import read_study, study_figures

SESSION_KEY = "search_job"
REFRESH_SECONDS = 2.0
MODEL_NAMES = {"xgboost": "XGBoost", "random_forest": "Random forest"}
FIGURE_TITLES = {
    "optimization_history": "Optimization history",
    "parallel_coordinate": "Parallel coordinates",
    "param_importances": "Parameter importances",
}


def current_search() -> SearchJob | None:
    """This session's search job, if any."""
    job = st.session_state.get(SESSION_KEY)
    return job if isinstance(job, SearchJob) else None


def start_search(settings: Settings, config: SearchConfig) -> SearchJob:
    """Queue a search for this session (one at a time per session)."""
    auth.require_approver(settings, "run a search")
    running = current_search()
    if running is not None and not running.finished:
        raise SearchError("A search is already running in this session: wait or cancel it.")
    job = SearchJob(config, settings)
    TRAINING_QUEUE.submit(job)
    st.session_state[SESSION_KEY] = job
    return job


def search_form(busy: bool) -> SearchConfig | None:
    """The search form; the checked config when submitted, else None (errors shown inline)."""
    fields = SearchConfig.model_fields
    with st.form("search_form"):
        model_type = st.radio("Model", tuple(MODEL_NAMES), format_func=MODEL_NAMES.get,
                              horizontal=True, key="search_model_type")  # fmt: skip
        left, middle, right = st.columns(3)
        trials = left.number_input("Trials", 1, 500, 20, key="search_trials")
        minutes = middle.number_input("Time budget (minutes, 0 = none)", 0, 24 * 60, 0,
                                      key="search_minutes")  # fmt: skip
        workers = right.number_input("Workers (processes)", 1, max_workers(), 1,
                                     key="search_workers")  # fmt: skip
        left, middle, right = st.columns(3)
        n_battles = left.number_input("Battles", 1000, 1_000_000, fields["n_battles"].default,
                                      step=1000, key="search_n_battles")  # fmt: skip
        seed = middle.number_input("Seed", 0, 2**31, 42, key="search_seed")
        study = right.text_input("Study name (a known name resumes it)", "search",
                                 max_chars=64, key="search_study")  # fmt: skip
        objective = st.radio("Objective on held-out matchups", ("log_loss", "accuracy"),
                             horizontal=True, key="search_objective")  # fmt: skip
        submitted = st.form_submit_button("Start the search", type="primary", disabled=busy,
                                          icon=":material/manage_search:", key="search_start")  # fmt: skip
    if not submitted:
        return None
    try:
        return SearchConfig(
            study=study.strip(), trials=int(trials), workers=int(workers),
            timeout_seconds=float(minutes) * 60 or None, model_type=model_type,
            n_battles=int(n_battles), seed=int(seed), objective=objective,
        )  # fmt: skip
    except SearchError as error:
        st.error(f"{error} Fix it above, then start again.", icon=":material/error:")
        return None


def _counts(view: SearchView) -> None:
    snapshot = read_study(view.storage_url, view.config.study)
    counts = snapshot.counts
    done, pruned = counts.get("COMPLETE", 0), counts.get("PRUNED", 0)
    running, failed = counts.get("RUNNING", 0), counts.get("FAIL", 0)
    best = "n/a" if snapshot.best_value is None else f"{snapshot.best_value:.4f}"
    for column, (label, value) in zip(
        st.columns(5),
        (("Done", done), ("Pruned", pruned), ("Running", running), ("Failed", failed),
         (f"Best {view.config.objective}", best)),
        strict=True,
    ):  # fmt: skip
        column.metric(label, value)
    st.dataframe(snapshot.trials, hide_index=True, key="search_trials_table")


def _outcome(view: SearchView, settings: Settings) -> None:
    if view.state == "cancelled":
        st.warning("Search cancelled: its workers stopped, nothing was registered.",
                   icon=":material/stop_circle:")  # fmt: skip
    elif view.state == "failed":
        st.error(view.error or "The search failed.", icon=":material/error:")
    elif view.result:
        version = view.result.get("registered_version")
        why = view.result.get("promotion") or ""
        if version is None:  # a resumed study whose best trial was registered before
            st.info(why[:1].upper() + why[1:] + ".", icon=":material/inventory_2:")
        else:
            promoted = " and promoted to Production" if view.result.get("promoted") else ""
            st.success(f"Best trial retrained and registered as version {version}{promoted}. "
                       f"{why}", icon=":material/inventory_2:")  # fmt: skip
    parent = (view.result or {}).get("parent_run_id")
    if parent:
        from app.cache import get_tracker

        st.link_button("Open the study's parent run in MLflow",
                       get_tracker(settings).run_url(parent), icon=":material/open_in_new:")  # fmt: skip


def render_panel(job: SearchJob, settings: Settings) -> None:
    """The live panel of this session's search (call it inside a refreshing fragment)."""
    view = job.view()
    title = {"queued": "Queued behind the training that runs now",
             "running": f"Searching… {view.elapsed_seconds:.0f} s",
             "done": f"Search finished in {view.elapsed_seconds:.0f} s",
             "failed": "Search failed", "cancelled": "Search cancelled"}[view.state]  # fmt: skip
    st.markdown(f"**{title}** · study `{view.config.study}` · "
                f"{MODEL_NAMES[view.config.model_type]}")  # fmt: skip
    _counts(view)
    if not view.finished:
        if view.cancel_requested:
            st.info("Cancelling: the workers stop within seconds.", icon=":material/stop:")
        elif st.button("Cancel the search", icon=":material/stop_circle:", key="search_cancel"):
            job.cancel()
            st.rerun()
        return
    _outcome(view, settings)
    figures = study_figures(view.storage_url, view.config.study)
    for name, figure in figures.items():
        st.plotly_chart(figure, key=f"search_figure_{name}")


def render(settings: Settings) -> None:
    """The whole search mode: the form, then this session's search, refreshed while it runs."""
    job = current_search()
    config = search_form(busy=job is not None and not job.finished)
    if config is not None:
        with guard.errors_shown("start the search"):
            start_search(settings, config)
            st.rerun()
    if job is None:
        return
    st.subheader("This session's search")
    running = not job.finished

    @st.fragment(run_every=REFRESH_SECONDS if running else None)
    def panel() -> None:
        render_panel(job, settings)
        if running and job.finished:
            st.rerun()

    panel()
