"""Promotion and rollback: move a stage's alias under the promotion lock, audited.

`expected_current` says which version the caller saw holding the stage: a version number,
`None` ("nobody holds it") or `ANY` (don't check). A mismatch is a `PromotionConflict`, written to
the audit as a refused attempt, and nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from core.registry import audit
from core.registry.checks import (
    ARCHIVED,
    MAX_REASON_CHARS,
    MAX_USER_CHARS,
    STAGE_TAG,
    as_version,
    clean_text,
    default_user,
    parse_version,
    stage_alias,
    validate_model_name,
)
from core.registry.errors import NotRegisteredError, PromotionConflict, RegistryError
from core.registry.lock import promotion_lock
from core.registry.store import Store, translate
from core.registry.versions import get_registered, get_version

logger = logging.getLogger(__name__)


class _Any:
    """The type of ANY."""

    _instance: _Any | None = None

    def __new__(cls) -> _Any:
        cls._instance = cls._instance or super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion or rollback did.

    Attributes:
        model_name; version: the version now holding the stage; stage: "Production"/"Staging";
        alias: "production"/"staging"; previous_version: the holder before (None = nobody);
        changed: False when `version` already held the stage (nothing written);
        user; action: "promote" or "rollback"; reason;
        time: when (UTC) and seq: the audit entry's position — both None when not changed;
        fallback: what a `follow` step under the lock returned (the seed's promote_to_production:
            the local fallback's core.predict.export.FallbackSync), else None.
    """

    model_name: str
    version: int
    stage: str
    alias: str
    previous_version: int | None
    changed: bool
    user: str
    action: str
    reason: str
    time: datetime | None = None
    seq: int | None = None
    fallback: Any = None


@dataclass(frozen=True)
class _Request:
    name: str
    stage: str
    alias: str
    action: str
    reason: str
    user: str
    expected: int | None | _Any


def _request(model_name, stage, action, reason, user, expected_current) -> _Request:
    stage_name, alias = stage_alias(stage)
    if expected_current is not ANY and expected_current is not None:
        expected_current = parse_version(expected_current)
    return _Request(
        name=validate_model_name(model_name),
        stage=stage_name,
        alias=alias,
        action=action,
        reason=clean_text(reason, "reason", MAX_REASON_CHARS),
        user=clean_text(user, "user name", MAX_USER_CHARS) or default_user(),
        expected=expected_current,
    )


def promote(
    store: Store,
    model_name: str,
    version: int | str,
    *,
    reason: str = "",
    user: str | None = None,
    expected_current: int | None | _Any = ANY,
    stage: str = "Production",
    follow: Callable[[PromotionResult], Any] | None = None,
) -> PromotionResult:
    """Point the stage's alias at `version` (race-safe, audited); the loser is tagged Archived.

    `follow(result)`, when given, runs before the lock is released (also when `version` already
    held the stage) and its return value is the result's `fallback`: whatever it writes is then
    ordered like the promotions themselves, so the last promotion's step is the last one run.

    Raises:
        PromotionConflict: the stage is not held by `expected_current`; nothing changed.
        RegistryError: bad input, unknown model/version, lock busy, or the store failed.
    """
    number = parse_version(version)
    request = _request(model_name, stage, "promote", reason, user, expected_current)
    with translate("promote the version", store.settings):
        get_registered(store.client, request.name)
        get_version(store.client, request.name, number)  # fail fast, before taking the lock
        with _locked(store, request.name):
            result = _move_alias(store, request, number)
            return result if follow is None else replace(result, fallback=follow(result))


def rollback(
    store: Store,
    model_name: str,
    *,
    to: int | str | None = None,
    reason: str = "",
    user: str | None = None,
    expected_current: int | None | _Any = ANY,
    stage: str = "Production",
    follow: Callable[[PromotionResult], Any] | None = None,
) -> PromotionResult:
    """Move the stage one step back through its holders' history (or to the earlier holder `to`).

    Versions that no longer exist are skipped. Undoing a rollback is a promotion. `follow` as
    for `promote`.

    Raises:
        RegistryError: nobody holds the stage, no earlier holder, `to` never held the stage
            before the current holder (the message lists those that did), or the store failed.
        PromotionConflict: the stage is not held by `expected_current`; nothing changed.
    """
    target_asked = None if to is None else parse_version(to)
    request = _request(model_name, stage, "rollback", reason, user, expected_current)
    with translate("roll back", store.settings):
        get_registered(store.client, request.name)
        with _locked(store, request.name):
            registered = store.client.get_registered_model(request.name)
            current = as_version(registered.aliases.get(request.alias))
            entries = audit.parse_entries(registered.tags)
            target = _rollback_target(store, request, current, entries, target_asked)
            result = _move_alias(store, request, target)
            return result if follow is None else replace(result, fallback=follow(result))


def _locked(store: Store, name: str):
    return promotion_lock(store.client, name, store.lock_timeout_seconds, store.lock_stale_seconds)


def _exists(store: Store, name: str, number: int) -> bool:
    try:
        get_version(store.client, name, number)
    except RegistryError:
        return False
    return True


def _rollback_target(store, request, current, entries, asked) -> int:
    name, stage = request.name, request.stage
    if current is None:
        raise RegistryError(
            f"nothing to roll back: no version of {name} holds {stage}. "
            f"Promote one with `python -m core.registry promote VERSION`."
        )
    holders = audit.earlier_holders(entries, stage, current)
    if asked is not None:
        return _chosen_target(store, request, current, holders, asked)
    earlier = [row.version for row in holders if not row.rolled_back_over]
    if not earlier:  # first holder, or one the trail never saw (alias set outside PredictionDex)
        raise RegistryError(audit.no_earlier_holder(entries, stage, current, name))
    target = audit.previous_holder(entries, stage, current, lambda v: _exists(store, name, v))
    if target is None:
        gone = ", ".join(f"v{v}" for v in earlier)
        raise RegistryError(
            f"cannot roll back: every earlier {stage} version of {name} ({gone}) no longer "
            "exists; promote another version explicitly."
        )
    return target


def _chosen_target(store, request, current, holders, asked: int) -> int:
    """`rollback --to asked`: any version that held the stage before, if it still exists."""
    name, stage = request.name, request.stage
    if asked == current:
        raise RegistryError(f"v{asked} already holds {stage}: nothing to roll back.")
    if not _exists(store, name, asked):
        raise RegistryError(
            f"cannot roll back {stage} to v{asked}: {name} has no version {asked} (deleted or "
            "never registered); `python -m core.registry list` shows the versions."
        )
    if asked not in {row.version for row in holders}:
        listed = ", ".join(
            f"v{row.version}" for row in holders if _exists(store, name, row.version)
        )
        raise RegistryError(
            f"cannot roll back {stage} to v{asked}: it never held {stage}. Versions that did: "
            f"{listed or 'none'}; or promote v{asked} instead."
        )
    return asked


def _move_alias(store: Store, request: _Request, number: int) -> PromotionResult:
    """Under the lock: re-check the alias, move it, archive the loser, audit."""
    client, name = store.client, request.name
    registered = client.get_registered_model(name)
    current = as_version(registered.aliases.get(request.alias))
    fields = dict(user=request.user, action=request.action, stage=request.stage,
                  from_version=current, to_version=number, reason=request.reason)  # fmt: skip
    if request.expected is not ANY and current != request.expected:
        audit.append(client, name, registered.tags, **fields, status="conflict")
        now = f"v{current}" if current is not None else "held by no version"
        wanted = f"v{request.expected}" if request.expected is not None else "no version"
        raise PromotionConflict(
            f"{request.stage} is now {now} (you expected {wanted}); nothing was changed. "
            "Reload the versions and decide again."
        )
    version = get_version(client, name, number)
    result = PromotionResult(name, number, request.stage, request.alias, current, False,
                             request.user, request.action, request.reason)  # fmt: skip
    if current == number:
        logger.info("%s v%s already holds %s", name, number, request.stage)
        return _record_outside_change(store, request, registered, result)
    client.set_registered_model_alias(name, request.alias, str(number))
    if request.alias == "production":
        if current is not None:
            client.set_model_version_tag(name, str(current), STAGE_TAG, ARCHIVED)
        if version.tags.get(STAGE_TAG) == ARCHIVED:
            client.delete_model_version_tag(name, str(number), STAGE_TAG)
    entry = audit.append(client, name, registered.tags, **fields, status="ok")
    logger.info("%s %s v%s -> %s (was v%s)", request.action, name, number, request.stage, current)
    return PromotionResult(name, number, request.stage, request.alias, current, True,
                           request.user, request.action, request.reason, entry.time, entry.seq)  # fmt: skip


def _record_outside_change(store: Store, request: _Request, registered, result: PromotionResult):
    """`promote N` while N already holds the stage: nothing moves, but when the audit trail's
    last action of the stage installed another version (the alias was moved outside
    PredictionDex), the trail is told: an entry from that version to N, so rollback and doctor
    agree with the alias again. Returns `result`, with the entry's time and seq when written."""
    if request.action != "promote":
        return result
    entries = [e for e in audit.parse_entries(registered.tags) if e.done]
    last = next((e for e in reversed(entries) if e.stage == request.stage), None)
    if last is None or last.to_version == result.version:
        return result
    reason = request.reason or "recorded an alias change made outside PredictionDex"
    entry = audit.append(
        store.client, request.name, registered.tags, user=request.user, action="promote",
        stage=request.stage, from_version=last.to_version, to_version=result.version,
        reason=reason, status="ok",
    )  # fmt: skip
    if request.alias == "production" and last.to_version is not None:
        if _exists(store, request.name, last.to_version):
            store.client.set_model_version_tag(
                request.name, str(last.to_version), STAGE_TAG, ARCHIVED
            )
    return replace(result, previous_version=last.to_version, reason=reason,
                   time=entry.time, seq=entry.seq)  # fmt: skip


def earlier_holders(store: Store, model_name: str, stage: str = "Production"):
    """The versions that held `stage` before the current holder and still exist, most recent
    first, as `audit.EarlierHolder` rows (version, promoted_at, promoted_by, action, reason).

    Raises:
        RegistryError: bad name/stage or the store failed; [] when the model is not registered.
    """
    name = validate_model_name(model_name)
    stage_name, alias = stage_alias(stage)
    with translate("read the audit trail", store.settings):
        try:
            registered = get_registered(store.client, name)
        except NotRegisteredError:
            return []
        current = as_version(registered.aliases.get(alias))
        rows = audit.earlier_holders(audit.parse_entries(registered.tags), stage_name, current)
        return [row for row in rows if _exists(store, name, row.version)]
