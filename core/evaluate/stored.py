"""Evaluations of registered versions: compare two versions, evaluate one, read what is stored.

Every read and write goes through `core.registry.Registry`; a version's evaluation lives in its
run as metrics plus `evaluation/evaluation.json` and `evaluation/evaluation.png`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.evaluate.compare import (
    DEFAULT_COMPARE_BATTLES,
    DEFAULT_COMPARE_SEED,
    Comparison,
    FreshBattles,
    compare_models,
    fresh_battles,
)
from core.evaluate.evaluation import Evaluation, evaluate_model
from core.evaluate.report import REPORT_FILE, write_report

EVALUATION_PATH = "evaluation"
PRODUCTION = "production"
ORACLE_SAMPLE = 2000


@dataclass(frozen=True)
class VersionComparison:
    """`compare_versions`' answer: candidate and baseline version numbers and the Comparison."""

    candidate: int
    baseline: int
    comparison: Comparison


def _registry(settings: Settings | None):
    from core.registry import Registry

    return Registry(settings or Settings.from_env())


def resolve(registry, version: int | str):
    """VersionInfo of a number or of "production" (NoModelError when nobody holds it)."""
    from core.registry import resolve_version

    name, settings = registry.settings.model_name, registry.settings
    if str(version).strip().lower() == PRODUCTION:
        return resolve_version(name, stage="Production", settings=settings)
    return resolve_version(name, version=version, settings=settings)


_BUNDLES: dict[tuple, object] = {}
_MAX_BUNDLES = 6


def load_bundle(registry, info):
    """The version's model, hash-checked, cached by (store, name, version, manifest)."""
    from core.registry import load_model_version

    key = (registry.settings.tracking_uri, info.model_name, info.version, info.manifest_sha256)
    if key not in _BUNDLES:
        bundle = load_model_version(info, registry.settings)
        while len(_BUNDLES) >= _MAX_BUNDLES:
            _BUNDLES.pop(next(iter(_BUNDLES)))
        _BUNDLES[key] = bundle
    return _BUNDLES[key]


def training_split(registry, info) -> tuple[int, float] | None:
    """(split seed, test fraction) the version was trained with, from its run's params."""
    if not info.run_id:
        return None
    params, _ = registry.run_data(info.run_id)
    try:
        return int(params["data_seed"]), float(params["data_test_fraction"])
    except (KeyError, ValueError):
        return None


def compare_versions(
    candidate: int | str,
    baseline: int | str = PRODUCTION,
    *,
    settings: Settings | None = None,
    n_battles: int = DEFAULT_COMPARE_BATTLES,
    seed: int = DEFAULT_COMPARE_SEED,
) -> VersionComparison:
    """Two registered versions on the SAME fresh battles (held out from both where possible).

    Raises NoModelError (no Production), RegistryError (unknown version, store down),
    UntrustedModelError (artifacts missing or altered), DatasetError (bad battle count).
    """
    registry = _registry(settings)
    new, old = resolve(registry, candidate), resolve(registry, baseline)
    splits = tuple(s for s in (training_split(registry, new), training_split(registry, old)) if s)
    new_model, old_model = load_bundle(registry, new), load_bundle(registry, old)
    roster = str(new_model.metadata.get("roster") or "letsgo")
    fresh = fresh_battles(n_battles, seed, roster, splits)
    return VersionComparison(new.version, old.version, compare_models(new_model, old_model, fresh))


def evaluation_battles(
    registry, info, n_battles: int, seed: int, *, scenario: str = "all", level=50
) -> FreshBattles:
    """The fresh battles `evaluate_version` (and `core.train --mode evaluate`) scores a version
    on (cached): `.data` holds every battle simulated from `fresh_seed(seed)`, `.rows` those on
    matchups held out from the version's training (`.heldout`), or all of them when its split is
    unknown or fewer than MIN_HELDOUT_BATTLES are held out."""
    model = load_bundle(registry, info)
    split = training_split(registry, info)
    roster = str(model.metadata.get("roster") or "letsgo")
    splits = (split,) if split else ()
    return fresh_battles(n_battles, seed, roster, splits, scenario=scenario, level=level)


def evaluate_version(
    version: int | str,
    *,
    settings: Settings | None = None,
    n_battles: int = DEFAULT_COMPARE_BATTLES,
    seed: int = DEFAULT_COMPARE_SEED,
    replays: int = 400,
    store: bool = True,
) -> tuple[int, Evaluation]:
    """Evaluate a version on fresh battles held out from its training; store it in its run.

    Only metrics the run does not have yet are logged (training's own test metrics stay).
    Raises as compare_versions, and DatasetError when replays < 1 (before any work).
    """
    from core.dataset import DatasetError

    if replays < 1:
        raise DatasetError("--replays must be at least 1.")
    registry = _registry(settings)
    info = resolve(registry, version)
    model = load_bundle(registry, info)
    fresh = evaluation_battles(registry, info, n_battles, seed)
    evaluation = evaluate_model(
        model, fresh.data, fresh.rows, features=fresh.features,
        oracle_sample=ORACLE_SAMPLE, oracle_replays=replays, seed=seed,
    )  # fmt: skip
    if store and info.run_id:
        _, existing = registry.run_data(info.run_id)
        metrics = {k: v for k, v in evaluation.metrics().items() if k not in existing}
        with tempfile.TemporaryDirectory(prefix="predictiondex-eval-") as scratch:
            files = write_report(evaluation.report, Path(scratch))
            registry.log_to_run(info.run_id, metrics, files, EVALUATION_PATH)
    return info.version, evaluation


def stored_report(version: int | str, settings: Settings | None = None) -> dict | None:
    """The evaluation report stored in a version's run, or None when it has none."""
    registry = _registry(settings)
    info = resolve(registry, version)
    if not info.run_id:
        return None
    text = registry.read_run_text(info.run_id, f"{EVALUATION_PATH}/{REPORT_FILE}")
    return None if text is None else json.loads(text)
