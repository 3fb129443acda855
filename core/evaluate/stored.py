"""Evaluations of registered versions: compare two versions, evaluate one, read what is stored.

Every read and write goes through `core.registry.Registry`. Training stores its held-out test
report in the run as `evaluation/evaluation.json` (+ `.png`); it is never overwritten. An ad-hoc
`python -m core.evaluate N` stores its report on fresh battles beside it, as
`evaluation/fresh/evaluation.json` (+ `.png`; the latest one replaces the previous ad-hoc one).
Each report's `measured_on` says what it was measured on (see `measured_on`).
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
FRESH_PATH = f"{EVALUATION_PATH}/fresh"  # an ad-hoc evaluation's report, beside training's
PRODUCTION = "production"
STAGE_ALIASES = (PRODUCTION, "staging")  # the aliases that stand for the stages
ORACLE_SAMPLE = 2000
HELD_OUT_TEST, FRESH = "held-out test", "fresh"


def measured_on(
    kind: str,
    battles: int,
    seed: int,
    *,
    heldout: bool = True,
    simulated: int | None = None,
    scenario: str = "all",
    levels: tuple[int, int] = (50, 50),
) -> dict:
    """What a stored report was measured on, as stored in its `measured_on` key.

    kind: HELD_OUT_TEST (training's test battles: matchups held out from its training) or FRESH
    (core.evaluate's fresh battles); battles: the battles scored; seed: as given (training's data
    seed, or core.evaluate's --seed); heldout: their matchups were held out from the training;
    simulated: battles simulated (fresh only); scenario, levels: how they were drawn.
    """  # fmt: skip
    low, high = int(levels[0]), int(levels[1])
    out = {"kind": kind, "battles": int(battles), "seed": int(seed), "heldout": bool(heldout),
           "scenario": scenario, "level": str(low) if low == high else f"{low}-{high}"}  # fmt: skip
    if simulated is not None:
        out["simulated"] = int(simulated)
    return out


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
    """VersionInfo of a version number or of an alias the registry has ("production",
    "staging" or any alias set on a version; case does not matter).

    Raises NoModelError when nobody holds production/staging, RegistryError for an unknown
    version or an alias no version has (naming the aliases there are), or when the store fails.
    """
    from core.registry import RegistryError, resolve_version

    name, settings = registry.settings.model_name, registry.settings
    text = str(version).strip()
    if text.isdigit() or isinstance(version, int):
        return resolve_version(name, version=version, settings=settings)
    if text.lower() in STAGE_ALIASES:
        return resolve_version(name, stage=text, settings=settings)
    versions = registry.list_versions(name) if text else []
    for info in versions:
        if text.lower() in (alias.lower() for alias in info.aliases):
            return info
    known = sorted({alias for info in versions for alias in info.aliases} | set(STAGE_ALIASES))
    raise RegistryError(
        f"{text[:40]!r} is neither a version number nor an alias of {name}: give a number such "
        f"as 3 or one of its aliases ({', '.join(known)}); `python -m core.registry list` "
        "shows them."
    )


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

    The report goes to FRESH_PATH (training's own report is never overwritten), with its
    `measured_on` (kind FRESH, battles, seed). Only metrics the run does not have yet are logged:
    training's own metrics stay; a version trained before evaluations were stored gets its
    missing ones (excess_error, matchup_*) from these fresh battles.
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
    evaluation.report["measured_on"] = measured_on(
        FRESH, fresh.rows.size, seed, heldout=fresh.heldout, simulated=len(fresh.data)
    )
    if store and info.run_id:
        _, existing = registry.run_data(info.run_id)
        metrics = {k: v for k, v in evaluation.metrics().items() if k not in existing}
        with tempfile.TemporaryDirectory(prefix="predictiondex-eval-") as scratch:
            files = write_report(evaluation.report, Path(scratch))
            registry.log_to_run(info.run_id, metrics, files, FRESH_PATH)
    return info.version, evaluation


def stored_report(version: int | str, settings: Settings | None = None) -> dict | None:
    """The evaluation report stored in a version's run: training's held-out test report, else
    the latest `python -m core.evaluate` report on fresh battles, else None. Its `measured_on`
    says which (absent from reports stored before 2026-11-30: see `measured_on_of`)."""
    registry = _registry(settings)
    info = resolve(registry, version)
    if not info.run_id:
        return None
    for folder in (EVALUATION_PATH, FRESH_PATH):
        text = registry.read_run_text(info.run_id, f"{folder}/{REPORT_FILE}")
        if text is not None:
            return json.loads(text)
    return None


def measured_on_of(report: dict) -> dict:
    """A report's `measured_on`; for one stored before it was recorded: kind None and the battle
    count read from its confusion counts (the battles it was measured on)."""
    if isinstance(report.get("measured_on"), dict):
        return report["measured_on"]
    cells = report.get("confusion") or {}
    battles = sum(int(cells.get(k, 0)) for k in ("tn", "fp", "fn", "tp")) or None
    return {"kind": None, "battles": battles}
