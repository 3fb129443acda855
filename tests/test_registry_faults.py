"""Storage faults on real files: corrupt, locked by another real process, read-only, disk full.

Each fault is made for real on a store holding two versions, an alias and two audit entries:
bytes that are not a database, a process holding `BEGIN EXCLUSIVE`, a read-only bind mount, a
tmpfs filled to the last byte. For each one: every CLI (core.registry list/promote/rollback,
core.train) exits 2 with one `error:` line and no traceback, core.predict answers from the local
model saying which store fault sent it there, every page shows the message (AppTest), and once
the fault is removed everything works with nothing lost (every table's row count the same).

A full disk still lets the store be READ: listing, the pages and serving work from the registry
(nothing to refuse), and every WRITE (promote, rollback, train, the Models page's Confirm and the
Train page's job) fails with the disk-full message.

Mounts need root: as another user each test re-runs itself inside
`unshare --user --map-root-user --mount`, where it is root of its own mount namespace.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import artifacts
from core.config import PROJECT_ROOT, Settings
from core.registry import SQLITE_PROBE_SECONDS, MLflowTracker, StoreError
from tests.cli import run_cli
from tests.stores import StoreTemplate, embedded_settings, table_rows
from tests.tiny_models import TINY_TRAINING_ARGS, write_tiny_model

FAULTS = ("corrupt", "locked", "read_only", "disk_full")
# Faults that leave the file readable: serving still reads the registry's version from it.
READABLE_FAULTS = ("read_only", "disk_full")
# The words of each fault's one message (core.registry.errors.StoreError).
FAULT_WORDS = {
    "corrupt": ("is corrupt", "restore a backup", "doctor"),
    "locked": ("is locked by another process", "try again"),
    "read_only": ("is read-only", "permissions"),
    "disk_full": ("is on a full disk", "free some space"),
}
LOCKER = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)
TMPFS_BYTES = 8 * 1024 * 1024
UNSHARE = ("unshare", "--user", "--map-root-user", "--mount")


@dataclass(frozen=True)
class FaultyStore:
    """A store with a fault on it: `settings` see the fault, `healthy` the store behind it.

    `before`: what the store held just before the fault (see `what_the_store_holds`);
    `remove()` undoes the fault (a tmpfs stays mounted until the block ends).
    """

    kind: str
    settings: Settings
    healthy: Settings
    before: dict
    remove: Callable[[], None]


def as_root_or_rerun(request: pytest.FixtureRequest) -> bool:
    """True when this process may mount; else re-run this test as root of its own namespace.

    Returns False after the re-run passed (the caller returns); fails the test if it failed.
    """
    if os.geteuid() == 0:
        return True
    done = subprocess.run(
        [*UNSHARE, sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         request.node.nodeid],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return False


def register_version(tracker: MLflowTracker, workdir: Path, seed: int) -> int:
    """Log a tiny real model in a run of its own and register it: the new version."""
    folder = workdir / f"model-{uuid.uuid4().hex[:8]}"
    sha = write_tiny_model(folder, seed=seed)
    with tracker.run(
        f"fault-{seed}", {"model_type": "xgboost", "version_label": f"s{seed}"}
    ) as run:
        run.log_metrics({"test_accuracy": 0.9})
        run.log_model_dir(folder, sha)
        return run.register(tracker.settings.model_name)


def fill_store(settings: Settings, workdir: Path) -> None:
    """v1 then v2 promoted (two audit entries, v2 Production) and a local fallback model."""
    tracker = MLflowTracker(settings=settings)
    name = settings.model_name
    for seed in (1, 2):
        version = register_version(tracker, workdir, seed)
        tracker.promote_to_production(name, version, reason=f"release {version}", user="ana")
    local = workdir / "local"
    write_tiny_model(local, seed=9)
    artifacts.install_local_model(local, settings.models_dir, name, "0")


def fill_disk(folder: Path) -> None:
    """Write a file in `folder` until its filesystem has no byte left."""
    block = b"\0" * 65536
    with open(folder / "filler", "wb", buffering=0) as filler:
        while True:
            try:
                filler.write(block)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
                block = block[: len(block) // 2]
                if not block:
                    return


@contextlib.contextmanager
def mounted(*argv: str) -> Iterator[None]:
    """`mount argv...` for the block; lazily unmounted (the test's own clients hold the file)."""
    target = argv[-1]
    subprocess.run(["mount", *argv], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", target], check=True)


@contextlib.contextmanager
def store_with_fault(kind: str, root: Path, template: StoreTemplate) -> Iterator[FaultyStore]:
    """A filled store under root/store, then `kind` done to it for the block (or until remove)."""
    folder, models = root / "store", root / "models"
    folder.mkdir()
    with contextlib.ExitStack() as mounts, contextlib.ExitStack() as fault:
        if kind == "disk_full":
            mounts.enter_context(mounted("-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs",
                                         str(folder)))  # fmt: skip
        healthy = embedded_settings(folder, template, models_dir=models)
        fill_store(healthy, root / "work")
        before = what_the_store_holds(healthy)
        faulty = healthy
        if kind == "corrupt":
            shutil.copyfile(healthy.sqlite_path, root / "backup.db")
            healthy.sqlite_path.write_bytes(b"this is not a database\x00" * 200)
            fault.callback(shutil.copyfile, root / "backup.db", healthy.sqlite_path)
        elif kind == "locked":
            fault.enter_context(locked(healthy.sqlite_path))
        elif kind == "read_only":
            view = root / "ro"
            view.mkdir()
            fault.enter_context(mounted("--bind", str(folder), str(view)))
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
            faulty = embedded_settings(view, models_dir=models)
        elif kind == "disk_full":
            fill_disk(folder)
            fault.callback((folder / "filler").unlink)
        yield FaultyStore(kind, faulty, healthy, before, fault.close)


@contextlib.contextmanager
def locked(database: Path) -> Iterator[None]:
    """Another real process holds an exclusive transaction on `database` for the block."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(database)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        yield
    finally:
        locker.kill()
        locker.wait(timeout=10)


def assert_one_error_line(done: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, no traceback, exactly one `error: ...` line holding every word."""
    assert done.returncode == 2, (done.stdout[-800:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-2000:]
    for word in words:
        assert word in errors[0], errors[0]


def what_the_store_holds(settings: Settings) -> dict:
    """Versions, the Production holder, audit entries and every table's row count."""
    tracker = MLflowTracker(settings=settings)
    name = settings.model_name
    return {
        "versions": sorted(tracker.compare_models(name)["version"]),
        "production": tracker.current_version(name),
        "audit": len(tracker.audit_log(name)),
        "tables": table_rows(settings.sqlite_path),
    }


CLIS: dict[str, tuple[str, list[str]]] = {
    "list": ("core.registry", ["list"]),
    "promote": ("core.registry", ["promote", "1", "--reason", "during the fault"]),
    "rollback": ("core.registry", ["rollback", "--reason", "during the fault"]),
    "train": ("core.train", [*TINY_TRAINING_ARGS, "--threshold", "0"]),
    "predict": ("core.predict", ["--a", "Pikachu", "--b", "Charmander"]),
}


def run_every_cli(settings: Settings) -> dict[str, subprocess.CompletedProcess]:
    """Every CLI against the store (real processes): the writers side by side, then predict.

    Predict runs alone: its registry call has a 15 s deadline, which four CLIs importing MLflow
    at once on a loaded 2-core machine can overrun (then "did not answer in time" is the reason).
    """
    writers = {name: cli for name, cli in CLIS.items() if name != "predict"}
    with ThreadPoolExecutor(len(writers)) as pool:
        runs = {
            name: pool.submit(run_cli, module, argv, settings)
            for name, (module, argv) in writers.items()
        }
        done = {name: run.result() for name, run in runs.items()}
    module, argv = CLIS["predict"]
    return {**done, "predict": run_cli(module, argv, settings)}


def check_clis(fault: FaultyStore) -> None:
    words = FAULT_WORDS[fault.kind]
    done = run_every_cli(fault.settings)
    writes = ("promote", "rollback", "train")
    for name in writes if fault.kind == "disk_full" else ("list", *writes):
        assert_one_error_line(done[name], *words)
    answer = json.loads(done["predict"].stdout)
    assert done["predict"].returncode == 0 and "Traceback" not in done["predict"].stderr
    if fault.kind == "disk_full":  # a full disk is still readable: listing works
        assert done["list"].returncode == 0 and "Production" in done["list"].stdout
    if fault.kind in READABLE_FAULTS:
        # Still readable: serving reads the file with sqlite3 (core.registry.embedded) and the
        # registry serves; MLflow's store, which writes as it opens, is what the CLIs report.
        assert (answer["source"], answer["model_version"]) == ("registry", "2")
    else:
        assert (answer["source"], answer["fallback_kind"]) == ("local", "unavailable")
        assert answer["fallback_store_fault"] == fault.kind, answer
        assert words[0] in answer["fallback_reason"]


def check_pages(fault: FaultyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_pages import (
        _clear_streamlit_caches,
        _confirm,
        _point_env_at,
        all_text,
        open_page,
        texts,
        wait_for_training,
    )

    _point_env_at(monkeypatch, fault.settings)
    _clear_streamlit_caches()
    message = FAULT_WORDS[fault.kind][0]
    app = open_page("home")
    for page in ("home", "train", "models", "predict"):
        if page != "home":
            app.switch_page(f"../pages/{page}.py").run()
        assert not app.exception, (page, [e.value for e in app.exception])
        shown = all_text(app)
        assert "Unexpected error" not in shown, (page, shown[:2000])
        if fault.kind in READABLE_FAULTS:
            assert "Serving** v2 from the registry" in shown, page  # reading still works
        if fault.kind not in READABLE_FAULTS:
            assert message in shown, (page, shown[:2000])
            assert any(message in text for text in texts(app.warning)), page  # the sidebar
        elif fault.kind == "read_only" and page in ("home", "models"):
            assert message in shown, (page, shown[:2000])  # MLflow's store opens to write
    if fault.kind in READABLE_FAULTS:  # the writes fail, each with the message where asked
        app.switch_page("../pages/train.py").run()
        app.number_input(key="train_n_battles").set_value(2000)
        app.number_input(key="train_oracle_sample").set_value(0)
        app.button(key="train_submit").click().run()
        wait_for_training(app, 180)
        assert any(message in text for text in texts(app.error)), texts(app.error)
    if fault.kind == "disk_full":  # listing works, so the Models page offers the promotion
        app.switch_page("../pages/models.py").run()
        app.selectbox(key="models_selected_version").set_value(1).run()
        app.button(key="models_promote").click().run()
        _confirm(app, "during the fault")
        assert not app.exception
        assert any(message in text for text in texts(app.error)), texts(app.error)
    _clear_streamlit_caches()


@pytest.mark.slow
@pytest.mark.parametrize("kind", FAULTS)
def test_a_store_fault_is_one_message_everywhere_and_nothing_is_lost(
    kind: str,
    tmp_path: Path,
    store_template: StoreTemplate,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """CLIs exit 2 with one line, serving falls back, pages say it; afterwards all is there."""
    if not as_root_or_rerun(request):
        return
    with store_with_fault(kind, tmp_path, store_template) as fault:
        check_clis(fault)
        check_pages(fault, monkeypatch)
        fault.remove()
        after = what_the_store_holds(fault.healthy)
        assert after == fault.before
        assert (after["versions"], after["production"], after["audit"]) == ([1, 2], 2, 2)
        tracker = MLflowTracker(settings=fault.healthy)
        assert tracker.rollback(fault.healthy.model_name, reason="after the fault").version == 1
        assert len(tracker.audit_log(fault.healthy.model_name)) == 3
        done = run_cli("core.registry", ["list"], fault.healthy)
        assert done.returncode == 0 and "Production" in done.stdout


def test_a_locked_store_answers_within_the_bounded_wait(
    settings_factory: Callable[..., Settings],
) -> None:
    """A store locked by another process is reported in about SQLITE_PROBE_SECONDS, not 20 s."""
    settings = settings_factory(with_store=True)
    tracker = MLflowTracker(settings=settings)
    with locked(settings.sqlite_path):
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            tracker.compare_models("battle_winner_predictor")
        waited = time.monotonic() - started
        assert caught.value.kind == "locked" and "wait" in str(caught.value)
        assert waited < SQLITE_PROBE_SECONDS + 3, waited
        with pytest.raises(StoreError):
            tracker.start_run("while locked")
    # Once the lock is gone everything works, and nothing was half-written.
    assert tracker.compare_models("battle_winner_predictor").empty
    assert tracker.client.search_runs([tracker.experiment_id]) == []


def test_a_full_store_refuses_the_promotion_lock_at_once(
    tmp_path: Path, store_template: StoreTemplate, request: pytest.FixtureRequest
) -> None:
    """A full disk is not 'another promotion holds the lock': it is said at once, by kind."""
    if not as_root_or_rerun(request):
        return
    with store_with_fault("disk_full", tmp_path, store_template) as fault:
        tracker = MLflowTracker(settings=fault.settings)
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            tracker.promote_to_production(fault.settings.model_name, 1, reason="full")
        assert caught.value.kind == "disk_full"
        assert time.monotonic() - started < tracker.store.lock_timeout_seconds / 2
        assert tracker.current_version(fault.settings.model_name) == 2
