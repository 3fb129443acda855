"""No traceback reaches the browser: errors become messages that say what to do."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import streamlit as st
from streamlit.errors import StreamlitAuthError

from app.auth import NotAllowed
from core.artifacts import UntrustedModelError
from core.config import ConfigError
from core.errors import PredictionDexError
from core.registry import NoModelError, PromotionConflict, RegistryError, RegistryUnavailable

logger = logging.getLogger("predictiondex.app")

MAX_MESSAGE_CHARS = 1200

# What to do in the dashboard, where it differs from the error's own hint (first match wins).
PAGE_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (PromotionConflict, "(The page now shows the current state.)"),
    (RegistryUnavailable, "Predictions use the local fallback model meanwhile."),
    (
        RegistryError,
        "Check that the tracking store in the sidebar is reachable (MLFLOW_TRACKING_URI); "
        "predictions keep working from the local fallback model.",
    ),
    (
        UntrustedModelError,
        "This model was refused and will not be loaded: retrain it on the Train page or "
        "re-export the local model with `python -m core.predict export`.",
    ),
    (ConfigError, "Fix the environment variable and restart the dashboard."),
    (
        StreamlitAuthError,
        "Sign-in needs Authlib (pip install Authlib) and an [auth] section in "
        ".streamlit/secrets.toml; without them the dashboard runs in single-user mode.",
    ),
)
USER_ERRORS: tuple[type[BaseException], ...] = (PredictionDexError, NotAllowed, StreamlitAuthError)


def _hint(error: BaseException) -> str:
    if isinstance(error, NoModelError):
        return ""  # its message already lists the ways out
    page = next((hint for kind, hint in PAGE_HINTS if isinstance(error, kind)), "")
    if page or not isinstance(error, PredictionDexError):
        return page
    return error.hint


def friendly_message(error: BaseException) -> str:
    """One readable paragraph for an error: what happened and what to do."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, USER_ERRORS):
        message = f"{text} {_hint(error)}".strip()
    else:
        message = (
            f"Unexpected error ({type(error).__name__}): {text[:300]}. Nothing was changed by "
            "this page; the details are in the server log. Reload the page, and report it if "
            "it happens again."
        )
    return message[:MAX_MESSAGE_CHARS]


def show_error(error: BaseException, action: str = "") -> None:
    """Render an error as an st.error (and log unexpected ones with their traceback)."""
    if not isinstance(error, USER_ERRORS):
        logger.error("unexpected error while trying to %s", action or "render", exc_info=error)
    prefix = f"Could not {action}: " if action else ""
    icon = ":material/lock:" if isinstance(error, NotAllowed) else ":material/error:"
    st.error(prefix + friendly_message(error), icon=icon)


@contextlib.contextmanager
def errors_shown(action: str = "") -> Iterator[None]:
    """Run a block; any error is shown as a message and the page goes on after the block.

    st.stop() and st.rerun() are BaseExceptions (not Exception), so they pass through.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 - this is the boundary to the browser
        show_error(error, action)
