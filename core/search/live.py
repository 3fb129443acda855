"""A study read back from its storage while workers run it: the trials table, counts, figures."""

from __future__ import annotations

import sqlite3
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


def _sqlite_ready(path: Path) -> bool:
    """True once Optuna's first worker has finished creating the SQLite storage at `path`.

    Optuna writes its schema, then its alembic revision; a reader that opens the storage before
    that revision is there runs the same creation itself and races the worker ("table studies
    already exists", "UNIQUE constraint failed: alembic_version"): reading waits for it instead.
    """
    if not path.is_file():
        return False
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            connection.close()
    except sqlite3.OperationalError:  # no such table yet (or locked while it is written)
        return False
    return row is not None


def _load(url: str, name: str) -> Any | None:
    import optuna

    if url.startswith("sqlite:///") and not _sqlite_ready(Path(url.removeprefix("sqlite:///"))):
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


FINISHED_STATES = frozenset({"COMPLETE", "PRUNED", "FAIL"})


class TrialProgress:
    """One line per trial finished since the last look (the search CLI prints them on stderr).

    Trials finished before the first look (earlier sessions of a resumed study) are not told.
    """

    def __init__(self, objective: str) -> None:
        self.objective = objective
        self._seen: set[int] | None = None

    def lines(self, study: Any) -> list[str]:
        """'trial 3 COMPLETE in 4.1 s: log_loss 0.1406 · best log_loss 0.1406 (trial 3) · 4 of
        10 trials finished' for each trial newly finished."""
        trials = study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state.name in FINISHED_STATES]
        if self._seen is None:
            self._seen = {t.number for t in done}
            return []
        fresh = sorted((t for t in done if t.number not in self._seen), key=lambda t: t.number)
        if not fresh:
            return []
        self._seen.update(t.number for t in fresh)
        target = study.user_attrs.get("target_trials") or len(trials)
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        best = f" · best {self.objective} {study.best_value:.4f} (trial {study.best_trial.number})"
        best = best if complete else ""
        lines = []
        for trial in fresh:
            took = f" in {trial.duration.total_seconds():.1f} s" if trial.duration else ""
            value = f": {self.objective} {trial.value:.4f}" if trial.value is not None else ""
            lines.append(f"trial {trial.number} {trial.state.name}{took}{value}{best} · "
                         f"{len(done)} of {target} trials finished")  # fmt: skip
        return lines


def study_figures(url: str, name: str) -> dict[str, Any]:
    """Optuna's plotly figures of the study (those that can be drawn yet), by name."""
    from core.search.report import figures

    study = _load(url, name)
    return {} if study is None else figures(study)
