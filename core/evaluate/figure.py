"""The evaluation figure the MLflow UI shows (`evaluation.png`), drawn with Pillow.

Four panels of one evaluation report (`core.evaluate.report.build_report`'s data): reliability
(predicted P(A wins) against the observed win rate and the true p), the ROC curve with its AUC,
the confusion counts at ½ and the top features by importance. Pillow draws and encodes it in a
few hundredths of a second; matplotlib's import, layout and rendering cost every default
training run ~1.5 CPU s for the same four panels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = (880, 640)  # pixels: four panels of 440 x 320
PANEL = (440, 320)
FONT_SIZE = 12
TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
TOP_BARS = 10  # importance bars drawn (the JSON keeps more)
INK, GREY, WHITE = (33, 33, 33), (160, 160, 160), (255, 255, 255)
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)
PALE_BLUE, DARK_BLUE = (239, 245, 252), (8, 48, 107)
CONFUSION_AREA = (120, PANEL[1] + 34, 230)  # left, top and side of the 2 x 2 cells, pixels


@dataclass(frozen=True)
class _Frame:
    """A plot area in pixels (left, top, right, bottom) showing x and y in [0, 1] (or x_max)."""

    left: float
    top: float
    right: float
    bottom: float
    x_max: float = 1.0

    def at(self, x: float, y: float) -> tuple[float, float]:
        """The pixel of the data point (x, y)."""
        return (self.left + (self.right - self.left) * x / self.x_max,
                self.bottom - (self.bottom - self.top) * y)  # fmt: skip


class _Canvas:
    """One white image, its drawing context and font, and the helpers the panels share."""

    def __init__(self) -> None:
        self.image = Image.new("RGB", SIZE, WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=FONT_SIZE)

    def text(self, xy: tuple[float, float], text: str, anchor: str, fill=INK) -> None:
        """Text anchored as Pillow anchors it ('mm' middle, 'rm' right-middle, 'ms' baseline)."""
        self.draw.text(xy, text, fill=fill, font=self.font, anchor=anchor, align="center")

    def vertical_text(self, xy: tuple[float, float], text: str) -> None:
        """Text turned a quarter left, centred on xy (a y-axis label)."""
        width = int(self.font.getlength(text)) + 4
        label = Image.new("L", (width, FONT_SIZE + 6), 0)
        ImageDraw.Draw(label).text((2, 2), text, fill=255, font=self.font)
        label = label.rotate(90, expand=True)
        corner = (int(xy[0] - label.width / 2), int(xy[1] - label.height / 2))
        self.image.paste(Image.new("RGB", label.size, INK), corner, label)

    def axes(self, frame: _Frame, title: str, x_label: str, y_label: str | None) -> None:
        """Box, ticks with their values, title and axis labels around `frame`."""
        self.draw.rectangle((frame.left, frame.top, frame.right, frame.bottom), outline=INK)
        for tick in TICKS:
            x, _ = frame.at(tick * frame.x_max, 0.0)
            self.draw.line((x, frame.bottom, x, frame.bottom + 4), fill=INK)
            self.text((x, frame.bottom + 6), _tick_label(tick * frame.x_max), "mt")
            if y_label is not None:
                _, y = frame.at(0.0, tick)
                self.draw.line((frame.left - 4, y, frame.left, y), fill=INK)
                self.text((frame.left - 6, y), _tick_label(tick), "rm")
        middle = (frame.left + frame.right) / 2
        self.text((middle, frame.top - 8), title, "ms")
        self.text((middle, frame.bottom + 24), x_label, "mt")
        if y_label:
            self.vertical_text((frame.left - 42, (frame.top + frame.bottom) / 2), y_label)

    def curve(self, frame: _Frame, points: list[tuple[float, float]], color, dots=False) -> None:
        """A polyline through data points, with a dot on each when `dots`."""
        pixels = [frame.at(x, y) for x, y in points]
        if len(pixels) > 1:
            self.draw.line(pixels, fill=color, width=2)
        for x, y in pixels if dots else []:
            self.draw.ellipse((x - 3.5, y - 3.5, x + 3.5, y + 3.5), fill=color)


def _tick_label(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _origin(column: int, row: int) -> tuple[int, int]:
    return column * PANEL[0], row * PANEL[1]


def _plot_frame(column: int, row: int, left_margin: float = 70) -> _Frame:
    x, y = _origin(column, row)
    return _Frame(x + left_margin, y + 34, x + PANEL[0] - 24, y + PANEL[1] - 56)


def _reliability(canvas: _Canvas, reliability: dict) -> None:
    frame = _plot_frame(0, 0)
    canvas.axes(frame, "Reliability", "predicted P(A wins)", "rate")
    canvas.curve(frame, [(0.0, 0.0), (1.0, 1.0)], GREY)
    legend = []
    for key, label, color in (("observed", "observed", BLUE), ("true_p", "true p", ORANGE)):
        points = [(x, y) for x, y in zip(reliability["predicted"], reliability[key], strict=True)
                  if x is not None and y is not None]  # fmt: skip
        if points:
            canvas.curve(frame, points, color, dots=True)
            legend.append((label, color))
    for i, (label, color) in enumerate(legend):
        x, y = frame.left + 12, frame.top + 14 + 18 * i
        canvas.draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=color)
        canvas.text((x + 10, y), label, "lm")


def _roc(canvas: _Canvas, roc: dict) -> None:
    frame = _plot_frame(1, 0)
    auc = roc.get("auc")
    title = f"ROC (AUC {auc:.4f})" if auc is not None else "ROC (one class only: no AUC)"
    canvas.axes(frame, title, "false positive rate", "true positive rate")
    canvas.curve(frame, list(zip(roc["fpr"], roc["tpr"], strict=True)), BLUE)


def _confusion(canvas: _Canvas, cells: dict) -> None:
    """The four counts at ½ (the font has no ½: the title spells 1/2), each cell shaded by its count (darkest = largest)."""
    left, top, side = CONFUSION_AREA
    canvas.text((left + side / 2, top - 8), "Confusion at 1/2 (rows: truth, columns: predicted)",
                "ms")  # fmt: skip
    largest = max(max(cells.values()), 1)
    half = side / 2
    for (i, j), key in {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}.items():
        share = cells[key] / largest
        color = tuple(round(p + (d - p) * share) for p, d in zip(PALE_BLUE, DARK_BLUE, strict=True))
        box = (left + j * half, top + i * half, left + (j + 1) * half, top + (i + 1) * half)
        canvas.draw.rectangle(box, fill=color, outline=INK)
        ink = WHITE if share > 0.5 else INK
        canvas.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), f"{key}\n{cells[key]:,}",
                    "mm", fill=ink)  # fmt: skip
    for k, label in enumerate(("B wins", "A wins")):
        canvas.text((left - 8, top + half * (k + 0.5)), label, "rm")
        canvas.text((left + half * (k + 0.5), top + side + 6), label, "mt")


def _importance(canvas: _Canvas, rows: list[dict]) -> None:
    """The top features by gain share, largest on top, names left of their bars."""
    top_rows = rows[:TOP_BARS]
    names = [str(row["feature"]) for row in top_rows]
    width = max((canvas.font.getlength(name) for name in names), default=0.0)
    frame = _plot_frame(1, 1, left_margin=min(width + 14, PANEL[0] * 0.6))
    largest = max([float(row["gain"]) for row in top_rows], default=0.0)
    # Ticks at fifths of a round maximum (0.1 steps), as a plotting library would choose.
    x_max = max(math.ceil(largest * 10 - 1e-9) / 10, 0.1)
    frame = _Frame(frame.left, frame.top, frame.right, frame.bottom, x_max=x_max)
    canvas.axes(frame, "Importance (gain share)", "share of the total gain", None)
    slot = (frame.bottom - frame.top) / max(len(top_rows), 1)
    for k, (name, row) in enumerate(zip(names, top_rows, strict=True)):
        y = frame.top + slot * (k + 0.5)
        right, _ = frame.at(float(row["gain"]), 0.0)
        canvas.draw.rectangle((frame.left, y - slot * 0.35, right, y + slot * 0.35), fill=BLUE)
        canvas.text((frame.left - 6, y), name, "rm")


def draw_report_figure(report: dict, path: Path) -> None:
    """Write the 2 x 2 PNG of `report` (keys reliability, roc, confusion, importance) to path.

    Raises KeyError when a key is missing and OSError when the file cannot be written.
    """
    canvas = _Canvas()
    _reliability(canvas, report["reliability"])
    _roc(canvas, report["roc"])
    _confusion(canvas, report["confusion"])
    _importance(canvas, report["importance"])
    canvas.image.save(path, format="PNG")
