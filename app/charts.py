"""The plotly figures: metric across versions, deltas, feature contributions, matchup heat map."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from app.explanations import Reason
from app.versions import LOWER_IS_BETTER, METRIC_LABELS

GOOD = "#2E7D32"
BAD = "#C62828"
ACCENT = "#E3350D"
NEUTRAL = "#5C6BC0"
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def metric_across_versions(
    table: pd.DataFrame, metric: str, threshold: float, production: int | None
) -> go.Figure:
    """A metric by version, the promotion threshold (on accuracy) and the Production version."""
    frame = table.sort_values("version")
    label = METRIC_LABELS.get(metric, metric)
    figure = go.Figure(
        go.Scatter(
            x=frame["version"],
            y=frame[metric],
            mode="lines+markers",
            name=label,
            line={"color": NEUTRAL},
            hovertemplate="v%{x}: %{y:.4f}<extra></extra>",
        )
    )
    if metric == "accuracy":
        for trace in _oracle_traces(frame):
            figure.add_trace(trace)
    if metric in ("accuracy", "oracle_accuracy", "train_accuracy"):
        figure.add_hline(
            y=threshold,
            line={"color": ACCENT, "dash": "dash"},
            annotation_text=f"promotion threshold {threshold:g}",
            annotation_position="bottom right",
        )
    if production is not None and production in set(frame["version"]):
        value = frame.loc[frame["version"] == production, metric].iloc[0]
        figure.add_trace(
            go.Scatter(
                x=[production],
                y=[value],
                mode="markers+text",
                name=f"Production (v{production})",
                marker={"symbol": "star", "size": 18, "color": ACCENT},
                text=[f"Production v{production}"],
                textposition="top center",
                hovertemplate="Production v%{x}: %{y:.4f}<extra></extra>",
            )
        )
    figure.update_layout(
        title=f"{label} across versions",
        xaxis_title="version",
        yaxis_title=label,
        height=360,
        margin=MARGIN,
        legend={"orientation": "h", "y": -0.25},
    )
    figure.update_xaxes(**version_axis(frame["version"]))
    figure.update_yaxes(range=padded_range(_plotted_values(frame, metric, threshold)))
    return figure


# The oracle line and, like for like with it, the model's expected accuracy on the oracle's
# battles (the test accuracy counts random winners and can lie above the oracle).
_ORACLE_LINES = (
    ("oracle_accuracy", "Oracle (best expected accuracy)", "oracle", "lines",
     {"color": "#9E9E9E", "dash": "dot"}),
    ("expected_accuracy", "Expected accuracy (the oracle's battles)", "expected", "lines+markers",
     {"color": NEUTRAL, "dash": "dot", "width": 1}),
)  # fmt: skip


def _oracle_traces(frame: pd.DataFrame) -> list[go.Scatter]:
    """The _ORACLE_LINES the frame has values for."""
    return [
        go.Scatter(x=frame["version"], y=frame[column], mode=mode, name=name, line=line,
                   marker={"size": 5}, hovertemplate=f"v%{{x}} {short}: %{{y:.4f}}<extra></extra>")
        for column, name, short, mode, line in _ORACLE_LINES
        if column in frame and frame[column].notna().any()
    ]  # fmt: skip


def _plotted_values(frame: pd.DataFrame, metric: str, threshold: float) -> pd.Series:
    """Every y value the metric chart draws: the metric, the oracle and expected-accuracy lines,
    the threshold line."""
    shown = [frame[metric]]
    if metric == "accuracy":
        shown += [frame[c] for c in ("oracle_accuracy", "expected_accuracy") if c in frame]
    if metric in ("accuracy", "oracle_accuracy", "train_accuracy"):
        shown.append(pd.Series([threshold]))
    return pd.concat(shown)


def version_axis(versions: pd.Series) -> dict:
    """An x axis of whole version numbers only, spanning exactly the versions shown."""
    values = sorted({int(v) for v in versions.dropna()})
    if not values:
        return {"tickformat": "d"}
    axis = {"tickformat": "d", "range": [values[0] - 0.5, values[-1] + 0.5]}
    if len(values) <= 20:
        return {**axis, "tickmode": "array", "tickvals": values}
    return {**axis, "dtick": max(1, math.ceil((values[-1] - values[0]) / 12))}


def padded_range(values: pd.Series) -> list[float] | None:
    """[low, high] around every finite value with 8% padding (None when there is none)."""
    finite = pd.to_numeric(values, errors="coerce").dropna()
    finite = finite[finite.map(math.isfinite)]
    if finite.empty:
        return None
    low, high = float(finite.min()), float(finite.max())
    pad = max((high - low) * 0.08, 0.005)
    return [low - pad, high + pad]


def deltas_bar(deltas: dict[str, dict], version: int, reference: int) -> go.Figure:
    """Bars of (version - reference) per metric, green where the version is better."""
    names = [m for m, d in deltas.items() if d["delta"] is not None]
    values = [deltas[m]["delta"] for m in names]
    better = [
        (v < 0) if m in LOWER_IS_BETTER else (v > 0) for m, v in zip(names, values, strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=[METRIC_LABELS.get(m, m) for m in names],
            orientation="h",
            marker_color=[GOOD if b else BAD for b in better],
            hovertemplate="%{y}: %{x:+.4f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"v{version} minus Production v{reference}",
        height=260,
        margin=MARGIN,
        xaxis={"zeroline": True, "tickformat": "+.3f"},
    )
    return figure


def contributions_bar(
    reasons: Sequence[Reason], name_a: str, name_b: str, unit: str, base_rate: float
) -> go.Figure:
    """Why: one bar per reason, right favours A, left favours B, each with its value written."""
    rows = list(reversed(reasons))
    values = [reason.contribution for reason in rows]
    digits = ".2f" if unit == "log-odds" else ".3f"
    figure = go.Figure(
        go.Bar(
            x=values,
            y=[_wrapped(reason.label) for reason in rows],
            orientation="h",
            marker_color=[GOOD if v > 0 else BAD for v in values],
            text=[f"{v:+{digits}}" for v in values],
            textposition="auto",
            hovertemplate="%{y}<br>contribution %{x:+.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Why: bars right favour {name_a}, left favour {name_b}",
        height=max(320, 44 * len(rows) + 110),
        margin=MARGIN,
        xaxis={"zeroline": True, "zerolinewidth": 2},
        xaxis_title=f"contribution ({unit}); 0 = the base rate, P({name_a} wins) {base_rate:.0%}",
        yaxis={"automargin": True},
    )
    return figure


def _wrapped(label: str, width: int = 34) -> str:
    """A long label over lines of at most `width` characters (plotly wraps with <br>)."""
    lines: list[str] = []
    for word in html.escape(label).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def matchup_heatmap(matrix: pd.DataFrame, names: dict[str, str]) -> go.Figure:
    """P(row wins against column) for up to 20 Pokémon, readable down to a 390 px wide screen.

    Cells carry whole percentages without the sign (fits a 15 px cell), labels are short and the
    colour bar lies under the chart, so the matrix gets the whole width.
    """
    rows = short_labels([names.get(i, i) for i in matrix.index])
    columns = short_labels([names.get(i, i) for i in matrix.columns])
    values = matrix.to_numpy()
    text = [["" if pd.isna(v) else f"{100 * v:.0f}" for v in row] for row in values]
    size = len(rows)
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=columns,
            y=rows,
            zmin=0,
            zmax=1,
            colorscale="RdYlGn",
            text=text,
            texttemplate="%{text}",
            textfont={"size": 12 if size <= 8 else 9},
            xgap=1,
            ygap=1,
            hovertemplate="%{y} beats %{x}: %{z:.1%}<extra></extra>",
            colorbar={
                "title": {"text": "P(row wins)", "side": "top"},
                "tickformat": ".0%",
                "orientation": "h",
                "y": -0.02,
                "yanchor": "top",
                "thickness": 10,
                "len": 0.8,
            },
        )
    )
    figure.update_layout(
        title="P(row wins against column), %, default movesets",
        height=max(340, 26 * size + 200),
        margin={"l": 4, "r": 4, "t": 40, "b": 60},
        yaxis={"autorange": "reversed", "tickfont": {"size": 10}, "automargin": True},
        xaxis={"side": "top", "tickangle": -90, "tickfont": {"size": 10}, "automargin": True},
    )
    return figure


_FORM_ABBREVIATIONS = (("-Mega-", " M"), ("-Mega", " M"), ("-Alola", " A"), ("-Starter", " P"))


def short_labels(names: Sequence[str], limit: int = 12) -> list[str]:
    """Unique axis labels of at most `limit` characters ('Charizard-Mega-X' -> 'Charizard MX')."""
    labels: list[str] = []
    for name in names:
        short = name
        for form, abbreviation in _FORM_ABBREVIATIONS:
            short = short.replace(form, abbreviation)
        short = short if len(short) <= limit else short[: limit - 1] + "…"
        while short in labels:  # plotly merges equal category labels: keep them apart
            short += "'"
        labels.append(short)
    return labels


def stage_timeline(audit: pd.DataFrame, stage: str = "Production") -> go.Figure:
    """Which version held the stage over time (successful promotions and rollbacks), in UTC."""
    done = audit[(audit["status"] == "ok") & (audit["stage"] == stage)].sort_values(["time", "seq"])
    times = pd.to_datetime(done["time"], utc=True).dt.tz_convert(None)
    held = done["to_version"].astype(float)
    details = [
        [html.escape(str(value)) for value in row]  # plotly renders a little HTML in hovers
        for row in done[["user", "action", "reason"]].to_numpy().tolist()
    ]
    if len(done):  # the current holder keeps the stage until now
        times = pd.concat([times, pd.Series([pd.Timestamp.now(tz="UTC").tz_convert(None)])])
        held = pd.concat([held, held.iloc[-1:]])
        details.append(["", "holds it now", ""])
    figure = go.Figure(
        go.Scatter(
            x=times,
            y=held,
            mode="lines+markers",
            line={"shape": "hv", "color": ACCENT},
            customdata=details,
            hovertemplate=(
                "%{x} UTC<br>v%{y} %{customdata[1]} %{customdata[0]}<br>%{customdata[2]}"
                "<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        title=f"{stage} version over time (UTC)",
        height=240,
        margin=MARGIN,
        yaxis={"title": "version", "tickformat": "d", "dtick": 1 if held.nunique() <= 20 else None},
    )
    return figure
