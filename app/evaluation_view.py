"""The Models page's evaluation section: one version's stored evaluation, optionally overlaid
with another's, and the champion/challenger verdict computed on demand (cached by the pair)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import cache, evaluation_charts, guard
from app.versions import version_label
from core.config import Settings

COMPARED = "models_compared_pairs"
SLICINGS = {"scenario": "Scenario", "level_gap": "Level gap", "form": "Form (Mega / Alolan)",
            "type_effectiveness": "Type effectiveness", "moves_first": "Who moves first"}  # fmt: skip


def missing_note(version: int) -> str:
    """The note for a version registered before evaluations were stored."""
    return f"v{version}: no evaluation stored: run `python -m core.evaluate {version}`"


def measured_text(version: int, report: dict) -> str:
    """What a version's stored evaluation was measured on, in one sentence (under the charts)."""
    from core.evaluate.stored import FRESH, HELD_OUT_TEST, measured_on_of

    on = measured_on_of(report)
    count = f"{on['battles']:,}" if on.get("battles") else "an unrecorded number of"
    drawn = f"scenario {on.get('scenario', 'all')}, level {on.get('level', '50')}"
    if on.get("kind") == HELD_OUT_TEST:
        return (f"v{version}: measured on {count} held-out test battles of its training "
                f"(matchups never seen in training; data seed {on['seed']}, {drawn}).")  # fmt: skip
    if on.get("kind") == FRESH:
        where = ("matchups held out from its training" if on.get("heldout")
                 else "some matchups may have been in its training")  # fmt: skip
        return (f"v{version}: measured on {count} fresh battles by `python -m core.evaluate "
                f"{version}` (seed {on['seed']}, {where}; {drawn}); no held-out test report "
                "from its training is stored.")  # fmt: skip
    return (f"v{version}: measured on {count} battles (counted from its confusion matrix); "
            "what they were is not recorded: a report stored before 30 Nov 2026 (its training's "
            "held-out test battles, unless `python -m core.evaluate` replaced them).")  # fmt: skip


def verdict_text(comparison, candidate: int, baseline: int) -> str:
    """'v7 against v5: worse: accuracy −0.0012 [−0.0031, +0.0007], p = 0.21; ...'."""
    c = comparison
    where = "matchups held out from both" if c.heldout else "fresh matchups"
    return (f"**v{candidate} against v{baseline}: {c.verdict}** — accuracy "
            f"{c.difference.as_text()}, p = {c.p_value:.2g} (exact McNemar); log loss "
            f"{c.log_loss_difference:+.4f}; matchup MAE {c.matchup_mae_difference:+.4f}; "
            f"on {c.battles:,} fresh battles ({where}, seed {c.seed}).")  # fmt: skip


def _verdict(settings: Settings, candidate: int, baseline: int) -> None:
    pair = (candidate, baseline)
    compared = st.session_state.setdefault(COMPARED, [])
    if pair not in compared:
        st.button(f"Compare v{candidate} with v{baseline} on fresh battles",
                  key="models_compare_run", on_click=compared.append, args=(pair,))  # fmt: skip
        return
    with guard.errors_shown("compare the versions"):
        with st.spinner(f"Simulating fresh battles and scoring v{candidate} and v{baseline}…"):
            comparison = cache.load_comparison(settings, candidate, baseline)
        st.markdown(verdict_text(comparison, candidate, baseline))


def _charts(reports: dict[int, dict], selected: int) -> None:
    left, right = st.columns(2)
    left.plotly_chart(evaluation_charts.reliability_chart(reports), key="models_reliability_chart")
    right.plotly_chart(evaluation_charts.roc_chart(reports), key="models_roc_chart")
    slicing = st.radio("Slice by", list(SLICINGS), format_func=SLICINGS.get, horizontal=True,
                       key="models_slicing")  # fmt: skip
    st.plotly_chart(evaluation_charts.slices_chart(reports, slicing), key="models_slices_chart")
    if selected in reports:
        left, right = st.columns(2)
        report = reports[selected]
        left.plotly_chart(evaluation_charts.confusion_chart(report, selected),
                          key="models_confusion_chart")  # fmt: skip
        right.plotly_chart(evaluation_charts.importance_chart(report, selected),
                           key="models_importance_chart")  # fmt: skip
    for version, report in reports.items():
        st.caption(measured_text(version, report))
    if len(reports) > 1:
        st.caption("Each version's curves come from its own battles (above), not the same ones; "
                   "the Compare button's verdict scores both on the same fresh battles.")  # fmt: skip


def render_evaluation(settings: Settings, table: pd.DataFrame, selected: int) -> None:
    """The selected version's evaluation plots, a "compare with" picker and the verdict."""
    st.subheader(f"Evaluation of v{selected}")
    labels = {int(row["version"]): version_label(row) for _, row in table.iterrows()}
    others = [v for v in labels if v != selected]
    against = st.selectbox("Compare with", [None, *others], key="models_compare_with",
                           format_func=lambda v: "no other version" if v is None else labels[v])  # fmt: skip
    reports = {}
    with guard.errors_shown("read the stored evaluation"):
        for version in (selected, against):
            if version is None:
                continue
            report = cache.load_evaluation_report(settings, version)
            if report is None:
                st.info(missing_note(version), icon=":material/info:")
            else:
                reports[version] = report
    if against is not None:
        _verdict(settings, selected, against)
    if reports:
        _charts(reports, selected)
