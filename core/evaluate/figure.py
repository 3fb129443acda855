"""The evaluation figure the MLflow UI shows (`evaluation.png`), drawn with matplotlib.

Four panels of one evaluation report (`core.evaluate.report.build_report`'s data): reliability
(predicted P(A wins) against the observed win rate and the true p), the ROC curve with its AUC,
the confusion counts at ½ and the top features by importance. matplotlib's object API with the
Agg canvas (no pyplot, no automatic layout) keeps the cost of every training run's figure to
about 1 CPU s, most of it matplotlib's import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SIZE_INCHES = (11.0, 8.0)
DPI = 80  # 880 x 640 pixels
TOP_BARS = 10  # importance bars drawn (the JSON keeps more)
CELLS = {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}


def build_report_figure(report: dict) -> Figure:
    """The 2 × 2 figure of a report: reliability, ROC, confusion at ½, top importance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2)
    reliability = report["reliability"]
    axes[0, 0].plot([0, 1], [0, 1], color="grey", lw=0.8)
    for key, label in (("observed", "observed"), ("true_p", "true p")):
        points = [(x, y) for x, y in zip(reliability["predicted"], reliability[key], strict=True)
                  if x is not None and y is not None]  # fmt: skip
        if points:
            axes[0, 0].plot(*zip(*points, strict=True), marker="o", label=label)
    axes[0, 0].set(title="Reliability", xlabel="predicted P(A wins)", ylabel="rate",
                   xlim=(0, 1), ylim=(0, 1))  # fmt: skip
    if axes[0, 0].get_legend_handles_labels()[0]:
        axes[0, 0].legend(loc="upper left")
    roc = report["roc"]
    axes[0, 1].plot(roc["fpr"], roc["tpr"])
    auc = "—" if roc["auc"] is None else f"{roc['auc']:.4f}"
    axes[0, 1].set(title=f"ROC (AUC {auc})", xlabel="false positive rate",
                   ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1))  # fmt: skip
    cells = report["confusion"]
    counts = [[cells["tn"], cells["fp"]], [cells["fn"], cells["tp"]]]
    axes[1, 0].imshow(counts, cmap="Blues", vmin=0, vmax=max(max(map(max, counts)), 1))
    middle = max(max(map(max, counts)), 1) / 2
    for (i, j), key in CELLS.items():
        color = "white" if counts[i][j] > middle else "black"
        axes[1, 0].text(j, i, f"{key}\n{cells[key]:,}", ha="center", va="center", color=color)
    axes[1, 0].set(title="Confusion at ½ (rows: true, columns: predicted)", xticks=[], yticks=[])
    top = report["importance"][:TOP_BARS][::-1]
    axes[1, 1].barh([row["feature"] for row in top], [row["gain"] for row in top])
    axes[1, 1].set(title="Importance (gain share)")
    axes[1, 1].tick_params(axis="y", labelsize=8)
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.07, top=0.95, wspace=0.55, hspace=0.32)
    return figure


def draw_report_figure(report: dict, path: Path) -> None:
    """Write the report's figure as a PNG at `path` (880 × 640 pixels)."""
    build_report_figure(report).savefig(path, dpi=DPI)
