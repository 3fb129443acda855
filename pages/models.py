"""Models: compare the versions, chart a metric, evaluate and compare two versions against the
truth, promote or roll back (confirmed), audit trail."""

import streamlit as st

from app import (
    actions,
    auth,
    cache,
    charts,
    components,
    evaluation_view,
    guard,
    models_tables,
    versions,
)

PENDING = "models_pending_action"
FLASH = "models_flash"


def ask(kind: str, **fields) -> None:
    """Open the confirmation panel for an action (nothing changes until it is confirmed)."""
    st.session_state[PENDING] = {"kind": kind, **fields}
    st.session_state["models_reason"] = ""


def confirm() -> None:
    """Mark the pending action confirmed, with its reason; the next run executes it."""
    pending, reason = st.session_state.get(PENDING), st.session_state.get("models_reason", "")
    if isinstance(pending, dict) and reason.strip():
        pending.update(reason=reason.strip(), confirmed=True)


settings = cache.current_settings()
st.title("Models")
pending = st.session_state.get(PENDING)
if isinstance(pending, dict) and pending.get("confirmed"):  # runs first: the tables below are fresh
    del st.session_state[PENDING]
    with guard.errors_shown(str(pending.get("kind", "act"))):
        st.session_state[FLASH] = actions.run_pending(settings, pending)  # checks the role itself
        st.rerun()  # the sidebar (serving version) was drawn before the change: draw it all again
if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")

table = cache.load_versions(settings)
if table.empty:
    st.info("No registered version yet: train one on the Train page (or `python -m core.train`).")
    st.stop()
audit = cache.load_audit(settings)
production, staging = versions.holder(table, "Production"), versions.holder(table, "Staging")
previous = versions.previous_holder(audit, "Production", production)
approver = auth.can_approve(settings)

top = st.columns(4)
top[0].metric("Production", f"v{production}" if production else "none")
top[1].metric("Staging", f"v{staging}" if staging else "none")
top[2].metric("Versions", len(table))
top[3].metric("Promotion threshold", f"{settings.promotion_threshold:g}")
models_tables.version_table(versions.version_table(table, audit))

metric = st.selectbox(
    "Metric to chart", list(versions.METRIC_LABELS), format_func=versions.METRIC_LABELS.get,
    key="models_metric",
)  # fmt: skip
chart = charts.metric_across_versions(
    versions.with_gap(table), metric, settings.promotion_threshold, production
)
st.plotly_chart(chart, key="models_metric_chart")

st.subheader("One version")
labels = {
    int(row["version"]): versions.version_label(row)
    for _, row in versions.with_gap(table).iterrows()
}
options = list(labels)
selected = st.selectbox(
    "Version", options, index=options.index(production) if production in labels else 0,
    format_func=labels.get, key="models_selected_version",
)  # fmt: skip
if production is not None and selected != production:
    models_tables.deltas_against(settings, table, selected, production, "models_deltas_chart")
elif production is not None:
    st.caption(f"v{selected} is the Production version.")
evaluation_view.render_evaluation(settings, table, selected)

if approver:
    stage = st.radio("Stage", ("Production", "Staging"), horizontal=True, key="models_target_stage")
    holder = production if stage == "Production" else staging
    left, right = st.columns(2)
    left.button(
        f"Promote v{selected} to {stage}", key="models_promote", type="primary",
        on_click=ask, args=("promote",), disabled=selected == holder,
        kwargs={"version": selected, "stage": stage, "expected_current": holder},
    )  # fmt: skip
    if production is None:  # nothing to step back from: no rollback button
        right.caption("Nobody holds Production: nothing to roll back. Promote a version instead.")
    else:
        earlier = versions.earlier_holders(audit, "Production", production, set(labels))
        target = right.selectbox(
            "Roll back to…", [row.version for row in earlier], key="models_rollback_target",
            format_func={row.version: versions.holder_label(row) for row in earlier}.get,
            help="The earlier Production versions a rollback steps back to, newest first, with "
            "when and why each was promoted.",
        ) if earlier else previous  # fmt: skip
        right.button(
            f"Roll back Production to v{target}" if target else "Roll back Production",
            key="models_rollback", on_click=ask, args=("rollback",), disabled=target is None,
            kwargs={"stage": "Production", "expected_current": production, "target": target},
            help="Each rollback walks one step back through Production's history; undo = promote.",
        )  # fmt: skip
else:
    st.info(auth.why_not_allowed(settings, "promote or roll back"), icon=":material/lock:")

pending = st.session_state.get(PENDING)
if approver and isinstance(pending, dict) and not pending.get("confirmed"):
    components.confirmation_panel(settings, pending, table, production, on_confirm=confirm)

components.description_editor(settings, table, selected, editable=approver)

st.subheader("Audit trail")
if audit.empty:
    st.caption("No promotion or rollback yet.")
else:
    if (audit["status"] == "ok").any():
        st.plotly_chart(charts.stage_timeline(audit), key="models_timeline_chart")
    models_tables.audit_trail(audit)

studies = cache.load_studies(settings)
if not studies.empty:
    with st.expander(f"Hyperparameter searches ({len(studies)})", icon=":material/travel_explore:"):
        models_tables.studies_table(settings, studies)
