"""Every Streamlit cache of the dashboard, and the clearing after a registry change.

- `st.cache_resource`: the MLflowTracker (a client) and the PredictionModel, one per Settings.
  The PredictionModel holds the loaded models keyed by (model name, version), never by alias,
  and re-resolves the alias after `registry_ttl_seconds`, so a promotion made elsewhere serves
  without a restart.
- `st.cache_data` with a short TTL: the registry tables (versions, audit trail) and the matchup
  matrices (keyed by the version that computed them).

Settings are read from the environment on every run (cheap) and are part of every cache key,
so two stores never share an entry. Call `clear_registry_caches(settings)` after a promotion,
a rollback, a training or a description edit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app.guard import friendly_message
from core.config import Settings
from core.predict import PredictionModel, ServingStatus
from core.registry import MLflowTracker, RegistryError, RegistryUnavailable, probe_server

logger = logging.getLogger("predictiondex.app")

REGISTRY_TTL_SECONDS = 10
MATRIX_TTL_SECONDS = 600
# The longest the dashboard waits for an HTTP tracking server's health check.
PROBE_TIMEOUT_CAP_SECONDS = 2.0


def current_settings() -> Settings:
    """Settings.from_env(), read on each run (not cached: a changed environment is seen)."""
    return Settings.from_env()


def check_reachable(settings: Settings) -> None:
    """Fail within about a second when an HTTP tracking server is down.

    MLflow's client retries a refused connection for about four minutes; the dashboard asks the
    server's /health endpoint first (the probe of core.predict) so a page never hangs.
    """
    if not settings.tracking_uri.lower().startswith(("http://", "https://")):
        return
    timeout = min(max(settings.registry_timeout_seconds, 0.2), PROBE_TIMEOUT_CAP_SECONDS)
    try:
        probe_server(settings.tracking_uri, timeout)
    except RegistryUnavailable as error:
        raise RegistryError(f"The registry is not reachable: {error}.") from None


@st.cache_resource(show_spinner=False)
def _tracker(settings: Settings) -> MLflowTracker:
    return MLflowTracker(settings=settings)


def get_tracker(settings: Settings) -> MLflowTracker:
    """The shared registry client for these settings, after a fast reachability check."""
    check_reachable(settings)
    return _tracker(settings)


@st.cache_resource(show_spinner=False)
def get_prediction_model(settings: Settings) -> PredictionModel:
    """The process-wide serving model for these settings (registry first, local fallback)."""
    return PredictionModel(settings)


@dataclass(frozen=True)
class SidebarStatus:
    """The serving status (`status`) and, when no model can serve, the user's message (`error`)."""

    status: ServingStatus
    error: str | None


def serving_status(settings: Settings) -> SidebarStatus:
    """What serves predictions now (loading it if needed), plus the error when nothing can."""
    model = get_prediction_model(settings)
    error = None
    try:
        model.get_model()
    except Exception as failure:  # noqa: BLE001 - reported in the sidebar, not raised
        error = friendly_message(failure)
    return SidebarStatus(model.status(), error)


@st.cache_data(ttl=REGISTRY_TTL_SECONDS, show_spinner=False)
def load_versions(settings: Settings) -> pd.DataFrame:
    """compare_models(): one row per registered version, newest first."""
    return get_tracker(settings).compare_models(settings.model_name)


@st.cache_data(ttl=REGISTRY_TTL_SECONDS, show_spinner=False)
def load_audit(settings: Settings) -> pd.DataFrame:
    """The audit trail of promotions and rollbacks, oldest first."""
    return get_tracker(settings).audit_log(settings.model_name)


@st.cache_data(ttl=REGISTRY_TTL_SECONDS, show_spinner=False)
def load_studies(settings: Settings) -> pd.DataFrame:
    """The newest hyperparameter searches (study parent runs), with a link to each run."""
    tracker = get_tracker(settings)
    rows = [
        {
            "study": run.study,
            "status": run.status,
            "started (UTC)": run.started.strftime("%Y-%m-%d %H:%M"),
            "best value": run.best_value,
            "registered version": run.registered_version,
            "MLflow run": tracker.run_url(run.run_id),
        }
        for run in tracker.study_runs()
    ]
    return pd.DataFrame(rows)


@st.cache_data(ttl=MATRIX_TTL_SECONDS, show_spinner=False, max_entries=64)
def load_matchup_matrix(
    settings: Settings,
    model_version: str | None,
    source: str | None,
    ids: tuple[str, ...],
    level: int,
) -> pd.DataFrame:
    """P(row wins against column) for a group, cached per serving version and source."""
    del model_version, source  # cache key only: a new version computes a new matrix
    return get_prediction_model(settings).predict_matrix(list(ids), level)


@st.cache_data(ttl=REGISTRY_TTL_SECONDS, show_spinner=False, max_entries=32)
def load_evaluation_report(settings: Settings, version: int) -> dict | None:
    """The evaluation stored in a version's run (curves, slices, importance), or None."""
    from core.evaluate.stored import stored_report

    return stored_report(version, settings)


@st.cache_data(show_spinner=False, max_entries=16)
def load_comparison(settings: Settings, candidate: int, baseline: int):
    """Champion/challenger of two versions on the same fresh battles (cached by the pair)."""
    from core.evaluate.stored import compare_versions

    # The one fresh-battle default (DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED): the same
    # pair gets the same numbers here, in the promotion's decision and from `core.evaluate`.
    return compare_versions(candidate, baseline, settings=settings).comparison


def clear_registry_caches(settings: Settings | None = None) -> None:
    """Forget the registry tables; with settings, make the serving model re-resolve its alias now."""
    load_versions.clear()
    load_audit.clear()
    load_studies.clear()
    load_evaluation_report.clear()
    load_matchup_matrix.clear()
    if settings is not None:
        refresh_serving_model(get_prediction_model(settings))


def refresh_serving_model(model: PredictionModel) -> None:
    """Re-resolve the stage alias now (ignoring the TTL); failures leave the fallback serving."""
    try:
        model.load()
    except Exception as error:  # noqa: BLE001 - the next prediction reports it to the user
        logger.warning("could not reload the serving model: %s", error)
