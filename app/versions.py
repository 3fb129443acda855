"""The registry tables shaped for the Models and Home pages (plain pandas, no Streamlit)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from core.registry import audit as registry_audit
from core.registry import versions as registry_versions
from core.registry.audit import AuditEntry, EarlierHolder

# Metrics a person may chart: column of compare_models -> label.
METRIC_LABELS: dict[str, str] = {
    "accuracy": "Test accuracy",
    "f1_score": "F1",
    "roc_auc": "ROC-AUC",
    "oracle_accuracy": "Oracle accuracy",
    "oracle_gap": "Gap to the oracle (paired excess error)",
    "matchup_mae": "Matchup MAE against the truth",
    "precision": "Precision",
    "recall": "Recall",
    "train_accuracy": "Train accuracy",
    "overfitting": "Overfitting (train - test)",
    "log_loss": "Log loss",
    "brier": "Brier score",
}
# Metrics where a smaller value is better (their deltas are coloured the other way).
LOWER_IS_BETTER = frozenset({"oracle_gap", "overfitting", "log_loss", "brier", "matchup_mae"})
DELTA_METRICS = ("accuracy", "f1_score", "roc_auc", "oracle_gap", "log_loss")
MARKDOWN_CHARS = frozenset("\\`*_{}[]()<>#+-.!|~:$")
TABLE_COLUMNS = [
    "version",
    "version_label",
    "stage",
    "accuracy",
    "f1_score",
    "roc_auc",
    "oracle_accuracy",
    "gap_to_oracle",
    "matchup_mae",
    "model_type",
    "hyperparameters",
    "created_at",
    "promoted_by",
    "promoted_at",
    "description",
]


def with_gap(versions: pd.DataFrame) -> pd.DataFrame:
    """compare_models() plus oracle_gap = the paired excess error (>= 0; NaN when the version
    has no evaluation) and gap_to_oracle, its text with the bootstrap 95% interval."""
    frame = versions.copy()
    for column in ("excess_error", "excess_error_low", "excess_error_high", "matchup_mae"):
        if column not in frame:
            frame[column] = float("nan")
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["oracle_gap"] = frame["excess_error"]
    frame["gap_to_oracle"] = [
        gap_text(row.excess_error, row.excess_error_low, row.excess_error_high)
        for row in frame.itertuples()
    ]
    return frame


def gap_text(estimate: float, low: float, high: float) -> str:
    """'0.0052 [0.0033, 0.0073]', or 'no evaluation stored' for an older version."""
    if _number(estimate) is None:
        return "no evaluation stored"
    if _number(low) is None or _number(high) is None:
        return f"{estimate:.4f}"
    return f"{estimate:.4f} [{low:.4f}, {high:.4f}]"


def last_promotions(audit: pd.DataFrame) -> pd.DataFrame:
    """Per version: who last installed it in a stage and when (successful actions only)."""
    if audit.empty:
        return pd.DataFrame(columns=["version", "promoted_by", "promoted_at"])
    done = audit[(audit["status"] == "ok") & audit["to_version"].notna()]
    latest = done.sort_values(["time", "seq"]).groupby("to_version", as_index=False).last()
    return pd.DataFrame(
        {
            "version": latest["to_version"].astype(int),
            "promoted_by": latest["user"].astype(str) + " (" + latest["action"].astype(str) + ")",
            "promoted_at": latest["time"],
        }
    )


def version_table(versions: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """The compare table of the Models page, newest version first (times in UTC)."""
    frame = with_gap(versions).merge(last_promotions(audit), on="version", how="left")
    frame = frame[TABLE_COLUMNS].sort_values("version", ascending=False, ignore_index=True)
    return naive_utc(frame, ("created_at", "promoted_at"))


def audit_table(audit: pd.DataFrame) -> pd.DataFrame:
    """The audit trail newest first, for display (times in UTC), in the CLI's words
    (core.registry.audit.plain_frame: 'kept Production v2', 'v3 not promoted: <why>', '—')."""
    newest = audit.sort_values(["time", "seq"], ascending=False, ignore_index=True)
    return naive_utc(registry_audit.plain_frame(newest), ("time",))


def naive_utc(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Timezone-aware columns as naive UTC (Arrow conversion of aware columns is deprecated)."""
    frame = frame.copy()
    for column in columns:
        values = pd.to_datetime(frame[column], utc=True)
        frame[column] = values.dt.tz_convert(None)
    return frame


def holder(versions: pd.DataFrame, stage: str) -> int | None:
    """The version holding a stage (Production/Staging), or None."""
    rows = versions.loc[versions["stage"] == stage, "version"]
    return int(rows.iloc[0]) if len(rows) else None


def audit_entries(audit: pd.DataFrame) -> list[AuditEntry]:
    """The audit table (core's audit_log / audit_frame) back as core's typed entries."""
    return [
        AuditEntry(
            seq=int(row["seq"]),
            time=pd.Timestamp(row["time"]).to_pydatetime(),
            user=str(row["user"]),
            action=str(row["action"]),
            stage=str(row["stage"]),
            from_version=None if pd.isna(row["from_version"]) else int(row["from_version"]),
            to_version=None if pd.isna(row["to_version"]) else int(row["to_version"]),
            reason=str(row["reason"]),
            status=str(row["status"]),
        )
        for _, row in audit.iterrows()
    ]


def rollback_target(
    audit: pd.DataFrame, stage: str, current: int | None, existing: set[int] | None = None
) -> int | None:
    """The version a rollback would restore (core.registry.audit's one rule), or None.

    `existing`: the version numbers that still exist (others are skipped); None = all.
    """
    if current is None or audit.empty:
        return None
    return registry_audit.previous_holder(
        audit_entries(audit), stage, current, lambda v: existing is None or v in existing
    )


previous_holder = rollback_target  # the name pages/models.py calls (core has the one rule)


def earlier_holders(
    audit: pd.DataFrame, stage: str, current: int | None, existing: set[int] | None = None
) -> list[EarlierHolder]:
    """The rollback path of the stage (the earlier holders a rollback steps back to), most
    recent first, with when/who/why, for the "Roll back to…" picker. Versions a rollback went
    back past are left out: going to them is a promotion (or `rollback --to` in the CLI)."""
    if current is None or audit.empty:
        return []
    rows = registry_audit.earlier_holders(audit_entries(audit), stage, current)
    return [
        row
        for row in rows
        if not row.rolled_back_over and (existing is None or row.version in existing)
    ]


def metric_deltas(versions: pd.DataFrame, version: int, reference: int) -> dict[str, dict]:
    """Selected version vs reference, per metric: value, reference value and delta."""
    frame = with_gap(versions).set_index("version")
    deltas = {}
    for metric in DELTA_METRICS:
        value = _number(frame.at[version, metric])
        base = _number(frame.at[reference, metric])
        delta = None if value is None or base is None else value - base
        deltas[metric] = {"value": value, "reference": base, "delta": delta}
    return deltas


@dataclass(frozen=True)
class DeltaBasis:
    """Whether two versions' stored test metrics were measured on the same battles.

    Fields: version, reference (version numbers), battles and reference_battles (test battles
    each was measured on, None = unknown), same_battles (True only when both stored evaluations
    describe the same test battles: a delta is then a gain or a drop; otherwise it is shown
    neutral with `note`).
    """

    version: int
    reference: int
    battles: int | None
    reference_battles: int | None
    same_battles: bool

    @property
    def note(self) -> str | None:
        """Why the deltas are neutral and what to do instead, or None when they are not."""
        if self.same_battles:
            return None
        counts = f"{battles_text(self.battles)} vs {battles_text(self.reference_battles)}"
        known = self.battles is not None and self.reference_battles is not None
        what = "different test battles" if known else "test battles not known to be the same"
        return (
            f"{what} ({counts}): use Compare on fresh battles for a paired verdict "
            f"(v{self.version} against v{self.reference} on the same battles)."
        )


def battles_text(count: int | None) -> str:
    """'40,000' or 'unknown'."""
    return "unknown" if count is None else f"{count:,}"


def measured_battles(report: dict | None, accuracy: object = None) -> int | None:
    """How many test battles a version's stored test metrics come from: the confusion counts of
    its stored evaluation (from the training run), or None when there is none or it describes
    other battles (its accuracy differs from the logged test accuracy, e.g. re-evaluated later)."""
    confusion = (report or {}).get("confusion") or {}
    counts = [confusion.get(key) for key in ("tn", "fp", "fn", "tp")]
    if not all(isinstance(count, int) and count >= 0 for count in counts) or not sum(counts):
        return None
    total, logged = sum(counts), _number(accuracy)
    if logged is not None and abs((counts[0] + counts[3]) / total - logged) > 1e-9:
        return None
    return total


def _fingerprint(report: dict | None, accuracy: object) -> tuple | None:
    """The test battles' own counts (total, A wins, battles per slice value): equal for the
    same battles whatever the model; two different draws practically never share them all."""
    total = measured_battles(report, accuracy)
    if total is None:
        return None
    confusion = report["confusion"]
    slices = report.get("slices") or {}
    per_slice = tuple(
        (name, tuple((row.get("value"), row.get("battles")) for row in slices[name]))
        for name in sorted(slices)
    )
    return total, confusion["fn"] + confusion["tp"], per_slice


def delta_basis(
    versions: pd.DataFrame, version: int, reference: int, reports: dict[int, dict | None]
) -> DeltaBasis:
    """DeltaBasis of `version` against `reference` from their stored evaluations (`reports`,
    version -> stored report or None) and the logged test accuracies in `versions`."""
    accuracy = versions.set_index("version")["accuracy"]
    prints = {v: _fingerprint(reports.get(v), accuracy.get(v)) for v in (version, reference)}
    return DeltaBasis(
        version=version,
        reference=reference,
        battles=None if prints[version] is None else prints[version][0],
        reference_battles=None if prints[reference] is None else prints[reference][0],
        same_battles=prints[version] is not None and prints[version] == prints[reference],
    )


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def metric_text(value: object) -> str:
    """A metric with 4 decimals, or "—" when the version did not log it (None or NaN)."""
    number = _number(value)
    return "—" if number is None else f"{number:.4f}"


def oracle_delta(row: pd.Series) -> str:
    """'model 0.9339 (-0.0052)': the model's expected accuracy on the oracle's battles and its
    excess error; 'model -0.0052' for a version evaluated before expected_accuracy was stored."""
    gap = _number(row.get("oracle_gap"))
    expected = _number(row.get("expected_accuracy"))
    if gap is None:
        return "model: no evaluation stored"
    if expected is None:
        return f"model {-gap:+.4f}"
    return f"model {expected:.4f} ({-gap:+.4f})"


def version_label(row: pd.Series) -> str:
    """'v3 "tuned" · Production · accuracy 0.9391 · 150 trees · depth 6' for a select box."""
    accuracy = _number(row.get("accuracy"))
    shown = f"accuracy {accuracy:.4f}" if accuracy is not None else "no accuracy"
    stage = row.get("stage") or registry_versions.NO_STAGE
    label = str(row.get("version_label") or "")
    named = f"v{int(row['version'])}" + (f' "{label[:30]}"' if label else "")
    parts = [named, str(stage), shown, str(row.get("hyperparameters") or "")]
    return " · ".join(part for part in parts if part)


def plain(text: object) -> str:
    """Text shown through Markdown as typed (no links, images, colours or icons from it)."""
    return "".join(f"\\{char}" if char in MARKDOWN_CHARS else char for char in str(text))


def latest_change(audit: pd.DataFrame) -> str | None:
    """One line about the latest successful promotion or rollback, or None."""
    done = audit[audit["status"] == "ok"] if not audit.empty else audit
    if done.empty:
        return None
    last = done.iloc[-1]
    came_from = "" if pd.isna(last["from_version"]) else f" (from v{last['from_version']})"
    return (
        f"Latest change: {last['action']} of v{last['to_version']} to {last['stage']}{came_from}"
        f" by {plain(last['user'])} on {last['time']:%Y-%m-%d %H:%M} UTC: "
        f"{plain(last['reason'] or 'no reason given')}"
    )


def no_holder_text(audit: pd.DataFrame, stage: str, threshold: float) -> str:
    """Why nobody holds `stage`, from the audit trail: never held yet, or removed outside
    PredictionDex (the alias or its version deleted) after the trail's last holder."""
    history = registry_audit.holder_history(audit_entries(audit), stage) if not audit.empty else []
    promote = "promote one on the Models page"
    if not history:
        return (
            f"No version has held {stage} yet: train one on the Train page (it is promoted when "
            f"its test accuracy reaches {threshold:g}) or {promote}."
        )
    version, entry = history[-1]
    since = f" (installed {entry.time:%Y-%m-%d %H:%M} UTC by {plain(entry.user)})" if entry else ""
    return (
        f"No version holds {stage} now: v{version} held it last{since}, then it was removed "
        f"outside PredictionDex (its alias or the version was deleted). Predictions use the "
        f"local fallback meanwhile: {promote}, or train a new one."
    )


def holder_label(row: EarlierHolder) -> str:
    """'v3 · promoted 2026-11-29 14:02 by ana: better log loss' (for the rollback picker)."""
    when = row.promoted_at.strftime("%Y-%m-%d %H:%M")
    who = f" by {row.promoted_by}" if row.promoted_by else ""
    why = f": {row.reason}" if row.reason else ""
    verb = {"promote": "promoted", "rollback": "restored"}.get(row.action, "held")
    return f"v{row.version} · {verb} {when}{who}{why}"[:160]
