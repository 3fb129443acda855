"""Configuration that keeps people out: Streamlit's cross-site protections stay on and errors reach
the browser without details; the pinned requirements carry no release with a known advisory.

Role checks (a viewer replaying a promotion or rollback) are the dashboard's own test:
tests/test_pages.py.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib

import pytest
from packaging.version import Version

from core.config import PROJECT_ROOT
from tests.cli import run_python

pytestmark = pytest.mark.reliability

STREAMLIT_CONFIG = PROJECT_ROOT / ".streamlit" / "config.toml"
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
# Files that start the app and could override config.toml with flags or STREAMLIT_* variables.
LAUNCHERS = ("Makefile", "Dockerfile", "docker-compose.yml", ".env.example")
PROTECTIONS = {
    "server.enableXsrfProtection": True,
    "server.enableCORS": True,
    "client.showErrorDetails": "none",
}
# The floors issue 7 sets, and the advisories behind them (RELIABILITY.md lists them too):
# (package, advisory, first fixed release).
FLOORS = {"mlflow": "3.11.0", "streamlit": "1.54.0", "skops": "0.13.0"}
ADVISORIES = [
    ("mlflow", "CVE-2026-4137 (world-writable temp dirs -> tampered model -> code execution)",
     "3.11.0"),
    ("mlflow", "CVE-2026-2651 (--serve-artifacts multipart upload without authorisation)",
     "3.11.0"),
    ("mlflow", "CVE-2023-1177 / GHSA-xg73-94fp-g449 (file read/write via the server)", "2.2.1"),
    ("streamlit", "CVE-2026-33682 / GHSA-7p48-42j8-8846 (SSRF, NTLM leak on Windows)", "1.54.0"),
    ("streamlit", "CVE-2022-35918 (directory traversal in custom components)", "1.11.1"),
    ("skops", "CVE-2025-54886 (Card.get_model falls back to joblib: code execution)", "0.13.0"),
]  # fmt: skip
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s;#]*)$")


def pinned_requirements() -> dict[str, str]:
    """name -> exact version for every requirement line (comments and blanks skipped)."""
    pins = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"requirements.txt: {line!r} is not an exact pin (name==version)"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_streamlit_config_keeps_protections_on(counts):
    config = tomllib.loads(STREAMLIT_CONFIG.read_text(encoding="utf-8"))
    for dotted, wanted in PROTECTIONS.items():
        section, option = dotted.split(".")
        assert config.get(section, {}).get(option) == wanted, f"{dotted} must be {wanted!r}"
    counts(options_checked=len(PROTECTIONS))


def test_streamlit_itself_reads_the_protections_from_the_project():
    """What Streamlit actually uses when started from the project root (no flag, no env var)."""
    code = (
        "import json; from streamlit import config; config.get_config_options(force_reparse=True);"
        f"print(json.dumps({{k: config.get_option(k) for k in {list(PROTECTIONS)!r}}}))"
    )
    done = run_python(["-c", code])  # child_env: no STREAMLIT_* variable of the shell
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == PROTECTIONS


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_no_launcher_turns_the_protections_off(launcher):
    path = PROJECT_ROOT / launcher
    if not path.is_file():
        pytest.fail(f"{launcher} is gone: update LAUNCHERS")
    text = path.read_text(encoding="utf-8")
    weakening = re.compile(
        r"(enableXsrfProtection|enableCORS|ENABLE_XSRF_PROTECTION|ENABLE_CORS)\W+(false|0|no)\b"
        r"|(showErrorDetails|SHOW_ERROR_DETAILS)\W+(true|1|full|stacktrace|type)\b",
        re.IGNORECASE,
    )
    assert not weakening.search(text), f"{launcher}: {weakening.search(text).group(0)}"


def test_requirements_have_no_release_with_a_known_advisory(counts):
    pins = pinned_requirements()
    for package, floor in FLOORS.items():
        assert package in pins, f"{package} is not pinned in requirements.txt"
        assert Version(pins[package]) >= Version(floor), f"{package}=={pins[package]} < {floor}"
    for package, advisory, fixed in ADVISORIES:
        assert Version(pins[package]) >= Version(fixed), f"{package}=={pins[package]}: {advisory}"
    # The environment the tests ran in is the pinned one (not an older, vulnerable install).
    for package in FLOORS:
        assert importlib.metadata.version(package) == pins[package], package
    counts(
        pins_checked=len(pins),
        advisories_checked=len(ADVISORIES),
        **{package: pins[package] for package in FLOORS},
    )
