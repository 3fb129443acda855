"""`doctor`: inconsistencies between runs, versions, artifacts, aliases, the audit trail, the
legacy MLflow stages (set in the MLflow UI, ignored here) and the local fallback in models/."""

from __future__ import annotations

import tempfile
from pathlib import Path

from core import artifacts
from core.artifacts import UntrustedModelError
from core.config import STAGES
from core.registry import audit
from core.registry.checks import (
    LOCK_SUFFIX,
    MANIFEST_TAG,
    as_version,
    stage_alias,
    validate_model_name,
)
from core.registry.download import download_source
from core.registry.errors import NotRegisteredError
from core.registry.lock import lock_age
from core.registry.store import Store, translate
from core.registry.versions import all_versions, get_registered


def doctor(store: Store, model_name: str) -> list[str]:
    """One sentence per problem found (empty when all is consistent).

    Raises:
        RegistryError: invalid name or the store failed (StoreError for a store fault).
    """
    name = validate_model_name(model_name)
    problems: list[str] = []
    with translate("check the registry", store.settings):
        try:
            registered = get_registered(store.client, name)
            versions = all_versions(store.client, name)
        except NotRegisteredError:
            registered, versions = None, []
        problems.extend(_unregistered_runs(store, name, {v.run_id for v in versions}))
        broken: dict[int, str] = {}
        for version in versions:
            why = _check_version_artifacts(store, version)
            if why:
                broken[int(version.version)] = why
                problems.append(
                    f"{name} v{version.version}: {why}; PredictionDex will not serve it: "
                    f"delete v{version.version} in the MLflow UI (Models → {name}) and train "
                    "again, or restore its artifacts from a backup"
                )
        if registered is not None:
            problems.extend(_check_aliases(registered, versions, broken))
            problems.extend(_legacy_stages(registered, versions))
            if name == store.settings.model_name:
                existing = {int(v.version) for v in versions}
                problems.extend(_check_local_fallback(store, registered, existing))
        age = lock_age(store.client, name)
        if age is not None and age > store.lock_stale_seconds:
            problems.append(
                f"promotion lock {name}{LOCK_SUFFIX} is {age:.0f} s old (a crashed "
                "promotion); the next promotion breaks it"
            )
    return problems


def _unregistered_runs(store: Store, name: str, registered_runs: set[str]) -> list[str]:
    from mlflow.entities import ViewType

    problems, token = [], None
    while True:
        page = store.client.search_runs(
            [store.experiment_id],
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        for run in page:
            run_id = run.info.run_id
            if (
                run.data.tags.get(MANIFEST_TAG)
                and run_id not in registered_runs
                and not store.client.search_model_versions(f"run_id='{run_id}'")
            ):
                problems.append(
                    f"run {run_id} ({run.info.run_name}, {run.info.status}) has "
                    f"a model but no registered version of {name} (a training stopped before "
                    f"registering?): register it from Python with `Registry().register("
                    f"'{run_id}', '{name}')`, or delete the run in the MLflow UI if unwanted"
                )
        token = page.token
        if not token:
            return problems


def _check_version_artifacts(store: Store, version) -> str | None:
    expected = version.tags.get(MANIFEST_TAG)
    if not expected:
        return f"no {MANIFEST_TAG} tag (registered outside PredictionDex?)"
    try:
        with tempfile.TemporaryDirectory(prefix="predictiondex-doctor-") as tmp:
            local = download_source(version.source, Path(tmp), store.settings)
            artifacts.verify_model_dir(local, expected)
    except UntrustedModelError as error:
        return str(error)
    except Exception as error:  # missing or unreadable artifacts
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return f"artifacts missing or unreadable ({first[:200]})"
    return None


def _version_text(number: int | None) -> str:
    return f"v{number}" if number is not None else "no version"


def _check_aliases(registered, versions, broken: dict[int, str]) -> list[str]:
    problems = []
    existing = {int(v.version) for v in versions}
    promote = "`python -m core.registry promote VERSION` (`list` shows the versions)"
    for alias, value in registered.aliases.items():
        number = as_version(value)
        if number not in existing:
            problems.append(
                f"alias {alias} points to v{value}, which does not exist: point it at an "
                f"existing version with {promote}"
            )
        elif number in broken:
            problems.append(
                f"alias {alias} points to v{number}, which is broken: point it at a sound "
                f"version with {promote}"
            )
    entries = [entry for entry in audit.parse_entries(registered.tags) if entry.done]
    for stage in STAGES:
        alias_version = as_version(registered.aliases.get(stage.lower()))
        last = next((e for e in reversed(entries) if e.stage == stage), None)
        if last is not None and last.to_version != alias_version:
            problems.append(_moved_outside(stage, alias_version, last.to_version))
    return problems


def _moved_outside(stage: str, alias_version: int | None, installed: int | None) -> str:
    """The alias and the audit trail disagree: what happened and both ways to settle it."""
    flag = "" if stage == "Production" else f" --stage {stage}"
    restore = (
        f"to restore {_version_text(installed)}: `python -m core.registry promote "
        f'{installed}{flag} --reason "..."`'
        if installed is not None
        else ""
    )
    keep = (
        f"to keep v{alias_version}, record it: `python -m core.registry promote "
        f'{alias_version}{flag} --reason "..."` (writes the missing audit entry)'
        if alias_version is not None
        else f"or leave {stage} empty (serving then uses the local fallback)"
    )
    return (
        f"alias {stage.lower()} is on {_version_text(alias_version)} but the audit trail's last "
        f"{stage} action installed {_version_text(installed)} (changed outside PredictionDex, "
        f"or a promotion was interrupted): {'; '.join(part for part in (restore, keep) if part)}"
    )


def _legacy_stages(registered, versions) -> list[str]:
    """Versions whose deprecated MLflow stage (the UI's "Transition to") disagrees with the alias.

    PredictionDex serves by alias; the stage is read from search_model_versions' results only.
    """
    problems = []
    for version in sorted(versions, key=lambda v: int(v.version)):
        legacy = (version.current_stage or "").strip().capitalize()
        if legacy not in STAGES:
            continue
        _, alias = stage_alias(legacy)
        holder = as_version(registered.aliases.get(alias))
        if holder == int(version.version):
            continue
        where = f"is on v{holder}" if holder is not None else "is on no version"
        flag = "" if legacy == "Production" else f" --stage {legacy}"
        problems.append(
            f"v{version.version} has the legacy MLflow stage {legacy} (set in the MLflow UI?) but "
            f"the alias {alias} {where}: PredictionDex uses the alias: run "
            f"`python -m core.registry promote {version.version}{flag}`"
        )
    return problems


def _check_local_fallback(store: Store, registered, existing: set[int]) -> list[str]:
    """The local fallback in models/ must hold an existing version: the configured stage's."""
    settings = store.settings
    installed = artifacts.read_installed(settings.models_dir)
    _, alias = stage_alias(settings.model_stage)
    holder = as_version(registered.aliases.get(alias))
    if installed is None:
        return []  # no fallback (a replica may run without one)
    fix = (
        "run `python -m core.predict export`"
        if holder is not None
        else "promote a version with `python -m core.registry promote VERSION` (it is exported)"
    )
    ours = installed.model_name in (None, registered.name)
    number = as_version(installed.model_version) if ours else None
    if number is not None and number not in existing:
        return [
            f"the local fallback in {settings.models_dir} holds v{number}, which no longer exists "
            f"in the registry (deleted), and is served when the registry fails: {fix}"
        ]
    if holder is None:
        return []  # nothing to follow
    if (installed.model_name, installed.model_version) != (registered.name, str(holder)):
        held = f"v{installed.model_version}" if installed.model_version else "an unversioned model"
        if not ours:
            held = f"{installed.model_name} {held}"
        return [f"the local fallback holds {held} while {settings.model_stage} is v{holder}: {fix}"]
    try:
        artifacts.verify_model_dir(settings.models_dir)
    except UntrustedModelError as error:
        return [f"the local fallback in {settings.models_dir} fails verification ({error}): {fix}"]
    return []
