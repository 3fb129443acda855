"""The Train page's job panel: queue position, estimate, live steps, Cancel, then the result."""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

from app.jobs import JobView, TrainingJob, format_duration

MODEL_NAMES = {"xgboost": "XGBoost", "random_forest": "Random forest"}
STEP_ICONS = {
    "done": ":material/check_circle:",
    "running": ":material/progress_activity:",
    "pending": ":material/radio_button_unchecked:",
    "skipped": ":material/remove_circle_outline:",
    "failed": ":material/cancel:",
}
SHOWN_METRICS = (
    ("Test accuracy", "test_accuracy"),
    ("Oracle accuracy", "oracle_accuracy"),
    ("F1", "test_f1"),
    ("ROC-AUC", "test_roc_auc"),
    ("Overfitting", "overfitting"),
)


def describe_config(config: Any, params: dict | None = None) -> str:
    """'XGBoost "v2" · n_estimators=150, max_depth=6, …': what is (or was) trained."""
    model = MODEL_NAMES.get(config.model_type, config.model_type)
    label = f' "{html.escape(config.version_label)}"' if config.version_label else " (no label)"
    values = params if params is not None else dict(config.params or {})
    shown = ", ".join(f"{name}={value:g}" for name, value in values.items()) or "defaults"
    return f"{model}{label} · {shown} · {config.n_battles:,} battles"


def _title(view: JobView) -> str:
    if view.state == "queued":
        ahead = (view.position or 1) - 1
        return (
            f"Queued: position {view.position} (one training at a time on this server; "
            f"{ahead} waiting before it, plus the one running)"
            if ahead
            else f"Queued: position {view.position}, next after the training that runs now"
        )
    return {
        "running": f"Training… {view.message}",
        "done": f"Training finished in {view.elapsed_seconds:.0f} s",
        "failed": "Training failed",
        "cancelled": "Training cancelled",
    }[view.state]


def _steps(view: JobView) -> None:
    seconds = getattr(view.result, "seconds", None) or {}
    for step in view.steps:
        text = f" — {step.message}" if step.message else ""
        took = f" · {seconds[step.name]:.1f} s" if step.name in seconds else ""
        st.markdown(f"{STEP_ICONS[step.state]} **{step.name}**{text}{took}")


def render(job: TrainingJob) -> None:
    """The whole panel for this session's job (call it inside a refreshing fragment)."""
    view = job.view()
    st.caption(f"**{describe_config(view.config)}**")
    if view.finished:
        state = "complete" if view.state == "done" else "error"
        with st.status(_title(view), state=state, expanded=False):
            _steps(view)
        _outcome(view)
        return
    estimate = format_duration(view.estimate_seconds)
    st.progress(
        view.fraction,
        text=f"{view.fraction:.0%} · {view.elapsed_seconds:.0f} s of about {estimate} (estimate)",
    )
    # st.status shows its spinner only while a script runs; between refreshes of the fragment
    # it would look finished, so a running job is an expander with its own icon.
    icon = ":material/hourglass_top:" if view.state == "running" else ":material/schedule:"
    with st.expander(_title(view), expanded=True, icon=icon):
        _steps(view)
    if view.cancel_requested:
        st.info("Cancelling: the training process stops within seconds.", icon=":material/stop:")
    elif st.button("Cancel the training", icon=":material/stop_circle:", key="train_cancel"):
        job.cancel()
        st.rerun(scope="fragment")


def _outcome(view: JobView) -> None:
    if view.state == "cancelled":
        st.warning(f"Training cancelled: {view.message}.", icon=":material/stop_circle:")
        return
    if view.error:
        st.error(view.error, icon=":material/error:")
        return
    result = view.result
    st.success(
        f"Registered as version {result.version} of the model.", icon=":material/inventory_2:"
    )
    st.caption(f"Trained: {describe_config(view.config, dict(result.params))}")
    if result.promoted:
        st.success(
            f"Version {result.version}: {result.promotion_message}.", icon=":material/verified:"
        )
    else:
        st.warning(f"Version {result.version}: {result.promotion_message}.", icon=":material/info:")
    if result.promotion_evidence:
        st.caption(
            f"Champion/challenger on the same fresh battles (accuracy difference, 95% interval, "
            f"exact McNemar): {result.promotion_evidence}."
        )
    metrics = result.metrics
    for column, (label, key) in zip(st.columns(5), SHOWN_METRICS, strict=True):
        value = metrics.get(key)
        column.metric(label, "n/a" if value is None else f"{value:.4f}")
    if result.run_url:
        st.link_button("Open the run in MLflow", result.run_url, icon=":material/open_in_new:")
    with st.expander("Details: parameters, step timings"):
        st.json({"params": result.params, "seconds": result.seconds, "metrics": metrics})
