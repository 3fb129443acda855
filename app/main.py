"""PredictionDex: the router and frame (page config, navigation, shared sidebar).

Start it from the project root with `python -m streamlit run app/main.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# OpenMP threads (XGBoost's) sleep instead of spinning while they wait: before xgboost loads.
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # `streamlit run` puts app/ first, not the project root
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st  # noqa: E402

from app import auth, cache, guard, jobs, navigation, versions  # noqa: E402
from app.mlflow_link import mlflow_ui_link  # noqa: E402
from core.config import Settings, mask_uri  # noqa: E402


def render_sidebar(settings: Settings) -> None:
    """Who is here, which store, which model serves, and where the MLflow UI is."""
    with st.sidebar:
        user = auth.identity_sidebar(settings)
        if user.signed_in:
            role = auth.role_of(settings, user)
            st.caption(f":material/badge: Signed in as **{versions.plain(user.label)}** ({role})")
            if st.button("Sign out", key="sidebar_sign_out"):
                st.logout()
        elif user.auth_configured:
            st.caption(":material/lock: Not signed in: you can browse and predict.")
            if st.button("Sign in", key="sidebar_sign_in"):
                with guard.errors_shown("sign in"):
                    st.login()
        st.caption(f"**Tracking store**  \n`{mask_uri(settings.tracking_uri)}`")
        serving = cache.serving_status(settings)
        status = serving.status
        if serving.error:
            st.error(f"No model can serve: {serving.error}", icon=":material/error:")
        else:
            if status.source == "registry":
                st.caption(
                    f"**Serving** v{status.model_version} from the registry  \n"
                    f"{status.model_name} · {status.model_type} · stage {status.stage}"
                )
            else:  # named by the version its manifest records, never by the stage
                st.caption(
                    f"**Serving** {status.label} from models/  \n"
                    f"{status.model_type} · not the registry's {status.stage}"
                )
            if status.source == "local":
                st.warning(f"Local fallback: {status.fallback_reason}", icon=":material/cloud_off:")
        mlflow_ui_link(settings, key="sidebar_mlflow_ui")
        if st.button("Reload registry data", key="sidebar_reload", icon=":material/refresh:"):
            cache.clear_registry_caches(settings)


st.set_page_config(page_title="PredictionDex", page_icon=":material/swords:", layout="wide")
current = st.navigation(navigation.all_pages())
try:
    app_settings = cache.current_settings()
except Exception as error:  # noqa: BLE001 - a bad variable must read as a message
    guard.show_error(error, "read the configuration")
    st.stop()
jobs.keep_form_values(st.session_state)  # the Train form keeps its entries across pages
with guard.errors_shown("show the sidebar"):
    render_sidebar(app_settings)
with guard.errors_shown(f"show the {current.title} page"):
    current.run()
