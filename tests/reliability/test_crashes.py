"""Crashes: kill -9 a training while it logs or registers and a promotion midway, then check.

Afterwards Production still points to a complete, loadable version; every registered version
loads (its artifacts are whole and match their hash) or doctor flags it; `python -m core.registry
doctor` lists what a crash left behind (a run with a model but no version, an alias the audit
trail did not record, versions whose artifacts are missing or fail their hash) and exits non-zero
when it finds anything, 0 on a clean store; and a promotion left holding the lock by a crash is
followed by a successful one as soon as the lock is stale (LOCK_STALE_SECONDS, configurable per
tracker, short here so the test does not wait 30 s).

The killed processes are forked children of warm worker processes (a real process, a real
SIGKILL mid-call) so that each crash does not pay for importing MLflow again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core import artifacts
from core.artifacts import UntrustedModelError
from core.registry import (
    LOCK_STALE_SECONDS,
    LOCK_SUFFIX,
    MLflowTracker,
    RegistryError,
    load_model_from_registry,
)
from core.train import TrainConfig, train_model
from tests.reliability.harness import (
    TINY_TRAINING,
    Worker,
    WorkerError,
    kill_pid,
    release_together,
    run_cli,
    sqlite_settings,
    workers,
    zygote,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

STALE_SECONDS = 2.0  # the stale-lock window used here (LOCK_STALE_SECONDS is 30 by default)
ORPHAN = "has a model but no registered version"

# (where the training dies, stall point, new versions it leaves, does Production move)
TRAINING_KILL_POINTS = [
    ("before logging", {"step": "log"}, 0),
    ("model half uploaded", {"call": "log_artifact", "after": 3}, 0),
    ("model uploaded, not registered", {"step": "register"}, 0),
    ("creating the version", {"call": "create_model_version", "before": True}, 0),
    ("version created, run unfinished", {"call": "create_model_version"}, 1),
]
PROMOTION_KILL_POINTS = [
    ("auto-promotion holding the lock", {"call": "create_registered_model", "match": LOCK_SUFFIX}),
    ("auto-promotion: alias moved, not audited", {"call": "set_registered_model_alias"}),
]
# Kill moments as fractions of the measured time from "logging begins" to "run finished".
RANDOM_KILL_FRACTIONS = (0.05, 0.25, 0.5, 0.7, 0.85, 0.95)
LOCK_RACE_ROUNDS = 3


def versions_of(tracker: MLflowTracker, name: str) -> list[int]:
    """Registered version numbers, ascending."""
    return sorted(int(v) for v in tracker.compare_models(name)["version"])


def check_after_crash(tracker: MLflowTracker, settings, label: str) -> list[str]:
    """Production loads, every version loads; returns doctor's problems (never a broken version)."""
    name = settings.model_name
    bundle, info = load_model_from_registry(name, settings=settings)
    assert bundle.feature_columns, label
    for version in versions_of(tracker, name):
        load_model_from_registry(name, version=version, settings=settings)
    problems = tracker.doctor(name)
    for problem in problems:
        # A training killed before its export leaves models/ on an older version: doctor says
        # so (the fallback follows Production), and that is what a crash may leave, too.
        stale_fallback = problem.startswith("the local fallback holds ")
        assert (
            ORPHAN in problem or "audit trail" in problem or "promotion lock" in problem
            or stale_fallback
        ), f"{label}: {problem}"  # fmt: skip
    return problems


def artifact_dir(tracker: MLflowTracker, name: str, version: int) -> Path:
    """The local folder behind an embedded store's version source."""
    source = tracker.client.get_model_version(name, str(version)).source
    return Path(urlparse(source).path)


@pytest.fixture(scope="module")
def parent(tmp_path_factory) -> Iterator[Worker]:
    """The warm worker whose forked children this module kills (it never opens a real store)."""
    with zygote(tmp_path_factory.mktemp("zygote")) as worker:
        yield worker


@pytest.fixture
def store(tmp_path, store_template):
    """An embedded store whose v1 holds Production; every training clears the threshold."""
    settings = sqlite_settings(
        tmp_path, store_template, promotion_threshold=0.0, promotion_policy="threshold"
    )  # the seed's rule: every training reaches the promotion this test kills
    result = train_model(TrainConfig(seed=0, **TINY_TRAINING), settings)
    assert result.version == 1 and result.promoted
    return settings


def test_kill_training_and_promotion_at_each_step(store, parent, counts):
    settings, name = store, store.model_name
    tracker = MLflowTracker(settings=settings, lock_stale_seconds=STALE_SECONDS)
    job = {"op": "train", "settings": settings.to_env(), "config": TINY_TRAINING}
    orphans = 0
    recovery_seconds = []
    for seed, (label, stall, new_versions) in enumerate(TRAINING_KILL_POINTS, start=1):
        before = versions_of(tracker, name)
        production = tracker.current_version(name)
        pid = parent.fork({**job, "seeds": [seed], "stall": stall})
        parent.wait_stalled()
        kill_pid(pid)
        after = versions_of(tracker, name)
        assert len(after) == len(before) + new_versions, label
        assert tracker.current_version(name) == production, label
        problems = check_after_crash(tracker, settings, label)
        orphans = sum(ORPHAN in problem for problem in problems)

    for seed, (label, stall) in enumerate(PROMOTION_KILL_POINTS, start=10):
        production = tracker.current_version(name)
        audit_size = len(tracker.audit_log(name))
        pid = parent.fork({**job, "seeds": [seed], "stall": stall})
        parent.wait_stalled()
        kill_pid(pid)
        killed_at = time.monotonic()
        new_version = versions_of(tracker, name)[-1]
        holder = tracker.current_version(name)
        if "alias moved" in label:
            assert holder == new_version  # the alias moved before the crash: a whole version
            assert any("audit trail" in p for p in check_after_crash(tracker, settings, label))
        else:
            assert holder == production
            check_after_crash(tracker, settings, label)
        # While the dead promoter's lock is fresh: a clear refusal, nothing changed.
        target = 1 if holder != 1 else new_version
        impatient = MLflowTracker(settings=settings, lock_timeout_seconds=0.3)
        with pytest.raises(RegistryError, match="in progress.*expires after"):
            impatient.promote_to_production(name, target, expected_current=holder)
        assert tracker.current_version(name) == holder
        assert len(tracker.audit_log(name)) == audit_size
        # As soon as it is stale, the next promotion breaks it and succeeds.
        result = tracker.promote_to_production(name, target, expected_current=holder)
        recovery_seconds.append(round(time.monotonic() - killed_at, 2))
        assert result.changed and tracker.current_version(name) == target
        assert recovery_seconds[-1] < STALE_SECONDS + 10
        assert not tracker.client.search_registered_models(f"name='{name}{LOCK_SUFFIX}'")
        problems = check_after_crash(tracker, settings, label)
        assert not any("audit trail" in p or "promotion lock" in p for p in problems)

    # What the crashes left is listed by the CLI, which exits non-zero.
    problems = tracker.doctor(name)
    assert orphans == 2 and sum(ORPHAN in p for p in problems) == orphans, problems
    done = run_cli("core.registry", ["doctor"], env=settings.to_env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count(ORPHAN) == orphans
    # The store keeps working: the next training gets the next number, no gap, no duplicate.
    last = versions_of(tracker, name)
    result = train_model(TrainConfig(seed=99, **TINY_TRAINING), settings)
    assert result.version == last[-1] + 1 and versions_of(tracker, name) == list(
        range(1, result.version + 1)
    )
    counts(
        kills=len(TRAINING_KILL_POINTS) + len(PROMOTION_KILL_POINTS),
        training_kill_points=len(TRAINING_KILL_POINTS),
        promotion_kill_points=len(PROMOTION_KILL_POINTS),
        broken_versions=0,
        orphan_runs_flagged=orphans,
        versions=result.version,
        recovery_seconds=recovery_seconds,
        stale_window_seconds=STALE_SECONDS,
    )


def test_kill_training_at_random_moments(parent, tmp_path, counts):
    """Kill trainings at spread-out moments between "logging begins" and "run finished"."""
    settings = sqlite_settings(tmp_path, promotion_threshold=1.0)  # no promotion: log/register
    train_model(TrainConfig(seed=0, **TINY_TRAINING), settings)
    tracker = MLflowTracker(settings=settings)
    tracker.promote_to_production(settings.model_name, 1)
    job = {"op": "train", "settings": settings.to_env(), "config": TINY_TRAINING}
    signal_at_log = {"step": "log", "keep_going": True}
    killed = finished = 0
    # One undisturbed run measures the window from "logging begins" to "run finished".
    parent.fork({**job, "seeds": [1], "stall": signal_at_log})
    began = parent.wait_stalled()["time"]
    window = parent.receive(timeout=120)["finished"] - began
    for seed, fraction in enumerate(RANDOM_KILL_FRACTIONS, start=2):
        pid = parent.fork({**job, "seeds": [seed], "stall": signal_at_log})
        began = parent.wait_stalled()["time"]
        time.sleep(max(0.0, began + fraction * window - time.time()))
        kill_pid(pid)
        try:  # did it finish before the kill? (its answer is then already there)
            finished += bool(parent.receive(timeout=0.3).get("child"))
        except WorkerError:  # nothing came: it was killed midway
            killed += 1
        check_after_crash(tracker, settings, f"killed at {fraction:.0%} of the window")
        assert tracker.current_version(settings.model_name) == 1
    versions = versions_of(tracker, settings.model_name)
    assert versions == list(range(1, len(versions) + 1))
    counts(
        kills=len(RANDOM_KILL_FRACTIONS),
        killed_midway=killed,
        finished_before_kill=finished,
        window_seconds=round(window, 2),
        versions=len(versions),
        orphan_runs_flagged=sum(ORPHAN in p for p in tracker.doctor(settings.model_name)),
        broken_versions=0,
    )


def test_racing_promoters_after_a_crashed_promotion(store, parent, counts):
    """A promoter dies holding the lock; 4 promoters then race: exactly one wins, once stale."""
    settings, name = store, store.model_name
    for seed in (1, 2, 3, 4):
        train_model(TrainConfig(seed=seed, threshold=1.0, **TINY_TRAINING), settings)
    tracker = MLflowTracker(settings=settings)
    data = settings.to_env()
    lock = {"lock_stale_seconds": STALE_SECONDS, "lock_timeout_seconds": 30.0}
    wins = conflicts = successes = 0
    waits = []
    with workers(4, prefix="racer") as racers:
        for _ in range(LOCK_RACE_ROUNDS):
            current = tracker.current_version(name)
            others = [v for v in range(1, 6) if v != current]
            pid = parent.fork(
                {
                    "op": "promote",
                    "settings": data,
                    "model_name": name,
                    "version": others[0],
                    "expected": current,
                    "stall": {"call": "create_registered_model", "match": LOCK_SUFFIX},
                }
            )
            parent.wait_stalled()
            kill_pid(pid)
            killed_at = time.time()
            replies = release_together(
                racers,
                [
                    {
                        "op": "promote",
                        "settings": data,
                        "model_name": name,
                        "version": version,
                        "expected": current,
                        "lock": lock,
                    }  # fmt: skip
                    for version in others
                ],
            )
            ok = [reply for reply in replies if reply["ok"]]
            successes += len(ok)
            assert len(ok) == 1, replies
            winner = ok[0]["value"]["version"]
            assert tracker.current_version(name) == winner
            for reply in replies:
                if not reply["ok"]:
                    assert reply["kind"] == "PromotionConflict", reply
                    assert f"Production is now v{winner}" in reply["error"]
            wins += 1
            conflicts += len(replies) - 1
            waits.append(round(max(reply["finished"] for reply in replies) - killed_at, 2))
            # The registry is consistent; models/ still holds the version exported before the
            # races (library promotions do not export), which doctor names, and nothing else.
            problems = tracker.doctor(name)
            assert all(p.startswith("the local fallback holds ") for p in problems), problems
            assert all(f"while Production is v{winner}" in p for p in problems), problems
    counts(
        rounds=LOCK_RACE_ROUNDS,
        promoters=len(racers),
        wins=wins,
        conflicts=conflicts,
        silent_overwrites=successes - LOCK_RACE_ROUNDS,
        seconds_from_kill_to_all_answered=waits,
    )


def test_doctor_on_a_clean_store_and_on_planted_problems(tmp_path, store_template, counts):
    settings = sqlite_settings(
        tmp_path, store_template, promotion_threshold=0.0, promotion_policy="threshold"
    )  # the seed's rule: every training reaches the promotion this test kills
    for seed in range(4):
        train_model(TrainConfig(seed=seed, **TINY_TRAINING), settings)
    tracker = MLflowTracker(settings=settings)
    name, env = settings.model_name, settings.to_env()
    done = run_cli("core.registry", ["doctor"], env=env)
    assert done.returncode == 0 and "no inconsistencies found" in done.stdout, done.stderr

    # 1. a version whose model file is gone
    (artifact_dir(tracker, name, 1) / "model.ubj").unlink()
    # 2. a version whose model file fails its hash
    model_file = artifact_dir(tracker, name, 2) / "model.ubj"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    # 3. a run with a complete model but no registered version (a training killed before it)
    bundle = load_model_from_registry(name, version=3, settings=settings)[0]
    folder = tmp_path / f"orphan-{uuid.uuid4().hex[:6]}"
    sha = artifacts.write_model_dir(
        bundle.estimator, "xgboost", {"feature_columns": bundle.feature_columns}, folder
    )
    orphan = tracker.start_run("orphan")
    tracker.log_model_dir(folder, sha)
    tracker.end_run("KILLED")
    # 4. the alias moved behind PredictionDex's back (no audit entry)
    tracker.client.set_registered_model_alias(name, "production", "3")
    # 5. a lock left by a crashed promotion (reported once older than the stale window)
    tracker.client.create_registered_model(f"{name}{LOCK_SUFFIX}", tags={"owner": "crashed"})
    time.sleep(0.2)

    expected = {
        "missing": f"{name} v1: ",
        "hash": f"{name} v2: ",
        "orphan": f"run {orphan}",
        "alias": "audit trail",
        "lock": "promotion lock",
    }
    problems = MLflowTracker(settings=settings, lock_stale_seconds=0.1).doctor(name)
    for what, needle in expected.items():
        assert sum(needle in problem for problem in problems) == 1, (what, problems)
    assert any("missing" in p or "unreadable" in p for p in problems if p.startswith(f"{name} v1"))
    with pytest.raises((UntrustedModelError, RegistryError)):
        load_model_from_registry(name, version=1, settings=settings)
    with pytest.raises(UntrustedModelError, match="untrusted model"):
        load_model_from_registry(name, version=2, settings=settings)

    done = run_cli("core.registry", ["doctor"], env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    listed = [line for line in done.stdout.splitlines() if line.startswith("problem: ")]
    for what in ("missing", "hash", "orphan", "alias"):
        assert sum(expected[what] in line for line in listed) == 1, (what, done.stdout)
    assert LOCK_STALE_SECONDS == 30.0  # the CLI's window: this young lock is not reported there
    counts(
        clean_store_exit_code=0,
        planted_problems=len(expected),
        listed_by_api=len(problems),
        listed_by_cli=len(listed),
        cli_exit_code=done.returncode,
    )
