"""Home: what PredictionDex is, the Production model against the oracle, where to go next."""

import streamlit as st

from app import cache, charts, guard, navigation, versions
from app.mlflow_link import mlflow_ui_link

settings = cache.current_settings()
st.title("PredictionDex")
st.markdown(
    "Train models that predict who wins a one-on-one Pokémon battle, compare their versions in "
    "the MLflow Model Registry, promote or roll back the Production model with one click, and "
    "ask it about any matchup. Every model is measured against the **oracle**: the best accuracy "
    "any model can expect on random battles (a model's test accuracy can land above it by chance; "
    "its expected accuracy on the same battles cannot)."
)

with guard.errors_shown("read the registry"):
    table = cache.load_versions(settings)
    production = versions.holder(table, "Production") if not table.empty else None
    columns = st.columns(4)
    columns[0].metric("Registered versions", len(table))
    if production is None:
        columns[1].metric("Production", "none")
        audit = cache.load_audit(settings)
        no_holder = versions.no_holder_text(audit, "Production", settings.promotion_threshold)
        st.info(no_holder, icon=":material/info:")
    else:
        row = versions.with_gap(table).set_index("version").loc[production]
        columns[1].metric(
            "Production", f"v{production}", row["model_type"], delta_color="off", delta_arrow="off"
        )
        columns[2].metric(
            "Test accuracy",
            versions.metric_text(row["accuracy"]),
            help="Share of the held-out battles whose simulated winner the model called. The "
            "winners are random draws, so this can land above the oracle by chance: the oracle is "
            "compared with the model's expected accuracy on the same battles (beside it).",
        )
        if versions.metric_text(row["oracle_accuracy"]) != "—":  # measured for this version
            columns[3].metric(
                "Oracle accuracy",
                versions.metric_text(row["oracle_accuracy"]),
                versions.oracle_delta(row),
                delta_color="off",
                delta_arrow="off",
                help="The best accuracy any model can expect on these random battles (estimated "
                "by re-simulating test battles). Below it: the model's expected accuracy on the "
                "same battles and its excess error (never below 0), what is left to win.",
            )

    if not table.empty:
        change = versions.latest_change(cache.load_audit(settings))
        if change:
            st.caption(change)
        chart = charts.metric_across_versions(
            versions.with_gap(table), "accuracy", settings.promotion_threshold, production
        )
        st.plotly_chart(chart, key="home_accuracy_chart")

st.subheader("Where to go")
links = {
    "predict": "Who wins? Pick two Pokémon, levels and moves; see the model's answer and why.",
    "models": "Compare versions, chart a metric, promote or roll back, read the audit trail.",
    "train": "Train a new version (XGBoost or random forest) and watch it step by step.",
}
for name, text in links.items():
    left, right = st.columns([1, 4], vertical_alignment="center")
    left.page_link(navigation.page(name))
    right.caption(text)
mlflow_ui_link(settings, key="home_mlflow_ui")
