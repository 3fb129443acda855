"""Who is using the dashboard, and who may change the registry.

Two modes:
- single-user mode: Streamlit authentication is not configured (no `[auth]` section in
  `.streamlit/secrets.toml`), so `st.user` has no `is_logged_in`; whoever opens the app may act.
- signed-in mode: `st.user.is_logged_in` exists (Streamlit's OIDC `st.login`). Only the e-mails
  listed in PREDICTIONDEX_APPROVERS may train, promote, roll back and edit descriptions; every
  other user (a viewer) may browse and predict.

The check happens twice: the pages do not offer the buttons to viewers, and every action in
`app.actions` calls `require_approver()` itself, so an action replayed from a viewer's session is
refused. Tests set the user with AppTest's own `at.user = {"is_logged_in": True, "email": ...}`;
there is deliberately no other way to inject a user.

Who the audit trail names: with sign-in, the signed-in e-mail (not editable); in single-user
mode, the name set in the sidebar for this session (`identity_sidebar`), by default
PREDICTIONDEX_USER, else the operating-system user.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import streamlit as st

from core.config import Settings

AUDIT_NAME_KEY = "sidebar_user_name"
MAX_AUDIT_NAME_CHARS = 100


class NotAllowed(PermissionError):
    """The current user may not perform this action; the message says who may."""


@dataclass(frozen=True)
class User:
    """The person behind the current session."""

    email: str | None
    name: str | None
    auth_configured: bool
    signed_in: bool
    email_verified: bool = True
    session_name: str | None = None  # single-user mode: the name set in the sidebar

    @property
    def label(self) -> str:
        """How the sidebar names the user."""
        if not self.auth_configured:
            return "single-user mode (no sign-in configured)"
        if not self.signed_in:
            return "not signed in"
        return self.email or self.name or "signed-in user"

    @property
    def audit_name(self) -> str | None:
        """The name written to the audit trail (None: the registry's default, the OS user)."""
        if self.auth_configured and self.signed_in:
            return (self.email or self.name or "signed-in user")[:MAX_AUDIT_NAME_CHARS]
        if not self.auth_configured:
            return self.session_name
        return None


def current_user() -> User:
    """The user of this session, read from `st.user`."""
    info = st.user.to_dict()
    configured = "is_logged_in" in info
    signed_in = bool(info.get("is_logged_in")) if configured else False
    email = info.get("email")
    session_name = _clean_name(st.session_state.get(AUDIT_NAME_KEY)) if not configured else ""
    return User(
        email=str(email).strip().lower() if email else None,
        name=str(info["name"]) if info.get("name") else None,
        auth_configured=configured,
        signed_in=signed_in,
        email_verified=info.get("email_verified") is not False,
        session_name=session_name or None,
    )


def _clean_name(value: object) -> str:
    """One line of plain text, at most MAX_AUDIT_NAME_CHARS (control characters dropped)."""
    text = "".join(char for char in str(value or "") if char.isprintable())
    return " ".join(text.split())[:MAX_AUDIT_NAME_CHARS]


def default_audit_name(settings: Settings) -> str:
    """PREDICTIONDEX_USER, else the operating-system user ("unknown" without a login name)."""
    if settings.audit_user:
        return settings.audit_user
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - some containers have no login name
        return "unknown"


def identity_sidebar(settings: Settings) -> User:
    """Show who acts; in single-user mode let the user set the name the audit records."""
    if not _clean_name(st.session_state.get(AUDIT_NAME_KEY)):  # new session, or cleared
        st.session_state[AUDIT_NAME_KEY] = default_audit_name(settings)
    user = current_user()
    if not user.auth_configured:
        st.caption(
            ":material/person: **Single-user mode** (no sign-in configured): anyone "
            "who opens the app may promote and roll back."
        )
        st.text_input(
            "Your name in the audit trail",
            max_chars=MAX_AUDIT_NAME_CHARS,
            key=AUDIT_NAME_KEY,
            help="Recorded with every promotion and rollback you make in this session. "
            "Default: PREDICTIONDEX_USER, else the operating-system user.",
        )
        user = current_user()
        st.caption(f":material/edit_note: The audit records you as **{_plain(user.audit_name)}**")
    return user


def _plain(text: object) -> str:
    from app.versions import plain

    return plain(str(text))


def can_approve(settings: Settings, user: User | None = None) -> bool:
    """True when this user may change the registry (always, in single-user mode)."""
    user = user or current_user()
    if not user.auth_configured:
        return True
    return bool(
        user.signed_in
        and user.email_verified
        and user.email
        and user.email in {approver.lower() for approver in settings.approvers}
    )


def role_of(settings: Settings, user: User | None = None) -> str:
    """'approver', 'viewer' or 'single-user'."""
    user = user or current_user()
    if not user.auth_configured:
        return "single-user"
    return "approver" if can_approve(settings, user) else "viewer"


def require_approver(settings: Settings, action: str) -> User:
    """The current user if they may act, else NotAllowed saying who may."""
    user = current_user()
    if can_approve(settings, user):
        return user
    if not user.signed_in:
        raise NotAllowed(f"Sign in to {action}: only approvers may do it.")
    if not settings.approvers:
        raise NotAllowed(
            f"Nobody may {action} from the dashboard: no approvers are configured. "
            "Set PREDICTIONDEX_APPROVERS to a comma-separated list of e-mails."
        )
    raise NotAllowed(
        f"{user.label} may not {action}: only the approvers listed in PREDICTIONDEX_APPROVERS "
        "may. Ask one of them."
    )


def why_not_allowed(settings: Settings, action: str) -> str:
    """The sentence a page shows instead of an action's buttons."""
    user = current_user()
    if not user.signed_in:
        return f"Sign in (sidebar) to {action}: only approvers may."
    if not settings.approvers:
        return f"Nobody may {action} here: no approvers are configured (PREDICTIONDEX_APPROVERS)."
    from app.versions import plain

    return f"Signed in as {plain(user.label)}: only approvers may {action}."
