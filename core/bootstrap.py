"""`ensure`: on first start, a Production model in the registry and the local fallback on disk.

`python -m core.bootstrap` (or `python -m core.train ensure`, the seed-era spelling) trains a
small starter model when there is neither, exports Production when the fallback is missing or
holds another version (or an unversioned model), and otherwise does nothing. Training does not import serving; this module joins them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Literal

from core import artifacts
from core.config import Settings, setup_logging
from core.errors import PredictionDexError
from core.train import STARTER_BATTLES, TrainConfig, TrainingError, train_model
from core.train.cli import result_lines

EnsureOutcome = Literal["local", "ready", "exported", "trained"]


def ensure_model(
    settings: Settings | None = None, echo: Callable[[str], None] = print
) -> EnsureOutcome:
    """Make sure a model can answer; returns what was done.

    'ready' (the fallback holds Production's version), 'local' (only the fallback: it serves),
    'exported' (Production exported as the fallback, which was missing or held another model), 'trained' (a starter model trained,
    registered and promoted). Raises RegistryError when the store is unreachable and there is no
    fallback, TrainingError when the starter model was not promoted.
    """
    settings = settings or Settings.from_env()
    from core.registry import MLflowTracker, RegistryError

    installed = artifacts.read_installed(settings.models_dir)
    has_local = installed is not None
    try:
        production = MLflowTracker(settings=settings).current_version(
            settings.model_name, settings.model_stage
        )
    except RegistryError as error:
        if has_local:
            echo(f"Registry not reachable ({error}); the local fallback will serve.")
            return "local"
        raise
    if production is not None and installed is not None and _holds(installed, settings, production):
        echo(f"Production is version {production} and the local fallback holds it: nothing to do.")
        return "ready"
    if production is not None:
        from core.predict import export_local_model

        if installed is not None:
            held = (
                f"v{installed.model_version}" if installed.model_version else "an unversioned model"
            )
            echo(f"The local fallback holds {held}, not Production's v{production}.")
        echo(f"Exporting Production version {production} as the local fallback ...")
        export_local_model(production, settings)
        echo(f"Local fallback updated to v{production}.")
        return "exported"
    if has_local:
        echo("A local fallback exists but the registry has no Production model: serving local.")
        return "local"
    echo(f"No model yet: training a starter model on {STARTER_BATTLES:,} battles (seconds) ...")
    config = TrainConfig(n_battles=STARTER_BATTLES, version_label="starter", oracle_sample=500)
    result = train_model(config, settings)
    for line in result_lines(result):
        echo(line)
    if not result.promoted:
        raise TrainingError(
            "The starter model was not promoted; promote a version with"
            " `python -m core.registry promote N` or lower PROMOTION_THRESHOLD."
        )
    return "trained"


def _holds(installed: artifacts.InstalledModel, settings: Settings, version: int) -> bool:
    """True when the fallback's manifest records this model's `version`."""
    return (installed.model_name, installed.model_version) == (settings.model_name, str(version))


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m core.bootstrap`; prints what it did, `error: ...` and exit 2 on failure."""
    del argv  # no options
    setup_logging(logging.WARNING)
    try:
        ensure_model(Settings.from_env())
    except PredictionDexError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
