"""Curves, slices and importance of one evaluation, as JSON for the app and a PNG for MLflow.

`build_report` returns plain data (lists and numbers) so the app draws it with plotly and the
MLflow UI shows `evaluation.png`; `write_report` puts both in a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.dataset import SCENARIOS, BattleDataset

REPORT_FILE = "evaluation.json"
FIGURE_FILE = "evaluation.png"
RELIABILITY_BINS = 10
ROC_POINTS = 200
TOP_FEATURES = 20
LEVEL_GAP_EDGES = (0, 1, 6, 16)  # gaps 0 | 1-5 | 6-15 | 16+


def reliability(q: np.ndarray, labels: np.ndarray, p: np.ndarray | None, p_rows=None) -> dict:
    """Per bin of predicted P(A wins): mean predicted, observed win rate, mean true p, count."""
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    bins = np.clip(np.digitize(q, edges[1:-1]), 0, RELIABILITY_BINS - 1)
    out: dict[str, list] = {"bin_low": edges[:-1].round(3).tolist(), "predicted": [],
                            "observed": [], "true_p": [], "count": []}  # fmt: skip
    true_bins = None if p is None else bins[p_rows]
    for k in range(RELIABILITY_BINS):
        inside = bins == k
        count = int(inside.sum())
        out["count"].append(count)
        out["predicted"].append(float(q[inside].mean()) if count else None)
        out["observed"].append(float(labels[inside].mean()) if count else None)
        has_true = true_bins is not None and bool((true_bins == k).any())
        out["true_p"].append(float(p[true_bins == k].mean()) if has_true else None)
    return out


def roc(q: np.ndarray, labels: np.ndarray) -> dict:
    """The ROC curve thinned to about ROC_POINTS points, and its area."""
    from sklearn.metrics import roc_auc_score, roc_curve

    if len(np.unique(labels)) < 2:
        return {"fpr": [], "tpr": [], "auc": None}
    fpr, tpr, _ = roc_curve(labels, q)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(ROC_POINTS, len(fpr))).astype(int))
    return {"fpr": fpr[keep].round(5).tolist(), "tpr": tpr[keep].round(5).tolist(),
            "auc": float(roc_auc_score(labels, q))}  # fmt: skip


def confusion(q: np.ndarray, labels: np.ndarray) -> dict:
    """Counts at the ½ threshold: tn, fp, fn, tp (positive = A wins)."""
    predicted = q >= 0.5
    positive = labels == 1
    return {"tn": int((~predicted & ~positive).sum()), "fp": int((predicted & ~positive).sum()),
            "fn": int((~predicted & positive).sum()), "tp": int((predicted & positive).sum())}  # fmt: skip


def importance(model) -> list[dict]:
    """Top features by gain (XGBoost) or mean impurity decrease (forest), largest first."""
    from core.artifacts import ModelBundle

    # A ModelBundle wraps the estimator (a forest's own `.estimator` is its base tree).
    estimator = model.estimator if isinstance(model, ModelBundle) else model
    columns = list(model.feature_columns if isinstance(model, ModelBundle)
                   else estimator.feature_names_in_)  # fmt: skip
    if hasattr(estimator, "get_booster"):
        scores = estimator.get_booster().get_score(importance_type="gain")
        values = np.array([scores.get(name, 0.0) for name in columns], dtype=float)
    else:
        values = np.asarray(estimator.feature_importances_, dtype=float)
    total = values.sum() or 1.0
    order = np.argsort(-values)[:TOP_FEATURES]
    return [{"feature": columns[i], "gain": float(values[i] / total)} for i in order]


def _forms(data: BattleDataset, rows: np.ndarray) -> np.ndarray:
    ids = np.array(data.dex.pokemon_ids, dtype=object)
    names = [ids[data.arrays.a[rows]], ids[data.arrays.b[rows]]]
    mega = np.zeros(len(rows), bool)
    alola = np.zeros(len(rows), bool)
    for side in names:
        mega |= np.array(["mega" in name for name in side], dtype=bool)
        alola |= np.array(["alola" in name for name in side], dtype=bool)
    return np.where(mega, "Mega", np.where(alola, "Alolan", "other"))


def slice_keys(data: BattleDataset, rows: np.ndarray, features: pd.DataFrame) -> dict:
    """For each slicing: one label per row (scenario, level gap, form, effectiveness, first)."""
    gap = np.abs(data.arrays.level_a[rows].astype(int) - data.arrays.level_b[rows].astype(int))
    gap_labels = np.array(["0", "1-5", "6-15", "16+"], dtype=object)
    edge = np.digitize(gap, LEVEL_GAP_EDGES[1:])
    a_eff = features["a_move_effectiveness"].to_numpy()
    b_eff = features["b_move_effectiveness"].to_numpy()
    effect = np.where(a_eff > b_eff, "A hits harder", np.where(a_eff < b_eff, "B hits harder",
                                                               "even"))  # fmt: skip
    first = np.where(features["a_moves_first"].to_numpy() >= 0.5, "A first", "B first")
    return {
        "scenario": np.array(SCENARIOS, dtype=object)[data.scenario[rows]],
        "level_gap": gap_labels[edge],
        "form": _forms(data, rows),
        "type_effectiveness": effect,
        "moves_first": first,
    }


def slices(keys: dict, q: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, battles, mean predicted and observed win rate per value of each slicing."""
    right = (q >= 0.5) == (labels == 1)
    out = {}
    for name, values in keys.items():
        rows = []
        for value in sorted(set(values.tolist())):
            inside = values == value
            rows.append({"value": str(value), "battles": int(inside.sum()),
                         "accuracy": float(right[inside].mean()),
                         "mean_predicted": float(q[inside].mean()),
                         "observed": float(labels[inside].mean())})  # fmt: skip
        out[name] = rows
    return out


def write_report(report: dict, folder: Path) -> list[Path]:
    """Write evaluation.json and evaluation.png into folder; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / REPORT_FILE
    json_path.write_text(json.dumps(report, indent=1, allow_nan=False, default=_plain))
    png_path = folder / FIGURE_FILE
    from core.evaluate.figure import draw_report_figure  # Pillow: only when a figure is drawn

    draw_report_figure(report, png_path)
    return [json_path, png_path]


def _plain(value):
    return None if value is None else float(value)
