"""Settings read from the environment, paths anchored on the project root.

Nothing happens at import: no directories are created, no tracking URI is set, no logging is
configured. Call `configure_mlflow()` and `setup_logging()` explicitly.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, NoReturn

from core.errors import PredictionDexError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_DB_PATH = PROJECT_ROOT / "mlflow.db"
DEFAULT_ARTIFACTS_DIR = PROJECT_ROOT / "mlartifacts"

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
STAGES = ("Production", "Staging")
Stage = Literal["Production", "Staging"]
PROMOTION_POLICIES = ("threshold", "beats_production", "manual")
PromotionPolicy = Literal["threshold", "beats_production", "manual"]


class ConfigError(PredictionDexError, ValueError):
    """A configuration value is invalid; the message says which variable and what to set."""


def default_tracking_uri() -> str:
    """The embedded store: a SQLite file at the project root."""
    return f"sqlite:///{DEFAULT_DB_PATH}"


def _read_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: set it to true or false.")


def _read_float(env: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a number: set it between {low} and {high}."
        ) from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is out of range: set it between {low} and {high}.")
    return value


def _read_stage(env: dict[str, str]) -> Stage:
    raw = (env.get("MLFLOW_MODEL_STAGE") or "").strip() or "Production"
    for stage in STAGES:
        if raw.lower() == stage.lower():
            return stage  # type: ignore[return-value]
    raise ConfigError(
        f"MLFLOW_MODEL_STAGE={raw!r} is not a stage we serve: set it to Production or Staging."
    )


def read_promotion_policy(raw: str | None) -> PromotionPolicy:
    """A promotion policy from text ("" or None: beats_production); ConfigError otherwise."""
    word = (raw or "").strip().lower().replace("-", "_") or "beats_production"
    if word not in PROMOTION_POLICIES:
        raise ConfigError(
            f"PREDICTIONDEX_PROMOTION_POLICY={str(raw)[:40]!r} is not a policy: set it to "
            "threshold, beats_production or manual."
        )
    return word  # type: ignore[return-value]


def _read_keys(raw: str | None) -> tuple[str, ...]:
    """Comma-separated values, stripped, blanks and repeats dropped, order kept."""
    return tuple(
        key for key in dict.fromkeys(part.strip() for part in (raw or "").split(",")) if key
    )


def quiet_openmp() -> None:
    """Make OpenMP threads sleep instead of spinning between parallel regions.

    Call it first thing in an entry point, before xgboost is imported (libgomp reads
    OMP_WAIT_POLICY once, when it loads). Spinning threads made a 2-thread fit 4x slower under a
    competing load and stole the CPU of the dashboard's pages (BENCHMARKS.md, OpenMP).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def end_cli(code: int | str | None) -> NoReturn:
    """Leave a CLI with exit `code`, skipping the interpreter's last full garbage collection.

    After a training, collecting what MLflow, SQLAlchemy and pandas leave behind kept the process
    alive 4-8 s after its last line on a loaded 2-core machine (0.6 s frozen). Exit handlers
    (atexit, MLflow's) still run and the standard streams are flushed; the frozen objects go
    with the process. Raises SystemExit(code), always.
    """
    import gc

    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    raise SystemExit(code)


# The variable behind each Settings field: what from_env reads and to_env writes.
ENV_VARIABLES = {
    "tracking_uri": "MLFLOW_TRACKING_URI",
    "experiment_name": "MLFLOW_EXPERIMENT_NAME",
    "use_registry": "USE_MLFLOW_REGISTRY",
    "model_name": "MLFLOW_MODEL_NAME",
    "model_stage": "MLFLOW_MODEL_STAGE",
    "promotion_threshold": "PROMOTION_THRESHOLD",
    "registry_ttl_seconds": "PREDICTIONDEX_REGISTRY_TTL",
    "registry_timeout_seconds": "PREDICTIONDEX_REGISTRY_TIMEOUT",
    "models_dir": "PREDICTIONDEX_MODELS_DIR",
    "artifacts_dir": "PREDICTIONDEX_ARTIFACTS_DIR",
    "mlflow_ui_url": "MLFLOW_UI_URL",
    "approvers": "PREDICTIONDEX_APPROVERS",
    "audit_user": "PREDICTIONDEX_USER",
    "search_storage": "PREDICTIONDEX_SEARCH_STORAGE",
    "promotion_policy": "PREDICTIONDEX_PROMOTION_POLICY",
    "api_keys": "PREDICTIONDEX_API_KEYS",
}


@dataclass(frozen=True)
class Settings:
    """The configuration of one process (DESIGN §7), plus serving and UI knobs."""

    tracking_uri: str = field(default_factory=default_tracking_uri)
    experiment_name: str = "battle_winner_production"
    use_registry: bool = True
    model_name: str = "battle_winner_predictor"
    model_stage: Stage = "Production"
    promotion_threshold: float = 0.85
    # Serving: how long a resolved alias is trusted before it is checked again.
    registry_ttl_seconds: float = 30.0
    # Serving: the budget of one registry request from the UI/serving path.
    registry_timeout_seconds: float = 1.0
    models_dir: Path = MODELS_DIR
    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR
    mlflow_ui_url: str = "http://localhost:5000"
    approvers: tuple[str, ...] = ()
    # Single-user mode: the name the audit records by default ("": the operating-system user).
    audit_user: str = ""
    # Optuna's study storage ("": a SQLite file beside the embedded store; PostgreSQL for a team).
    search_storage: str = ""
    # threshold (the seed's rule), beats_production (also beat the champion), manual (register).
    promotion_policy: PromotionPolicy = "beats_production"
    # The API's accepted X-API-Key values (empty: no key needed). Kept out of repr: secrets.
    api_keys: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from environment variables (or a given mapping)."""
        env = dict(os.environ if env is None else env)
        tracking_uri = (env.get("MLFLOW_TRACKING_URI") or "").strip() or default_tracking_uri()
        approvers = tuple(
            sorted(
                {e.strip().lower() for e in env.get("PREDICTIONDEX_APPROVERS", "").split(",")}
                - {""}
            )
        )
        return cls(
            tracking_uri=tracking_uri,
            experiment_name=(env.get("MLFLOW_EXPERIMENT_NAME") or "").strip()
            or "battle_winner_production",
            use_registry=_read_bool(env, "USE_MLFLOW_REGISTRY", True),
            model_name=(env.get("MLFLOW_MODEL_NAME") or "").strip() or "battle_winner_predictor",
            model_stage=_read_stage(env),
            promotion_threshold=_read_float(env, "PROMOTION_THRESHOLD", 0.85, 0.0, 1.0),
            registry_ttl_seconds=_read_float(env, "PREDICTIONDEX_REGISTRY_TTL", 30.0, 0.0, 86400.0),
            registry_timeout_seconds=_read_float(
                env, "PREDICTIONDEX_REGISTRY_TIMEOUT", 1.0, 0.05, 60.0
            ),
            models_dir=Path(env.get("PREDICTIONDEX_MODELS_DIR") or MODELS_DIR),
            artifacts_dir=Path(env.get("PREDICTIONDEX_ARTIFACTS_DIR") or DEFAULT_ARTIFACTS_DIR),
            mlflow_ui_url=(env.get("MLFLOW_UI_URL") or "").strip() or ui_url_for(tracking_uri),
            approvers=approvers,
            audit_user=" ".join((env.get("PREDICTIONDEX_USER") or "").split())[:100],
            search_storage=(env.get("PREDICTIONDEX_SEARCH_STORAGE") or "").strip(),
            promotion_policy=read_promotion_policy(env.get("PREDICTIONDEX_PROMOTION_POLICY")),
            api_keys=_read_keys(env.get("PREDICTIONDEX_API_KEYS")),
        )

    def to_env(self) -> dict[str, str]:
        """The environment variables that `Settings.from_env()` reads back to these settings.

        Returns:
            One entry per field (DESIGN §7 names, see `ENV_VARIABLES`): booleans as
            "true"/"false", floats in their shortest exact form, paths as strings, approvers
            comma-joined. `Settings.from_env(settings.to_env()) == settings` for any settings
            `from_env` can produce; a value it refuses (e.g. a threshold above 1) raises
            ConfigError when read back, as it would from the shell.
        """
        env: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, float):
                text = repr(value)
            elif isinstance(value, tuple):
                text = ",".join(value)
            else:
                text = str(value)
            env[ENV_VARIABLES[item.name]] = text
        return env

    @property
    def is_embedded(self) -> bool:
        """True when the tracking store is a local SQLite file (no server)."""
        return self.tracking_uri.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of an embedded store, else None."""
        if not self.is_embedded:
            return None
        return Path(self.tracking_uri.removeprefix("sqlite:///"))

    @property
    def alias(self) -> str:
        """The registry alias that stands for the configured stage."""
        return self.model_stage.lower()


def ui_url_for(tracking_uri: str) -> str:
    """Where a person can open the MLflow UI for this store."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return "http://localhost:5000"


def mask_uri(uri: str) -> str:
    """The tracking URI with any password replaced by ***, for display."""
    if "://" not in uri or "@" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


# MLflow's client-side credential, TLS and workspace variables (mlflow.environment_variables):
# with any of them set, serving reads the registry through MLflow's client, which knows them all
# (otherwise a tracking server over REST, core.registry.rest, and the embedded store with
# sqlite3, core.registry.embedded).
MLFLOW_CLIENT_VARIABLES = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_AUTH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_ENABLE_WORKSPACES",  # registry reads then filter by a workspace MLflow picks
    "MLFLOW_WORKSPACE",
)
MLFLOW_HTTP_TIMEOUT_SECONDS = 120.0  # MLflow's default for MLFLOW_HTTP_REQUEST_TIMEOUT


def mlflow_client_variables() -> tuple[str, ...]:
    """The MLFLOW_CLIENT_VARIABLES set (non-empty) in this process's environment now."""
    return tuple(name for name in MLFLOW_CLIENT_VARIABLES if os.environ.get(name, "").strip())


def mlflow_http_timeout() -> float:
    """MLflow's MLFLOW_HTTP_REQUEST_TIMEOUT in seconds (its default, 120, when unset or bad)."""
    try:
        seconds = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or "nan")
    except ValueError:
        return MLFLOW_HTTP_TIMEOUT_SECONDS
    return seconds if seconds > 0 else MLFLOW_HTTP_TIMEOUT_SECONDS


NO_USAGE_REPORTING = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    # MLflow's download progress bars would break the CLIs' one-line errors and JSON output.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def disable_usage_reporting() -> None:
    """Keep MLflow from sending usage data (it would reach for the network when imported)
    and from drawing download progress bars on stderr.

    Must run before the first `import mlflow`; a value the user set explicitly is kept.
    """
    for name, value in NO_USAGE_REPORTING.items():
        os.environ.setdefault(name, value)


def setup_logging(level: int = logging.INFO) -> None:
    """Configure a one-line log format for CLIs."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mlflow", "alembic", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_mlflow_ui(port: int, settings: Settings | None = None) -> int:
    """Serve the MLflow UI on the configured store (the seed guide's http://localhost:5000)."""
    settings = settings or Settings.from_env()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        settings.tracking_uri,
        "--artifacts-destination",
        str(settings.artifacts_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # One worker serves one analyst's UI; four took ~80 s to start beside a loaded dashboard.
        "--workers",
        "1",
    ]
    print(f"MLflow UI on http://localhost:{port} (store: {mask_uri(settings.tracking_uri)})")
    return subprocess.call(command)


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m core.config show|mlflow-ui`."""
    parser = argparse.ArgumentParser(prog="python -m core.config")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show", help="print the effective settings")
    ui = sub.add_parser("mlflow-ui", help="start the MLflow UI on the configured store")
    ui.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "show":
        for name, value in settings.__dict__.items():
            shown = mask_uri(value) if name == "tracking_uri" else value
            print(f"{name}: {shown}")
        return 0
    return run_mlflow_ui(args.port, settings)


if __name__ == "__main__":
    raise SystemExit(main())
