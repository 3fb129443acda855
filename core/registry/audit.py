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


# How a decision that moved nothing reads (its stored status -> words).
UNCHANGED = {"not_promoted": "not promoted", "conflict": "refused: the stage had changed meanwhile"}
NO_VERSION = "—"  # an empty from/to in a table a person reads


def _version_text(value: object) -> str:
    import pandas as pd

    return NO_VERSION if value is None or pd.isna(value) else f"v{int(value)}"


def _decision_reason(status: str, action: str, asked: str, reason: str) -> str:
    """'v6 not promoted: <why>', without repeating 'not promoted' when the stored reason
    already begins with it (training's policy writes 'not promoted: ...')."""
    outcome = UNCHANGED.get(status, status.replace("_", " "))
    verb = "" if action == "promote" else f"{action} to "
    why = " ".join(reason.split())
    for lead in ("model registered but ", ""):
        if why.lower().startswith(lead + outcome):
            why = why[len(lead + outcome) :].lstrip(" :")
            break
    head = f"{verb}{asked}{outcome}".strip()
    if not why:
        return head
    return f"{head} {why}" if why.startswith("(") else f"{head}: {why}"


def plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The audit table (as_frame's columns) as a person reads it, in the same row order: the
    CLI's `audit` and the Models page show this one wording.

    from/to are text ('v2', or '—' for no version). A decision that moved nothing (status not
    "ok": not_promoted, conflict) reads as what it was: action 'kept Production v2', to '—',
    and a reason naming the version not installed ('v3 not promoted: <why>'). `seq` is dropped.
    The stored entries are not changed.
    """
    shown = frame.drop(columns="seq", errors="ignore").copy()
    shown["action"] = shown["action"].astype(object)
    shown["reason"] = shown["reason"].astype(object)
    for index, row in shown.iterrows():
        if row["status"] == "ok":
            continue
        asked = _version_text(row["to_version"])
        shown.at[index, "action"] = f"kept {row['stage']} {_version_text(row['from_version'])}"
        shown.at[index, "reason"] = _decision_reason(
            str(row["status"]), str(row["action"]), "" if asked == NO_VERSION else f"{asked} ",
            str(row["reason"] or ""),
        )  # fmt: skip
        shown.at[index, "to_version"] = None
    for column in ("from_version", "to_version"):
        shown[column] = [_version_text(value) for value in shown[column]]
    return shown


def _holder_stacks(entries: list[AuditEntry], stage: str):
    """The stack of a stage's holders after each successful entry of that stage, oldest first
    (each a new list of (version, the entry that installed it or None), see holder_history)."""
    stack: list[tuple[int, AuditEntry | None]] = []
    for entry in entries:
        if not entry.done or entry.stage != stage or entry.to_version is None:
            continue
        if entry.from_version is not None and (not stack or stack[-1][0] != entry.from_version):
            stack.append((entry.from_version, None))
        below = [i for i, (version, _) in enumerate(stack[:-1]) if version == entry.to_version]
        if entry.action == "rollback" and below:
            del stack[below[-1] + 1 :]
        else:
            stack.append((entry.to_version, entry))
        yield list(stack)


def holder_history(entries: list[AuditEntry], stage: str) -> list[tuple[int, AuditEntry | None]]:
    """The stack of a stage's holders, oldest first: (version, the entry that installed it).

    A promotion pushes its version; a rollback pops back to the version it restored. A holder
    the trail never saw installed (set before the trail began) comes with entry None.
    """
    stacks = list(_holder_stacks(entries, stage))
    return stacks[-1] if stacks else []


def _below_current(entries: list[AuditEntry], stage: str, current: int | None) -> list:
    """The holders below `current` as the stack stood the last time the trail saw `current`
    hold the stage (the alias may have been moved back to it outside PredictionDex since);
    [] when the trail never saw it hold the stage."""
    below: list = []
    for stack in _holder_stacks(entries, stage):
        if any(version == current for version, _ in stack):
            while stack[-1][0] != current:
                stack.pop()
            below = stack[:-1]
    return below


def seen_holding(entries: list[AuditEntry], stage: str) -> set[int]:
    """The versions the trail saw hold `stage` (installed them, or replaced them)."""
    return {
        version
        for entry in entries
        if entry.done and entry.stage == stage
        for version in (entry.from_version, entry.to_version)
        if version is not None
    }


def no_earlier_holder(entries: list[AuditEntry], stage: str, current: int, name: str) -> str:
    """Why a rollback of `stage` from `current` has no step back, and what to do instead."""
    if current in seen_holding(entries, stage):
        return (
            f"no earlier {stage} version of {name} to roll back to (v{current} is the first "
            f"{stage} holder in the audit trail): promote a version explicitly instead."
        )
    decided = [e for e in entries if e.stage == stage and e.to_version == current]
    seen = (
        f" (the trail has only its {decided[-1].status.replace('_', ' ')} decision of "
        f"{decided[-1].time:%Y-%m-%d %H:%M} UTC)"
        if decided
        else ""
    )
    history = holder_history(entries, stage)
    way_out = (
        f"the trail's last {stage} holder is v{history[-1][0]}: roll back to it with "
        f"`python -m core.registry rollback --to {history[-1][0]}`"
        if history
        else f"the trail records no {stage} holder: promote a version explicitly instead"
    )
    return (
        f"cannot roll back {stage} from v{current}: the audit trail never saw v{current} hold "
        f"{stage}{seen}, so its alias was set outside PredictionDex (MlflowClient or the "
        f"MLflow UI); {way_out}."
    )


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
