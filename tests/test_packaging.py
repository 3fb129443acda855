"""Docker packaging on paper: the Dockerfile's inputs exist, compose is team mode as designed."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import NO_USAGE_REPORTING

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = {"postgres", "mlflow", "app", "api", "trainer", "search-worker"}


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


def dockerfile_env() -> dict[str, str]:
    """The variables every ENV instruction sets (`ENV A=1 B=2` and the old `ENV A 1` form)."""
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword != "ENV":
            continue
        parts = shlex.split(arguments)
        if parts and "=" not in parts[0]:
            env[parts[0]] = " ".join(parts[1:])
            continue
        env.update(part.split("=", 1) for part in parts)
    return env


def exec_form(arguments: str) -> list[str]:
    """The JSON (exec) form of a CMD/HEALTHCHECK command: a shell form would swallow signals."""
    command = json.loads(arguments)
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    return command


def test_dockerfile_base_is_a_slim_supported_python() -> None:
    """A slim official Python image, 3.11 or newer (what the pins are tested on)."""
    keyword, image = dockerfile_instructions()[0]
    match = re.fullmatch(r"python:3\.(\d+)(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image)
    assert keyword == "FROM" and match, image
    assert int(match.group(1)) >= 11


def test_dockerfile_installs_dependencies_before_the_code() -> None:
    """requirements.txt is copied and installed before any code: code edits keep the pip layer."""
    instructions = dockerfile_instructions()
    installs = [
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN"
        and re.search(
            r"\bpip\b.*\binstall\b.*(-r|--requirement)[ =]\S*requirements\.txt", arguments
        )
    ]
    code_copies = [
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword in ("COPY", "ADD") and re.search(r"\b(core|app|pages)\b", arguments)
    ]
    assert installs and code_copies, "the image installs requirements.txt and copies the code"
    assert max(installs) < min(code_copies), "dependencies install before the code is copied"


def test_dockerfile_runs_as_a_created_non_root_user() -> None:
    """The last USER is neither root nor uid 0, is created in the image, and precedes CMD."""
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users, "the container runs as a non-root user"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0")
    created = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert re.search(rf"\b(useradd|adduser)\b[^&;]*\b{re.escape(user)}\b", created), user
    assert len(keywords) - 1 - keywords[::-1].index("USER") < keywords.index("CMD")


def test_dockerfile_environment_is_quiet_and_polite() -> None:
    """No usage data sent, OpenMP threads that do not spin, no .pyc written in the image."""
    env = dockerfile_env()
    assert env.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    for name, value in NO_USAGE_REPORTING.items():
        assert env.get(name, "").lower() == value, name
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"


def test_dockerfile_healthcheck_asks_the_served_port() -> None:
    """A HEALTHCHECK in exec form probes Streamlit's health endpoint on the port it serves."""
    instructions = dockerfile_instructions()
    checks = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "CMD" in checks[0], "one health check"
    probe = exec_form(checks[0][checks[0].index("CMD") + 3 :].strip())
    port = served_port()
    assert "/_stcore/health" in " ".join(probe) and f":{port}/" in " ".join(probe)
    if probe[:2] == ["python", "-c"]:
        compile(probe[2], "HEALTHCHECK", "exec")  # the probe is valid Python


def served_port() -> str:
    """The port CMD passes to Streamlit; EXPOSE must publish it."""
    instructions = dockerfile_instructions()
    cmd = exec_form(next(arguments for keyword, arguments in instructions if keyword == "CMD"))
    port = cmd[cmd.index("--server.port") + 1]
    exposed = {
        arguments.split("/")[0] for keyword, arguments in instructions if keyword == "EXPOSE"
    }
    assert port in exposed, f"EXPOSE {port}"
    return port


def test_dockerfile_cmd_serves_the_app_on_all_interfaces() -> None:
    """CMD starts the router with `python -m streamlit run app/main.py`, bound to 0.0.0.0."""
    instructions = dockerfile_instructions()
    cmd = exec_form(next(arguments for keyword, arguments in instructions if keyword == "CMD"))
    assert cmd[cmd.index("-m") + 1 : cmd.index("-m") + 4] == ["streamlit", "run", "app/main.py"]
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert served_port().isdigit()


def test_compose_is_team_mode() -> None:
    """postgres, mlflow (PostgreSQL store, served artifacts), app, api and a one-shot trainer."""
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

    for name in ("app", "api", "trainer"):
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


def test_compose_publishes_only_the_app_the_api_and_the_mlflow_ui() -> None:
    """8501 (app), 8000 (API) and 5000 (MLflow UI) are the only published container ports."""
    published = {
        name: [str(port).rsplit(":", 1)[-1] for port in service.get("ports", [])]
        for name, service in compose()["services"].items()
    }
    assert published == {
        "postgres": [],
        "mlflow": ["5000"],
        "app": ["8501"],
        "api": ["8000"],
        "trainer": [],
        "search-worker": [],
    }


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


def _make_dry_run(target: str, **variables: str) -> str:
    """The commands `make TARGET` would run (nothing is executed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "API_HOST", "PORT")}
    done = subprocess.run(
        ["make", "--dry-run", target, *(f"{k}={v}" for k, v in variables.items())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def test_make_run_and_api_listen_on_this_machine_unless_asked() -> None:
    """In single-user mode whoever reaches the dashboard may promote: it must not listen on every
    interface by default (a new user found `make run` bound to 0.0.0.0)."""
    run = _make_dry_run("run")
    assert "--server.address 127.0.0.1" in run and "0.0.0.0" not in run
    assert "--server.address 0.0.0.0" in _make_dry_run("run", HOST="0.0.0.0")
    api = _make_dry_run("api")
    assert "--host 127.0.0.1" in api and "0.0.0.0" not in api
