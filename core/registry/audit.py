"""The audit trail: registered-model tags `audit.<seq>.<id>` holding one JSON entry each.

Append-only and kept in the tracking store, so every replica and the MLflow UI see it. This
module is the only implementation of "who held Production before": the history of a stage's
holders is rebuilt from the successful entries (a promotion pushes a version, a rollback goes
back down to the version it restored), and each rollback steps one holder further back.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.registry.checks import as_version

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

AUDIT_PREFIX = "audit."
AUDIT_COLUMNS = [
    "time",
    "user",
    "action",
    "stage",
    "from_version",
    "to_version",
    "reason",
    "status",
    "seq",
]


@dataclass(frozen=True)
class AuditEntry:
    """One promotion or rollback attempt.

    Attributes:
        seq: position in the trail (1, 2, ...; strictly increasing).
        time: when, timezone-aware UTC.
        user: who (audit name or e-mail); action: "promote" or "rollback";
        stage: "Production" or "Staging".
        from_version / to_version: holder before / version installed (None = no version).
        reason: as typed; status: "ok" (done) or "conflict" (refused, nothing changed).
    """

    seq: int
    time: datetime
    user: str
    action: str
    stage: str
    from_version: int | None
    to_version: int | None
    reason: str
    status: str

    @property
    def done(self) -> bool:
        """True when the action changed the alias (status "ok")."""
        return self.status == "ok"


@dataclass(frozen=True)
class EarlierHolder:
    """A version that held a stage before the current holder (for "Roll back to…").

    Attributes:
        version: the version number; promoted_at: when it last got the stage (UTC);
        promoted_by: who; action: "promote" or "rollback"; reason: why;
        rolled_back_over: True when a later rollback went back past it, so the rollback button
            no longer steps to it (it can still be chosen with `rollback --to`).
    """

    version: int
    promoted_at: datetime
    promoted_by: str
    action: str
    reason: str
    rolled_back_over: bool = False


def _parse_time(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_entries(tags: dict[str, str]) -> list[AuditEntry]:
    """The audit entries in a registered model's tags, oldest first (malformed tags skipped)."""
    entries = []
    for key, value in tags.items():
        if not key.startswith(AUDIT_PREFIX):
            continue
        try:
            seq = int(key.split(".")[1])
            raw = json.loads(value)
        except (ValueError, IndexError):
            logger.warning("ignoring malformed audit tag %s", key)
            continue
        if isinstance(raw, dict):
            entries.append(_entry(seq, raw))
    return sorted(entries, key=lambda entry: (entry.seq, entry.time))


def _entry(seq: int, raw: dict) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        time=_parse_time(raw.get("time")),
        user=str(raw.get("user", "")),
        action=str(raw.get("action", "")),
        stage=str(raw.get("stage", "")),
        from_version=as_version(raw.get("from_version")),
        to_version=as_version(raw.get("to_version")),
        reason=str(raw.get("reason", "")),
        status=str(raw.get("status", "")),
    )


def append(client, model_name: str, tags: dict[str, str], **fields: object) -> AuditEntry:
    """Write one entry (fields of AuditEntry but seq/time); callers hold the promotion lock."""
    seq = max((entry.seq for entry in parse_entries(tags)), default=0) + 1
    now = datetime.now(UTC)
    record = {"time": now.isoformat(timespec="milliseconds"), **fields}
    key = f"{AUDIT_PREFIX}{seq:08d}.{uuid.uuid4().hex[:8]}"
    client.set_registered_model_tag(model_name, key, json.dumps(record, sort_keys=True))
    return _entry(seq, json.loads(json.dumps(record)))


def as_frame(entries: list[AuditEntry]) -> pd.DataFrame:
    """The entries as a table (AUDIT_COLUMNS; versions as nullable Int64), oldest first."""
    import pandas as pd

    frame = pd.DataFrame([asdict(entry) for entry in entries], columns=AUDIT_COLUMNS)
    if frame.empty:
        return frame
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for column in ("from_version", "to_version"):
        frame[column] = frame[column].astype("Int64")
    return frame.sort_values(["time", "seq"], ignore_index=True)


def holder_history(entries: list[AuditEntry], stage: str) -> list[tuple[int, AuditEntry | None]]:
    """The stack of a stage's holders, oldest first: (version, the entry that installed it).

    A promotion pushes its version; a rollback pops back to the version it restored. A holder
    the trail never saw installed (set before the trail began) comes with entry None.
    """
    stack: list[tuple[int, AuditEntry | None]] = []
    for entry in entries:
        if not entry.done or entry.stage != stage or entry.to_version is None:
            continue
        if entry.from_version is not None and (not stack or stack[-1][0] != entry.from_version):
            stack.append((entry.from_version, None))
        if entry.action == "rollback":
            below = [i for i, (version, _) in enumerate(stack[:-1]) if version == entry.to_version]
            if below:
                del stack[below[-1] + 1 :]
                continue
        stack.append((entry.to_version, entry))
    return stack


def _below_current(entries: list[AuditEntry], stage: str, current: int | None) -> list:
    stack = holder_history(entries, stage)
    while stack and stack[-1][0] != current:
        stack.pop()  # the alias was moved outside PredictionDex: start from where it is
    return stack[:-1]


def _holder(version: int, entry: AuditEntry | None, rolled_back_over: bool) -> EarlierHolder:
    return EarlierHolder(
        version=version,
        promoted_at=entry.time if entry else datetime.fromtimestamp(0, UTC),
        promoted_by=entry.user if entry else "",
        action=entry.action if entry else "",
        reason=entry.reason if entry else "(before the audit trail)",
        rolled_back_over=rolled_back_over,
    )


def earlier_holders(
    entries: list[AuditEntry], stage: str, current: int | None
) -> list[EarlierHolder]:
    """Every other version that ever held `stage`, each once: first the rollback path (the
    holders a rollback steps back to, most recent first), then those a rollback went back past
    (`rolled_back_over`, most recently installed first)."""
    rows: list[EarlierHolder] = []
    seen = {current}
    for version, entry in reversed(_below_current(entries, stage, current)):
        if version not in seen:
            seen.add(version)
            rows.append(_holder(version, entry, False))
    for entry in reversed(entries):
        if entry.done and entry.stage == stage:
            for version in (entry.to_version, entry.from_version):
                if version is not None and version not in seen:
                    seen.add(version)
                    rows.append(
                        _holder(version, entry if version == entry.to_version else None, True)
                    )
    return rows


def previous_holder(
    entries: list[AuditEntry], stage: str, current: int | None, usable=lambda version: True
) -> int | None:
    """The version a rollback of `stage` from `current` restores: the nearest earlier holder
    for which `usable(version)` is true (e.g. it still exists), or None."""
    for row in earlier_holders(entries, stage, current):
        if not row.rolled_back_over and usable(row.version):
            return row.version
    return None
