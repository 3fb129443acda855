"""The link to the MLflow UI, offered only where a UI answers (else: how to start one).

`make run` starts the UI on the same store beside the dashboard; elsewhere nothing may listen
at MLFLOW_UI_URL. The answer of the health probe is remembered for PROBE_TTL_SECONDS per URL, so
a page run pays at most one short probe (PROBE_TIMEOUT_SECONDS) every half minute.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import streamlit as st

from core.config import Settings, mask_uri
from core.registry import RegistryUnavailable, probe_server

PROBE_TIMEOUT_SECONDS = 0.3
PROBE_TTL_SECONDS = 30.0
START_HINT = "start it with `make mlflow-ui` (or `python -m core.config mlflow-ui`)"
_answers: dict[str, tuple[float, bool]] = {}
_lock = threading.Lock()


def ui_reachable(url: str) -> bool:
    """True when the MLflow UI at `url` answers its /health (remembered for a while)."""
    now = time.monotonic()
    with _lock:
        known = _answers.get(url)
    if known is not None and now - known[0] < PROBE_TTL_SECONDS:
        return known[1]
    try:
        probe_server(url, PROBE_TIMEOUT_SECONDS)
        answer = True
    except RegistryUnavailable:
        answer = False
    with _lock:
        _answers[url] = (now, answer)
    return answer


def mlflow_ui_link(settings: Settings, key: str) -> None:
    """A button to the MLflow UI when it answers, else a line saying how to start it."""
    url = settings.mlflow_ui_url
    if ui_reachable(url):
        # The browser signs in by itself: credentials never go into the page.
        public = urlsplit(url)._replace(netloc=urlsplit(url).netloc.rpartition("@")[2]).geturl()
        st.link_button("Open the MLflow UI", public, icon=":material/open_in_new:", key=key)
    else:
        # The URL may carry the tracking store's credentials: never shown in clear.
        st.caption(f":material/link_off: No MLflow UI answers at {mask_uri(url)}: {START_HINT}.")
