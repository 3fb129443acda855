"""Plotly figures of stored evaluations: reliability, ROC, confusion, slices, importance.

Each figure takes {version: report} (one or two versions, overlaid) as core.evaluate writes it.
"""

from __future__ import annotations

import plotly.graph_objects as go

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
COLOURS = ("#5C6BC0", "#E3350D")
GREY = "#9E9E9E"


def _line(x, y, name: str, colour: str, dash: str | None = None) -> go.Scatter:
    points = [(a, b) for a, b in zip(x, y, strict=True) if a is not None and b is not None]
    return go.Scatter(x=[a for a, _ in points], y=[b for _, b in points], mode="lines+markers",
                      name=name, line={"color": colour, "dash": dash})  # fmt: skip


def reliability_chart(reports: dict[int, dict]) -> go.Figure:
    """Predicted P(A wins) against the observed win rate and the true p, per bin."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                                  line={"color": GREY, "dash": "dot"}))  # fmt: skip
    for colour, (version, report) in zip(COLOURS, reports.items(), strict=False):
        rel = report["reliability"]
        figure.add_trace(_line(rel["predicted"], rel["observed"], f"v{version} observed", colour))
        figure.add_trace(
            _line(rel["predicted"], rel["true_p"], f"v{version} true p", colour, "dash")
        )
    figure.update_layout(title="Reliability", height=340, margin=MARGIN,
                         xaxis={"title": "predicted P(A wins)", "range": [0, 1]},
                         yaxis={"title": "rate", "range": [0, 1]})  # fmt: skip
    return figure


def roc_chart(reports: dict[int, dict]) -> go.Figure:
    """ROC curves with their area."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                  line={"color": GREY, "dash": "dot"}))  # fmt: skip
    for colour, (version, report) in zip(COLOURS, reports.items(), strict=False):
        roc = report["roc"]
        name = f"v{version} (AUC {roc['auc']:.4f})" if roc.get("auc") else f"v{version}"
        figure.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name=name,
                                    line={"color": colour}))  # fmt: skip
    figure.update_layout(title="ROC", height=340, margin=MARGIN,
                         xaxis={"title": "false positive rate", "range": [0, 1]},
                         yaxis={"title": "true positive rate", "range": [0, 1]})  # fmt: skip
    return figure


def confusion_chart(report: dict, version: int) -> go.Figure:
    """The confusion matrix at ½ (rows: true winner, columns: predicted)."""
    cells = report["confusion"]
    values = [[cells["tn"], cells["fp"]], [cells["fn"], cells["tp"]]]
    figure = go.Figure(go.Heatmap(z=values, x=["B predicted", "A predicted"],
                                  y=["B won", "A won"], colorscale="Blues", showscale=False,
                                  text=[[f"{v:,}" for v in row] for row in values],
                                  texttemplate="%{text}"))  # fmt: skip
    figure.update_layout(title=f"v{version}: confusion at ½", height=300, margin=MARGIN)
    return figure


def slices_chart(reports: dict[int, dict], slicing: str) -> go.Figure:
    """Accuracy per value of one slicing (scenario, level gap, form, ...), versions side by side."""
    figure = go.Figure()
    for colour, (version, report) in zip(COLOURS, reports.items(), strict=False):
        rows = report["slices"].get(slicing, [])
        figure.add_trace(go.Bar(x=[r["value"] for r in rows], y=[r["accuracy"] for r in rows],
                                name=f"v{version}", marker_color=colour,
                                customdata=[r["battles"] for r in rows],
                                hovertemplate="%{x}: %{y:.4f} on %{customdata:,} battles"
                                "<extra></extra>"))  # fmt: skip
    low = min((r["accuracy"] for rep in reports.values() for r in rep["slices"].get(slicing, [])),
              default=0.5)  # fmt: skip
    figure.update_layout(title=f"Accuracy by {slicing.replace('_', ' ')}", height=300,
                         margin=MARGIN, barmode="group",
                         yaxis={"range": [max(0.0, low - 0.05), 1.0]})  # fmt: skip
    return figure


def importance_chart(report: dict, version: int, top: int = 12) -> go.Figure:
    """Share of the total gain per feature, largest at the top."""
    rows = report["importance"][:top][::-1]
    figure = go.Figure(go.Bar(x=[r["gain"] for r in rows], y=[r["feature"] for r in rows],
                              orientation="h", marker_color=COLOURS[0]))  # fmt: skip
    figure.update_layout(title=f"v{version}: importance (share of gain)", height=360,
                         margin=MARGIN)  # fmt: skip
    return figure
