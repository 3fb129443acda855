"""Storage faults on real files: corrupt, locked by another real process, read-only (bind mount).

Each becomes a StoreError (a RegistryError) whose `kind` says what happened and whose message
names the store and what to do; `python -m core.registry` exits 2 with one `error:` line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT, Settings
from core.registry import SQLITE_PROBE_SECONDS, MLflowTracker, StoreError

LOCKER = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)


def settings_in(folder: Path) -> Settings:
    """An embedded store in `folder`, with an experiment name of this test's own."""
    return Settings(
        tracking_uri=f"sqlite:///{folder}/mlflow.db",
        artifacts_dir=folder / "art",
        experiment_name=f"exp_{uuid.uuid4().hex[:8]}",
    )


def run_cli(settings: Settings, *argv: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PREDICTIONDEX_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    return subprocess.run(
        [sys.executable, "-m", "core.registry", *argv],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def assert_one_error_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0]


def test_a_corrupt_store_says_restore_or_doctor(tmp_path):
    settings = settings_in(tmp_path)
    settings.sqlite_path.write_bytes(b"this is not a database\x00" * 200)
    with pytest.raises(StoreError) as caught:
        MLflowTracker(settings=settings)
    assert caught.value.kind == "corrupt"
    assert str(tmp_path) in str(caught.value) and "doctor" in str(caught.value)
    assert_one_error_line(run_cli(settings, "list"), "corrupt", "restore a backup")


def test_a_locked_store_answers_within_the_bounded_wait(tmp_path):
    settings = settings_in(tmp_path)
    tracker = MLflowTracker(settings=settings)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(settings.sqlite_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            tracker.compare_models("battle_winner_predictor")
        waited = time.monotonic() - started
        assert caught.value.kind == "locked" and "wait" in str(caught.value)
        assert waited < SQLITE_PROBE_SECONDS + 3, waited
        with pytest.raises(StoreError):
            tracker.start_run("while locked")
        assert_one_error_line(run_cli(settings, "list"), "locked", "try again")
    finally:
        os.kill(locker.pid, 9)
        locker.wait(timeout=10)
    # Once the lock is gone everything works, and nothing was half-written.
    assert tracker.compare_models("battle_winner_predictor").empty
    assert tracker.client.search_runs([tracker.experiment_id]) == []
    assert run_cli(settings, "list").returncode == 0


def test_a_read_only_store_says_fix_permissions(tmp_path):
    """Tests run as root, for whom chmod 0444 stops nothing: the store is on a read-only bind."""
    source, mounted = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    mounted.mkdir()
    MLflowTracker(settings=settings_in(source))
    (source / "art").mkdir(exist_ok=True)
    os.chmod(source / "mlflow.db", 0o444)
    subprocess.run(["mount", "--bind", str(source), str(mounted)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], check=True)
        settings = settings_in(mounted)
        with pytest.raises(StoreError) as caught:
            MLflowTracker(settings=settings)
        assert caught.value.kind == "read_only" and "permissions" in str(caught.value)
        assert_one_error_line(run_cli(settings, "list"), "read-only", "permissions")
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
    os.chmod(source / "mlflow.db", 0o644)
    assert MLflowTracker(settings=settings_in(source)).current_version("nothing_here") is None
