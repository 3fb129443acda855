"""Everything that changes the registry, each guarded by the role check itself.

The pages only offer these actions to approvers, and every function here checks again with
`auth.require_approver()`, so an action replayed from a viewer's session (a crafted pending
action in session_state, say) is refused. After a change the registry caches are cleared and
the serving model re-resolves its alias, so the new Production answers the next prediction;
the new Production is also exported as the local fallback (models/), so the model that answers
when the registry is down is the same one.
"""

from __future__ import annotations

import numbers
from typing import Any

import streamlit as st

from app import auth, cache, jobs
from core.config import STAGES, Settings
from core.registry import PromotionConflict, PromotionResult, RegistryError
from core.train import TrainConfig, TrainingError

PENDING_KINDS = ("promote", "rollback")
MAX_REASON_CHARS = 500


def _version(value: Any) -> Any:
    """Integers of any kind (numpy's too) as int; anything else is left to core to refuse."""
    return (
        int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    )


def _expected(version: Any) -> Any:
    """What the user saw holding the stage: a version, or None for "nobody" (a race is caught)."""
    return None if version is None or version == "" or version == 0 else _version(version)


def _clean_reason(reason: Any) -> str:
    text = " ".join(str(reason or "").split())
    if not text:
        raise RegistryError("Give a reason: it is kept in the audit trail with your name.")
    return text[:MAX_REASON_CHARS]


def promote(
    settings: Settings, version: int, stage: str, reason: str, expected_current: int | None
) -> str:
    """Point the stage at `version` if it still holds `expected_current`; returns a message."""
    user = auth.require_approver(settings, f"promote a version to {stage}")
    reason = _clean_reason(reason)
    tracker = cache.get_tracker(settings)
    try:
        result = tracker.promote_to_production(
            settings.model_name,
            _version(version),
            reason=reason,
            user=user.audit_name,
            expected_current=_expected(expected_current),
            stage=stage,
        )
    except PromotionConflict:
        cache.clear_registry_caches(settings)
        raise
    follow = _follow(result)  # before the reload, so serving sees the new fallback
    cache.clear_registry_caches(settings)
    if not result.changed:
        return f"Version {version} already holds {stage}: nothing to change.{follow}"
    previous = result.previous_version
    was = f" (was v{previous})" if previous is not None else ""
    return f"Version {version} is now {stage}{was}.{follow}"


def rollback(
    settings: Settings, reason: str, expected_current: int | None, target: int | None = None
) -> str:
    """Move Production back to `target` (an earlier holder), or one holder back; a message."""
    user = auth.require_approver(settings, "roll back Production")
    reason = _clean_reason(reason)
    tracker = cache.get_tracker(settings)
    try:
        result = tracker.rollback(
            settings.model_name,
            reason=reason,
            user=user.audit_name,
            expected_current=_expected(expected_current),
            to=None if target is None else _version(target),
        )
    except PromotionConflict:
        cache.clear_registry_caches(settings)
        raise
    follow = _follow(result)
    cache.clear_registry_caches(settings)
    return (
        f"Rolled back: Production is v{result.version} again (was v{result.previous_version})."
        f"{follow}"
    )


def _follow(result: PromotionResult) -> str:
    """What became of the local fallback; ' Local fallback updated to v3.'.

    The tracker exported the stage's new holder under the promotion lock. The promotion stands
    whatever happened there: a failed export is one sentence saying how to retry
    (`python -m core.predict export`). '' for a stage that has no local fallback.
    """
    synced = result.fallback
    if synced is None:
        return ""
    text = synced.message
    return f" {text[:1].upper()}{text[1:]}."


def set_description(settings: Settings, version: int, text: str) -> str:
    """Replace a version's description; returns a message."""
    auth.require_approver(settings, "edit a version's description")
    cache.get_tracker(settings).set_description(settings.model_name, _version(version), text)
    cache.clear_registry_caches()
    return f"Description of version {version} saved."


def run_pending(settings: Settings, pending: Any) -> str:
    """Execute a confirmed pending action from session_state (validated: it may be crafted)."""
    if not isinstance(pending, dict) or pending.get("kind") not in PENDING_KINDS:
        raise RegistryError("That action is not one the Models page offers: choose it again.")
    stage = pending.get("stage", "Production")
    if stage not in STAGES:
        raise RegistryError("Choose Production or Staging.")
    if pending["kind"] == "promote":
        return promote(
            settings,
            pending.get("version"),
            stage,
            pending.get("reason", ""),
            pending.get("expected_current"),
        )
    return rollback(
        settings, pending.get("reason", ""), pending.get("expected_current"), pending.get("target")
    )


def current_training() -> jobs.TrainingJob | None:
    """This session's training job, if any."""
    job = st.session_state.get(jobs.SESSION_KEY)
    return job if isinstance(job, jobs.TrainingJob) else None


def start_training(settings: Settings, config: TrainConfig) -> jobs.TrainingJob:
    """Start a background training for this session (one at a time per session)."""
    auth.require_approver(settings, "train a model")
    running = current_training()
    if running is not None and not running.finished:
        raise TrainingError("A training is already running in this session: wait for its result.")
    cache.check_reachable(settings)  # fail now, not after MLflow's minutes of retries
    model = cache.get_prediction_model(settings)

    def after_training() -> None:
        cache.clear_registry_caches()
        cache.refresh_serving_model(model)

    job = jobs.TrainingJob(config.checked(), settings, on_finish=after_training).start()
    st.session_state[jobs.SESSION_KEY] = job
    return job
