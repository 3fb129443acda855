"""The end of a search: counts, the parent run's summary and plots, the best trial retrained.

The parent run gets the study's metrics (best value, trial counts), the best params
(`best_<name>`), and Optuna's own plotly figures as HTML artifacts under `search/`. The best
trial is retrained on the full training data by core.train (same battles, same split), which
logs, registers and applies the promotion policy; its run becomes a child of the parent. A
study whose best trial was already registered (a resumed study that found nothing better) is
not registered again.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Settings, mask_uri
from core.registry import RegistryError
from core.search.config import SearchConfig
from core.search.tracking import PARENT_TAG, STUDY_TAG, log_to_run
from core.search.worker import StudyPlan

logger = logging.getLogger(__name__)

PLOTS = ("optimization_history", "parallel_coordinate", "param_importances")


def count_states(study: Any) -> dict[str, int]:
    """Trials per state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def figures(study: Any) -> dict[str, Any]:
    """Optuna's plotly figures by name; a figure that cannot be drawn yet is left out."""
    import optuna.visualization as vis

    drawn = {}
    for name in PLOTS:
        try:
            drawn[name] = getattr(vis, f"plot_{name}")(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            # e.g. importances need two complete trials with distinct values
            logger.info("no %s figure yet: %s", name, error)
    return drawn


def _log_summary(study: Any, settings: Settings, parent: str, counts: dict[str, int]) -> None:
    metrics = {f"trials_{state.lower()}": n for state, n in counts.items()}
    params: dict[str, Any] = {}
    completed = counts.get("COMPLETE", 0) > 0
    if completed:
        metrics["best_value"] = study.best_value
        metrics["best_trial"] = study.best_trial.number
    with tempfile.TemporaryDirectory(prefix="predictiondex-search-") as scratch:
        files = []
        for name, figure in figures(study).items():
            path = Path(scratch) / f"{name}.html"
            figure.write_html(str(path), include_plotlyjs=True)
            files.append(path)
        log_to_run(settings, parent, params=params, metrics=metrics, files=files)


def train_config(config: SearchConfig, params: dict[str, Any]) -> Any:
    """The TrainConfig that retrains the best trial on the search's battles."""
    from core.search.data import LEVEL, ROSTER, SCENARIO
    from core.train import TrainConfig

    return TrainConfig(
        model_type=config.model_type, params=params, n_battles=config.n_battles,
        seed=config.seed, scenario=SCENARIO, level=LEVEL, roster=ROSTER,
        version_label=f"search-{config.study}"[:100], oracle_sample=config.oracle_sample,
        oracle_replays=config.oracle_replays, promotion_policy=config.promotion_policy,
    )  # fmt: skip


@dataclass(frozen=True)
class Registration:
    """What the end of this search session did about the best trial.

    Fields: version (registered this session, None when nothing new was registered), promoted
    (this session's decision), best_version (the version holding the best trial, this session's
    or an earlier one's; None without one), decision (one sentence: the promotion policy's
    reason, or why nothing was registered this time).
    """

    version: int | None
    promoted: bool
    best_version: int | None
    decision: str


def _earlier_registration(study: Any, settings: Settings, version: int) -> Registration:
    """A resumed study whose best trial an earlier session registered: say so, with its stage now."""
    from core.registry import RegistryError, resolve_version
    from core.registry.versions import NO_STAGE

    trial = study.best_trial.number
    try:
        stage = resolve_version(settings.model_name, version=version, settings=settings).stage
        now = f"; v{version} {'holds no stage' if stage == NO_STAGE else f'is {stage}'} now"
    except RegistryError:
        now = f"; v{version} could not be read from the registry now"
    decision = (
        f"nothing registered this time: the best trial (#{trial}) is still the one an earlier "
        f"session registered as v{version}{now}"
    )
    return Registration(None, False, version, decision)


def register_best(study: Any, config: SearchConfig, settings: Settings) -> Registration:
    """Retrain the best trial, register and promote it (once per best trial; a resumed study
    whose best trial is already registered registers nothing and says so)."""
    from core.train import train_model

    best = study.best_trial
    attrs = study.user_attrs
    if attrs.get("registered_trial") == best.number and attrs.get("registered_version"):
        return _earlier_registration(study, settings, int(attrs["registered_version"]))
    params = {**best.params}
    result = train_model(train_config(config, params), settings)
    parent = StudyPlan.of(study).parent_run_id
    if result.run_id:
        log_to_run(settings, result.run_id, tags={PARENT_TAG: parent, STUDY_TAG: study.study_name,
                                                  "optuna.best_trial": best.number})  # fmt: skip
    log_to_run(settings, parent, tags={"registered_version": result.version,
                                       "registered_trial": best.number,
                                       "promoted": result.promoted})  # fmt: skip
    study.set_user_attr("registered_trial", best.number)
    study.set_user_attr("registered_version", result.version)
    study.set_user_attr("registered_promoted", result.promoted)
    version = None if result.version is None else int(result.version)
    return Registration(version, bool(result.promoted), version, result.promotion_message)


def finish_search(
    study: Any, config: SearchConfig, settings: Settings, url: str, cancelled: bool
) -> Any:
    """Summary and plots on the parent run, the best retrained and registered, the parent ended."""
    from core.search.study import SearchResult, end_parent

    counts = count_states(study)
    parent = StudyPlan.of(study).parent_run_id
    why = "the search was cancelled" if cancelled else "no trial completed"
    done = Registration(None, False, None, f"nothing registered: {why}")
    try:
        _log_summary(study, settings, parent, counts)
        if counts.get("COMPLETE", 0) and not cancelled:
            done = register_best(study, config, settings)
    except BaseException:
        try:
            end_run_failed(settings, parent)
        except RegistryError:
            logger.warning("could not mark the parent run %s FAILED", parent)
        raise
    end_parent(settings, study, cancelled)
    completed = counts.get("COMPLETE", 0) > 0
    return SearchResult(
        study=study.study_name, trials_complete=counts.get("COMPLETE", 0),
        trials_pruned=counts.get("PRUNED", 0), trials_failed=counts.get("FAIL", 0),
        best_value=study.best_value if completed else None,
        best_params=dict(study.best_params) if completed else {},
        registered_version=done.version, promoted=done.promoted, parent_run_id=parent,
        storage=mask_uri(url), cancelled=cancelled, objective=StudyPlan.of(study).objective,
        best_version=done.best_version, promotion=done.decision,
    )  # fmt: skip


def end_run_failed(settings: Settings, run_id: str) -> None:
    """End a run FAILED."""
    from core.search.tracking import end_run

    end_run(settings, run_id, "FAILED")
