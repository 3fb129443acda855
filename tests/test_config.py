"""core.config: DESIGN §7 defaults, every variable, clear errors, masked URIs, a quiet import."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.config import (
    DEFAULT_ARTIFACTS_DIR,
    ENV_VARIABLES,
    MODELS_DIR,
    PROJECT_ROOT,
    ConfigError,
    Settings,
    mask_uri,
)
from tests.cli import run_cli, run_python

ROOT = Path(__file__).resolve().parent.parent


def test_project_root_is_the_repository() -> None:
    """Paths are anchored on the project root, not on the working directory."""
    assert PROJECT_ROOT == ROOT
    assert MODELS_DIR == ROOT / "models"
    assert DEFAULT_ARTIFACTS_DIR == ROOT / "mlartifacts"


def test_defaults_follow_the_design() -> None:
    """With no variable set, the settings are DESIGN §7's defaults (embedded SQLite store)."""
    settings = Settings.from_env({})
    assert settings.tracking_uri == f"sqlite:///{ROOT / 'mlflow.db'}"
    assert settings.experiment_name == "battle_winner_production"
    assert settings.use_registry is True
    assert settings.model_name == "battle_winner_predictor"
    assert settings.model_stage == "Production"
    assert settings.promotion_threshold == 0.85
    assert settings.registry_ttl_seconds == 30.0
    assert settings.registry_timeout_seconds == 1.0
    assert settings.models_dir == ROOT / "models"
    assert settings.artifacts_dir == ROOT / "mlartifacts"
    assert settings.mlflow_ui_url == "http://localhost:5000"
    assert settings.approvers == ()
    assert settings.is_embedded
    assert settings.sqlite_path == ROOT / "mlflow.db"
    assert settings.alias == "production"
    assert Settings() == settings


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a mapping, from_env reads os.environ."""
    monkeypatch.setenv("MLFLOW_MODEL_NAME", "from_the_shell")
    assert Settings.from_env().model_name == "from_the_shell"


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000", "tracking_uri", "http://127.0.0.1:5000"),
        ("MLFLOW_TRACKING_URI", " sqlite:////tmp/x.db ", "tracking_uri", "sqlite:////tmp/x.db"),
        ("MLFLOW_EXPERIMENT_NAME", "exp", "experiment_name", "exp"),
        ("USE_MLFLOW_REGISTRY", "false", "use_registry", False),
        ("USE_MLFLOW_REGISTRY", "FALSE", "use_registry", False),
        ("USE_MLFLOW_REGISTRY", "0", "use_registry", False),
        ("USE_MLFLOW_REGISTRY", "no", "use_registry", False),
        ("USE_MLFLOW_REGISTRY", "off", "use_registry", False),
        ("USE_MLFLOW_REGISTRY", "True", "use_registry", True),
        ("USE_MLFLOW_REGISTRY", " yes ", "use_registry", True),
        ("USE_MLFLOW_REGISTRY", "1", "use_registry", True),
        ("MLFLOW_MODEL_NAME", "other_model", "model_name", "other_model"),
        ("MLFLOW_MODEL_STAGE", "Staging", "model_stage", "Staging"),
        ("MLFLOW_MODEL_STAGE", "staging", "model_stage", "Staging"),
        ("MLFLOW_MODEL_STAGE", "PRODUCTION", "model_stage", "Production"),
        ("PROMOTION_THRESHOLD", "0.9", "promotion_threshold", 0.9),
        ("PROMOTION_THRESHOLD", "0", "promotion_threshold", 0.0),
        ("PROMOTION_THRESHOLD", "1", "promotion_threshold", 1.0),
        ("PREDICTIONDEX_REGISTRY_TTL", "5", "registry_ttl_seconds", 5.0),
        ("PREDICTIONDEX_REGISTRY_TIMEOUT", "2.5", "registry_timeout_seconds", 2.5),
        ("PREDICTIONDEX_MODELS_DIR", "/srv/models", "models_dir", Path("/srv/models")),
        ("PREDICTIONDEX_ARTIFACTS_DIR", "/srv/art", "artifacts_dir", Path("/srv/art")),
        (
            "MLFLOW_UI_URL",
            "http://mlflow.example:5000",
            "mlflow_ui_url",
            "http://mlflow.example:5000",
        ),
        ("PREDICTIONDEX_APPROVERS", "B@x.com, a@y.com,,", "approvers", ("a@y.com", "b@x.com")),
    ],
)
def test_each_variable_overrides(variable: str, value: str, field: str, expected: Any) -> None:
    """Every documented variable changes its setting and nothing else."""
    settings = Settings.from_env({variable: value})
    assert getattr(settings, field) == expected
    defaults = dataclasses.asdict(Settings.from_env({}))
    changed = {name for name, default in defaults.items() if getattr(settings, name) != default}
    # The UI link follows a server tracking URI; nothing else moves along.
    assert changed <= {field, "mlflow_ui_url"}


def test_a_server_store_is_not_embedded() -> None:
    """An http tracking URI is a server: no SQLite path, and the UI link points at it."""
    settings = Settings.from_env({"MLFLOW_TRACKING_URI": "http://mlflow:5000/"})
    assert not settings.is_embedded
    assert settings.sqlite_path is None
    assert settings.mlflow_ui_url == "http://mlflow:5000"


def test_staging_serves_the_staging_alias() -> None:
    """MLFLOW_MODEL_STAGE=Staging serves the `staging` alias."""
    assert Settings.from_env({"MLFLOW_MODEL_STAGE": "Staging"}).alias == "staging"


@pytest.mark.parametrize(
    "variable",
    [
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "USE_MLFLOW_REGISTRY",
        "MLFLOW_MODEL_NAME",
        "MLFLOW_MODEL_STAGE",
        "PROMOTION_THRESHOLD",
    ],
)
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_values_mean_the_default(variable: str, blank: str) -> None:
    """An empty variable (as docker compose passes an unset one) falls back to the default."""
    assert Settings.from_env({variable: blank}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("USE_MLFLOW_REGISTRY", "maybe"),
        ("USE_MLFLOW_REGISTRY", "2"),
        ("PROMOTION_THRESHOLD", "high"),
        ("PROMOTION_THRESHOLD", "1.5"),
        ("PROMOTION_THRESHOLD", "-0.1"),
        ("PROMOTION_THRESHOLD", "nan"),
        ("PROMOTION_THRESHOLD", "85%"),
        ("MLFLOW_MODEL_STAGE", "Archived"),
        ("MLFLOW_MODEL_STAGE", "None"),
        ("MLFLOW_MODEL_STAGE", "champion"),
        ("PREDICTIONDEX_REGISTRY_TTL", "-1"),
        ("PREDICTIONDEX_REGISTRY_TIMEOUT", "0"),
        ("PREDICTIONDEX_REGISTRY_TIMEOUT", "soon"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    """A bad value raises ConfigError naming the variable and what to set instead."""
    with pytest.raises(ConfigError, match=variable) as caught:
        Settings.from_env({variable: value})
    assert "set it" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after they are read."""
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model_name = "other"  # type: ignore[misc]


# One value other than the default for every field, as from_env would produce it.
NON_DEFAULT: dict[str, Any] = {
    "tracking_uri": "postgresql+psycopg2://mlflow:s3cr3t@db:5432/mlflow",
    "experiment_name": "exp with spaces, commas and é",
    "use_registry": False,
    "model_name": "other_model",
    "model_stage": "Staging",
    "promotion_threshold": 0.1 + 0.2,  # 0.30000000000000004: floats must survive exactly
    "registry_ttl_seconds": 0.0,
    "registry_timeout_seconds": 59.75,
    "models_dir": Path("relative/models"),
    "artifacts_dir": Path("/srv/mlartifacts"),
    "mlflow_ui_url": "https://mlflow.example.com/ui",
    "approvers": ("a@y.com", "b@x.com"),
    "audit_user": "Ana Lyst",
    "search_storage": "postgresql+psycopg2://optuna:pw@db:5432/optuna",
    "promotion_policy": "manual",
    "api_keys": ("k-2", "k 1"),
}


def test_non_default_values_cover_every_field() -> None:
    """A field added to Settings must get a variable and a round-trip case here."""
    names = {item.name for item in dataclasses.fields(Settings)}
    assert set(NON_DEFAULT) == names == set(ENV_VARIABLES)
    defaults = Settings()
    assert all(getattr(defaults, name) != value for name, value in NON_DEFAULT.items())


@pytest.mark.parametrize("field", sorted(NON_DEFAULT))
def test_to_env_round_trips_each_field(field: str) -> None:
    """from_env(to_env()) gives back equal settings, one non-default field at a time."""
    settings = dataclasses.replace(Settings.from_env({}), **{field: NON_DEFAULT[field]})
    env = settings.to_env()
    assert set(env) == set(ENV_VARIABLES.values())
    assert all(isinstance(value, str) for value in env.values())
    assert Settings.from_env(env) == settings


@pytest.mark.parametrize(
    "settings",
    [
        Settings.from_env({}),
        Settings(**NON_DEFAULT),
        Settings(tracking_uri="http://127.0.0.1:5000", approvers=("solo@x.com",)),
    ],
    ids=["defaults", "all-non-default", "server"],
)
def test_to_env_round_trips_whole_settings(settings: Settings) -> None:
    """Every field at once, and a server URI whose UI link differs from the default one."""
    assert Settings.from_env(settings.to_env()) == settings


def test_to_env_reaches_a_child_process(tmp_path: Path) -> None:
    """A real child process given to_env() as its environment reads the same settings."""
    settings = Settings(**NON_DEFAULT)
    code = "from core.config import Settings; print(repr(Settings.from_env()))"
    result = run_python(["-c", code], settings, _quiet_home(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(settings)


def test_to_env_of_a_refused_value_is_refused_when_read_back() -> None:
    """A value from_env refuses (set by hand on the dataclass) fails read-back, naming it."""
    with pytest.raises(ConfigError, match="PROMOTION_THRESHOLD"):
        Settings.from_env(Settings(promotion_threshold=1.5).to_env())


@pytest.mark.parametrize(
    ("uri", "secret", "kept"),
    [
        (
            "postgresql://mlflow:s3cr3t@db:5432/mlflow",
            "s3cr3t",
            "postgresql://mlflow:***@db:5432/mlflow",
        ),
        (
            "postgresql+psycopg2://u:pa:ss@127.0.0.1/x",
            "pa:ss",
            "postgresql+psycopg2://u:***@127.0.0.1/x",
        ),
        (
            "https://alice:tok%40en@mlflow.example.com",
            "tok%40en",
            "https://alice:***@mlflow.example.com",
        ),
        ("http://bob:p@ss@host:5000", "p@ss", "http://bob:***@host:5000"),
    ],
)
def test_mask_uri_hides_passwords(uri: str, secret: str, kept: str) -> None:
    """The password never shows; the user, host and database do."""
    masked = mask_uri(uri)
    assert secret not in masked
    assert masked == kept


@pytest.mark.parametrize(
    "uri",
    ["sqlite:////work/main/mlflow.db", "http://127.0.0.1:5000", "file:///tmp/mlruns", "databricks"],
)
def test_mask_uri_leaves_uris_without_credentials(uri: str) -> None:
    """A URI without credentials is shown as it is."""
    assert mask_uri(uri) == uri


def _quiet_home(tmp_path: Path) -> dict[str, str]:
    """HOME in tmp_path (nothing may be written there) and no bytecode files."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    """Importing core.config and reading the settings creates nothing and configures nothing."""
    work = tmp_path / "cwd"
    work.mkdir()
    watched = [ROOT / "mlflow.db", ROOT / "mlartifacts", ROOT / "mlruns", ROOT / "models"]
    before = {
        str(path): sorted(os.listdir(path)) if path.is_dir() else path.exists() for path in watched
    }
    code = """
import json, logging, sys
import core.config
settings = core.config.Settings.from_env()
print(json.dumps({
    "heavy": sorted(m for m in ("mlflow", "streamlit", "xgboost", "sklearn") if m in sys.modules),
    "handlers": len(logging.getLogger().handlers),
    "uri": settings.tracking_uri,
}))
"""
    result = run_python(["-B", "-c", code], env=_quiet_home(tmp_path), cwd=work)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"heavy": [], "handlers": 0, "uri": f"sqlite:///{ROOT / 'mlflow.db'}"}
    assert list(work.iterdir()) == []
    assert list((tmp_path / "home").iterdir()) == []
    after = {
        str(path): sorted(os.listdir(path)) if path.is_dir() else path.exists() for path in watched
    }
    assert after == before


def test_cli_show_masks_the_password(tmp_path: Path) -> None:
    """`python -m core.config show` prints the effective settings without the password."""
    settings = Settings.from_env(
        {
            "MLFLOW_TRACKING_URI": "postgresql://mlflow:hunter2@db:5432/mlflow",
            "MLFLOW_MODEL_STAGE": "staging",
        }
    )
    result = run_cli("core.config", ["show"], settings, _quiet_home(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "tracking_uri: postgresql://mlflow:***@db:5432/mlflow" in result.stdout
    assert "model_stage: Staging" in result.stdout


def test_cli_reports_a_bad_variable(tmp_path: Path) -> None:
    """A bad variable makes the CLI exit 2 with the variable's name, not a traceback."""
    env = {"PROMOTION_THRESHOLD": "lots", **_quiet_home(tmp_path)}
    result = run_cli("core.config", ["show"], env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "PROMOTION_THRESHOLD" in result.stderr
    assert "Traceback" not in result.stderr


def test_api_keys_are_read_once_and_kept_out_of_repr() -> None:
    """PREDICTIONDEX_API_KEYS: blanks and repeats dropped, order kept; never shown in a repr."""
    settings = Settings.from_env({"PREDICTIONDEX_API_KEYS": " k1 ,, k2,k1 , "})
    assert settings.api_keys == ("k1", "k2")
    assert "k1" not in repr(settings)
    assert Settings.from_env({}).api_keys == ()
