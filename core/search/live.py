"""A study read back from its storage while workers run it: the trials table, counts, figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TABLE_COLUMNS = ("trial", "state", "value", "seconds", "worker")


@dataclass(frozen=True)
class StudySnapshot:
    """A study at one moment.

    Fields: trials (DataFrame: trial, state, value (objective), seconds, worker, then one column
    per hyperparameter; newest first), counts (state name -> trials), best_value (None before a
    complete trial), best_params, parent_run_id ('' before the study exists).
    """

    trials: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    parent_run_id: str = ""


def _load(url: str, name: str) -> Any | None:
    import optuna

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None  # not created yet: reading must not create it
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return None


def read_study(url: str, name: str) -> StudySnapshot:
    """The study's trials so far (an empty snapshot when it does not exist yet)."""
    study = _load(url, name)
    if study is None:
        return StudySnapshot(pd.DataFrame(columns=list(TABLE_COLUMNS)))
    rows, counts = [], {}
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name
        counts[state] = counts.get(state, 0) + 1
        took = trial.duration.total_seconds() if trial.duration else None
        rows.append({"trial": trial.number, "state": state, "value": trial.value,
                     "seconds": took, "worker": trial.user_attrs.get("worker", ""),
                     **trial.params})  # fmt: skip
    table = pd.DataFrame(rows, columns=None if rows else list(TABLE_COLUMNS))
    table = table.sort_values("trial", ascending=False, ignore_index=True)
    complete = counts.get("COMPLETE", 0) > 0
    return StudySnapshot(
        table, counts, study.best_value if complete else None,
        dict(study.best_params) if complete else {},
        str(study.user_attrs.get("parent_run_id", "")),
    )  # fmt: skip


def study_figures(url: str, name: str) -> dict[str, Any]:
    """Optuna's plotly figures of the study (those that can be drawn yet), by name."""
    from core.search.report import figures

    study = _load(url, name)
    return {} if study is None else figures(study)
