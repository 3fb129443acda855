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
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.config import Settings


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
        """The name written to the audit trail (None: the OS user, in single-user mode)."""
        if self.auth_configured and self.signed_in:
            return (self.email or self.name or "signed-in user")[:100]
        return None


def current_user() -> User:
    """The user of this session, read from `st.user`."""
    info = st.user.to_dict()
    configured = "is_logged_in" in info
    signed_in = bool(info.get("is_logged_in")) if configured else False
    email = info.get("email")
    return User(
        email=str(email).strip().lower() if email else None,
        name=str(info["name"]) if info.get("name") else None,
        auth_configured=configured,
        signed_in=signed_in,
        email_verified=info.get("email_verified") is not False,
    )


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
