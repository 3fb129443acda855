"""Docker packaging on paper: the Dockerfile's inputs exist, compose is team mode as designed."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = {"postgres", "mlflow", "app", "trainer"}


@cache
def repo_files() -> frozenset[str]:
    """Paths a clone would hold (tracked, or new and not ignored), relative to the root."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return frozenset(name for name in listed.split("\0") if name and (ROOT / name).is_file())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    pairs = []
    for instruction in joined:
        keyword, _, arguments = instruction.partition(" ")
        pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def copy_sources() -> list[str]:
    """The build-context sources of every COPY/ADD (not those copied from another stage)."""
    sources = []
    for keyword, arguments in dockerfile_instructions():
        if keyword not in ("COPY", "ADD"):
            continue
        if arguments.startswith("["):
            parts = json.loads(arguments)
        else:
            parts = shlex.split(arguments)
        if any(part.startswith("--from") for part in parts):
            continue
        paths = [part for part in parts if not part.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def dockerignore_patterns() -> list[str]:
    """The .dockerignore lines, in order (a leading '!' re-includes)."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_dockerignored(path: str) -> bool:
    """Whether the build context leaves this file out (last matching pattern wins)."""
    ignored = False
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as data."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_dockerfile_copies_only_what_exists() -> None:
    """Every COPY source is in the repository (a fresh clone builds) and not dockerignored."""
    sources = copy_sources()
    assert {"requirements.txt", "core", "app", "pages", "models"} <= {
        source.removeprefix("./").rstrip("/") for source in sources
    }
    for source in sources:
        name = source.removeprefix("./").rstrip("/")
        files = [path for path in repo_files() if path == name or path.startswith(f"{name}/")]
        assert files, f"COPY {source}: nothing in the repository (empty folders are not in git)"
        kept = [path for path in files if not is_dockerignored(path)]
        assert kept, f"COPY {source}: .dockerignore leaves every file out"


def test_dockerignore_keeps_local_state_out() -> None:
    """Secrets, the venv, local stores and local models never enter the build context."""
    for path in (
        ".env",
        ".venv/bin/python",
        "mlflow.db",
        "mlartifacts/1/x",
        "models/model.ubj",
        ".streamlit/secrets.toml",
        ".git/HEAD",
    ):
        assert is_dockerignored(path), path
    for path in (
        "core/config.py",
        "requirements.txt",
        "models/README.md",
        ".streamlit/config.toml",
    ):
        assert not is_dockerignored(path), path


def test_dockerfile_shape() -> None:
    """Slim Python, dependencies before code, non-root, a health check, streamlit on 0.0.0.0."""
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    pip_install = next(
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and "pip install -r requirements.txt" in arguments
    )
    code_copies = [
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "COPY" and re.search(r"\b(core|app|pages)\b", arguments)
    ]
    assert code_copies and pip_install < min(code_copies), "dependencies install before the code"
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the container runs as a non-root user"
    assert keywords.index("USER") < keywords.index("CMD")

    healthcheck = next(arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"]
    assert "/_stcore/health" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")

    cmd = json.loads(next(arguments for keyword, arguments in instructions if keyword == "CMD"))
    assert cmd[:5] == ["python", "-m", "streamlit", "run", "app/main.py"]
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--server.port") + 1] == "8501"


def test_compose_is_team_mode() -> None:
    """postgres, mlflow (PostgreSQL store, served artifacts), app and a one-shot trainer."""
    services = compose()["services"]
    assert set(services) == SERVICES

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "ports" not in postgres, "PostgreSQL stays inside the compose network"
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:4] == ["python", "-m", "mlflow", "server"]
    assert command[command.index("--artifacts-destination") + 1] == "/mlartifacts"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "mlflow:5000" in command[command.index("--allowed-hosts") + 1]
    assert any(volume.endswith(":/mlartifacts") for volume in mlflow["volumes"])
    backend = mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert backend.startswith("postgresql+psycopg2://") and "@postgres:5432/" in backend
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/health" in " ".join(mlflow["healthcheck"]["test"])

    for name in ("app", "trainer"):
        environment = services[name]["environment"]
        assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert services[name]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    trainer = services["trainer"]
    assert trainer["command"] == ["python", "-m", "core.train", "ensure"]
    assert trainer["restart"] == "no"
    assert trainer["healthcheck"] == {"disable": True}
    assert services["app"]["depends_on"]["trainer"]["condition"] == (
        "service_completed_successfully"
    )


def test_compose_publishes_only_the_app_and_the_mlflow_ui() -> None:
    """8501 (app) and 5000 (MLflow UI) are the only published ports."""
    published = {
        name: [str(port).rsplit(":", 1)[-1] for port in service.get("ports", [])]
        for name, service in compose()["services"].items()
    }
    assert published == {"postgres": [], "mlflow": ["5000"], "app": ["8501"], "trainer": []}


def test_credentials_come_from_the_env_file() -> None:
    """No password in the compose file; .env.example defines every variable it uses; .env is ignored."""
    text = COMPOSE_FILE.read_text()
    password = compose()["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD")
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= used
    assert used <= set(example), sorted(used - set(example))
    assert ".env.example" in repo_files()
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, timeout=60)
    assert ignored.returncode == 0, ".env must be git-ignored"


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose`, whichever answers here."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    """`docker compose config` accepts the file with .env.example, and without it says what to do."""
    cli = _compose_cli()
    if cli is None:
        pytest.fail("no docker compose client: run `make system-deps` (installs docker-compose)")
    ok = subprocess.run(
        [*cli, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = subprocess.run(
        [*cli, "--env-file", str(empty), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0
    assert ".env.example" in missing.stderr + missing.stdout
