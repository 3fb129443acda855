"""The Models page's tables and deltas, each number with what it is compared with: the versions
table (a plain label and a help text per column: what, unit, measured on which battles), a
version's deltas against Production (a gain or a drop only when both were measured on the same
test battles), the audit trail and the hyperparameter searches."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import cache, charts, guard, versions
from app.versions import LOWER_IS_BETTER, METRIC_LABELS
from core.config import Settings

NUMBER = "%.4f"
TEST_BATTLES = (
    "this version's own test battles: the matchups held out from its training (20% of the "
    "battles it was trained on by default), so two versions are measured on different battles"
)
OBJECTIVES = "models_study_objectives"  # session memo: study parent run id -> its objective
OBJECTIVE_NAMES = {
    "log_loss": "log loss (nats, lower is better)",
    "accuracy": "accuracy (0-1, higher is better)",
}


def _number(label: str, help: str) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format=NUMBER, help=help)


def _when(label: str, help: str) -> st.column_config.DatetimeColumn:
    return st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm", help=help)


VERSION_COLUMNS = {
    "version": st.column_config.NumberColumn(
        "version", format="v%d", help="The registered version number (newest first)."
    ),
    "version_label": st.column_config.TextColumn(
        "label", help="The label given when it was trained (Train page or --version)."
    ),
    "stage": st.column_config.TextColumn(
        "stage",
        help="Production or Staging: the version that stage serves; Archived: held Production "
        "before; None: registered only.",
    ),
    "accuracy": _number(
        "test accuracy",
        f"Share of battles whose winner the version predicted (0-1, higher is better), on "
        f"{TEST_BATTLES}: compare two versions with 'Compare on fresh battles' below.",
    ),
    "f1_score": _number(
        "F1",
        f"F1 score of 'A wins' at P(A wins) >= 0.5 (0-1, higher is better), on {TEST_BATTLES}.",
    ),
    "roc_auc": _number(
        "ROC-AUC",
        f"Area under the ROC curve of P(A wins) (0.5 = chance, 1 = perfect), on {TEST_BATTLES}.",
    ),
    "oracle_accuracy": _number(
        "oracle accuracy",
        "The best accuracy any model can expect on these battles (0-1): mean of max(p, 1 - p), p "
        "= each battle's true win probability (re-simulated), on a sample of up to 2,000 of "
        "this version's test battles.",
    ),
    "gap_to_oracle": st.column_config.TextColumn(
        "gap to oracle [95% CI]",
        help="Excess error: how much less often the model is right than the oracle on the same "
        "battles (share of battles: 0.01 = 1 in 100; paired, so never below 0; lower is better), "
        "on the oracle's sample of this version's test battles, with a bootstrap 95% interval.",
    ),
    "matchup_mae": _number(
        "matchup error",
        "Mean |model - simulator's true P(A wins)| (probability: 0.01 = 1 point; lower is better) "
        "over matchups held out from this version's training, level 50, default moves.",
    ),
    "model_type": st.column_config.TextColumn("model", help="xgboost or random_forest."),
    "hyperparameters": st.column_config.TextColumn(
        "hyperparameters", help="Trees, maximum depth and learning rate it was trained with."
    ),
    "created_at": _when("registered (UTC)", "When the version was registered, in UTC."),
    "promoted_by": st.column_config.TextColumn(
        "last promoted by",
        help="Who last gave this version a stage, and how (promote or rollback).",
    ),
    "promoted_at": _when("last promoted (UTC)", "When that happened, in UTC."),
    "description": st.column_config.TextColumn(
        "description", help="The version's one-line description (editable below)."
    ),
}
AUDIT_COLUMNS = {
    "time": _when("time (UTC)", "When the decision was recorded, in UTC."),
    "user": st.column_config.TextColumn("by", help="Who decided (a person, or training)."),
    "action": st.column_config.TextColumn(
        "action",
        help="promote or rollback when the stage moved; 'kept Production v3' when a decision "
        "left the stage where it was (the reason says which version was not installed).",
    ),
    "stage": st.column_config.TextColumn("stage", help="Production or Staging."),
    "from_version": st.column_config.TextColumn(
        "from", help="The version that held the stage before (—: none)."
    ),
    "to_version": st.column_config.TextColumn(
        "to", help="The version that holds it after (—: nothing moved)."
    ),
    "reason": st.column_config.TextColumn("reason", help="As typed, or the policy's decision."),
    "status": st.column_config.TextColumn(
        "status", help="ok: done; not_promoted: the policy kept the holder; conflict: refused."
    ),
}


def version_table(table: pd.DataFrame) -> None:
    """The compare table: one row per version, newest first, every column explained."""
    st.dataframe(table, hide_index=True, key="models_versions_table", column_config=VERSION_COLUMNS)


def audit_trail(audit: pd.DataFrame) -> None:
    """The audit trail newest first (a decision that moved nothing reads as 'kept ...')."""
    st.dataframe(
        versions.audit_table(audit), hide_index=True, key="models_audit_table",
        column_config=AUDIT_COLUMNS,
    )  # fmt: skip


def study_objectives(settings: Settings) -> dict[str, str]:
    """Study parent run URL -> the objective it minimised or maximised ('log_loss',
    'accuracy'), read from each study's run params once per session (it never changes)."""
    known: dict[str, str] = st.session_state.setdefault(OBJECTIVES, {})
    tracker = cache.get_tracker(settings)
    for run in tracker.study_runs():
        url = tracker.run_url(run.run_id)
        if url not in known:
            params, _ = tracker.run_data(run.run_id)
            known[url] = params.get("objective", "")
    return known


def studies_table(settings: Settings, studies: pd.DataFrame) -> None:
    """The hyperparameter searches, each best value named by its objective (log loss, ...)."""
    objectives: dict[str, str] = {}
    with guard.errors_shown("read the searches' objectives"):
        objectives = study_objectives(settings)
    shown = studies.copy()
    names = [objectives.get(url, "") for url in shown["MLflow run"]]
    shown.insert(shown.columns.get_loc("best value"), "objective",
                 [OBJECTIVE_NAMES.get(name, name or "unknown") for name in names])  # fmt: skip
    st.dataframe(
        shown, hide_index=True, key="models_studies_table",
        column_config={
            "MLflow run": st.column_config.LinkColumn(display_text="open"),
            "objective": st.column_config.TextColumn(
                "objective", help="What the search optimised on its held-out matchups."
            ),
            "best value": st.column_config.NumberColumn(
                "best value", format="%.6f",
                help="The best trial's value of the objective (log loss: 0.693 = a coin flip).",
            ),
        },
    )  # fmt: skip


def metric_deltas(deltas: dict[str, dict], same_battles: bool = True) -> None:
    """A row of st.metric: the selected version's value and its delta against Production;
    neutral (no colour, no arrow) when the two were measured on different battles."""
    columns = st.columns(len(deltas))
    for column, (metric, data) in zip(columns, deltas.items(), strict=True):
        value, delta = data["value"], data["delta"]
        colour = "inverse" if metric in LOWER_IS_BETTER else "normal"
        column.metric(
            METRIC_LABELS.get(metric, metric),
            "n/a" if value is None else f"{value:.4f}",
            None if delta is None else f"{delta:+.4f}",
            delta_color=colour if same_battles else "off",
            delta_arrow="auto" if same_battles else "off",
        )


def deltas_against(
    settings: Settings, table: pd.DataFrame, version: int, reference: int, chart_key: str = ""
) -> None:
    """`version`'s metrics against Production v`reference`: a gain or a drop only when both
    were measured on the same test battles, else neutral with the counts and what to do."""
    reports: dict[int, dict | None] = {}
    with guard.errors_shown("read the test battles of each version"):
        reports = {v: cache.load_evaluation_report(settings, v) for v in (version, reference)}
    basis = versions.delta_basis(table, version, reference, reports)
    deltas = versions.metric_deltas(table, version, reference)
    counts = f"{versions.battles_text(basis.battles)} vs {versions.battles_text(basis.reference_battles)}"
    st.caption(
        f"v{version} against Production v{reference} on the same "
        f"{versions.battles_text(basis.battles)} test battles"
        if basis.same_battles
        else f"v{version} against Production v{reference}, each on its own test battles ({counts})"
    )
    metric_deltas(deltas, basis.same_battles)
    if basis.note:
        st.info(basis.note, icon=":material/compare_arrows:")
    if chart_key:
        figure = charts.deltas_bar(deltas, version, reference)
        if not basis.same_battles:
            figure.update_traces(marker_color=charts.NEUTRAL)
        st.plotly_chart(figure, key=chart_key)
