"""Serving's way in: resolve a stage to a version, download it hash-checked, load it (no pickle)."""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from core import artifacts
from core.artifacts import ModelBundle, UntrustedModelError
from core.config import Settings, mask_uri
from core.registry import embedded, rest
from core.registry.checks import (
    MANIFEST_TAG,
    as_version,
    parse_version,
    stage_alias,
    validate_model_name,
)
from core.registry.errors import NoModelError, NotRegisteredError
from core.registry.store import check_schema, client, translate
from core.registry.versions import (
    VersionInfo,
    aliases_by_version,
    former_production,
    get_registered,
    get_version,
)
from core.registry.versions import version_info as _version_info

logger = logging.getLogger(__name__)


def resolve_version(
    model_name: str,
    stage: str = "Production",
    version: int | str | None = None,
    settings: Settings | None = None,
) -> VersionInfo:
    """The concrete version behind a stage alias (or an explicit version), without downloading.

    Raises:
        NoModelError: the model is not registered or no version holds the stage.
        RegistryError: the version does not exist, bad input, or the store failed.
    """
    settings = settings or Settings.from_env()
    name = validate_model_name(model_name)
    stage_name, alias = stage_alias(stage)
    with _reads(settings) as (registered_model, model_version_of):
        try:
            registered = registered_model(name)
        except NotRegisteredError:
            raise NoModelError(
                stage_name, f"(model {name!r} is not registered)", versions=False
            ) from None
        if version is not None:
            number = parse_version(version)
        else:
            number = as_version(registered.aliases.get(alias))
            if number is None:
                other = "staging" if alias == "production" else "production"
                raise NoModelError(
                    stage_name, f"for {name}",
                    other_holder=as_version(registered.aliases.get(other)),
                )  # fmt: skip
        model_version = model_version_of(name, number)
    aliases = aliases_by_version(registered.aliases).get(number, ())
    return _version_info(model_version, aliases, number in former_production(registered))


def direct_reader(settings: Settings) -> rest.ServerReader | embedded.EmbeddedReader | None:
    """A reader that needs no mlflow import, or None when MLflow's client must read.

    A tracking server over its REST API (core.registry.rest), or an embedded SQLite store at
    MLflow's schema revision (core.registry.embedded); both read registry state and files only.
    """
    return rest.reader_for(settings) or embedded.reader_for(settings)


@contextlib.contextmanager
def _reads(settings: Settings) -> Iterator[tuple[Callable, Callable]]:
    """(registered model of name, version of name and number): directly (`direct_reader`: no
    mlflow import), else through MLflow's client with its errors translated."""
    reader = direct_reader(settings)
    if reader is not None:
        yield reader.get_registered, reader.get_version
        return
    with translate("resolve the model version", settings):
        if settings.is_embedded and settings.sqlite_path and settings.sqlite_path.is_file():
            # Another MLflow's schema: say so (MLflow's store raises a bare exception on it).
            check_schema(settings.sqlite_path, mask_uri(settings.tracking_uri))
        mlflow_client = client(settings)
        yield (
            functools.partial(get_registered, mlflow_client),
            functools.partial(get_version, mlflow_client),
        )


def download_source(source: str, destination: Path, settings: Settings) -> Path:
    """Download a version's artifacts (no check) into destination; return the local folder."""
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(destination), tracking_uri=settings.tracking_uri
    )
    return Path(local)


def download_model_version(
    info: VersionInfo, destination: Path, settings: Settings | None = None
) -> Path:
    """Download a resolved version's model folder into `destination` and check its hash.

    The one manifest-checked download (load_model_version uses it too).

    Raises:
        UntrustedModelError: no recorded hash, or the files do not match it.
        RegistryError: the download failed (StoreError for a store fault).
    """
    settings = settings or Settings.from_env()
    if not info.manifest_sha256:
        raise UntrustedModelError(
            f"{info.model_name} v{info.version} has no {MANIFEST_TAG} tag, so its artifacts "
            "cannot be checked"
        )
    reader = direct_reader(settings)
    remote = reader.proxied_path(info.source) if reader is not None else None
    if remote is not None:
        local = reader.download(remote, Path(destination))  # over REST, or a local copy
    else:
        with translate(f"download {info.model_name} v{info.version}", settings):
            local = download_source(info.source, Path(destination), settings)
    artifacts.verify_model_dir(local, expected_manifest_sha256=info.manifest_sha256)
    return local


def load_model_version(info: VersionInfo, settings: Settings | None = None) -> ModelBundle:
    """Download a resolved version (hash-checked) and load it without pickle.

    Raises:
        UntrustedModelError, RegistryError: as download_model_version.
    """
    destination = Path(tempfile.mkdtemp(prefix="predictiondex-model-"))
    try:
        local = download_model_version(info, destination, settings)
        return artifacts.load_model_dir(local, expected_manifest_sha256=info.manifest_sha256)
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def load_model_from_registry(
    model_name: str,
    stage: str = "Production",
    version: int | str | None = None,
    settings: Settings | None = None,
) -> tuple[ModelBundle, VersionInfo]:
    """Resolve the stage (or version) and load that version safely: (bundle, version info).

    Raises:
        NoModelError, UntrustedModelError, RegistryError: see resolve_version and
            load_model_version.
    """
    info = resolve_version(model_name, stage=stage, version=version, settings=settings)
    bundle = load_model_version(info, settings)
    logger.info("loaded %s v%s (%s) from the registry", info.model_name, info.version, info.stage)
    return bundle, info
