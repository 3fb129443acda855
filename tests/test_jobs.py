"""Training jobs in their own process: cancel, queue order, a crashed child, the estimate.

Real processes (multiprocessing "spawn"), real training on small seeded data, a real SQLite
MLflow store in tmp_path. Every wait polls against a deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest

from core.config import PROJECT_ROOT, Settings
from core.evaluate.metrics import FeatureRows
from core.jobs import (
    CANCEL_GRACE_SECONDS,
    JobMessageError,
    JobQueue,
    JobResult,
    TrainingJob,
    estimate_training,
    format_duration,
)
from core.jobs.messages import receive_event, send_event
from core.jobs.process import close_job_runs
from core.registry import MLflowTracker
from core.registry.lock import lock_age, promotion_lock
from core.train import TrainConfig
from tests.cli import child_env, run_cli

SMALL = {"n_battles": 3000, "oracle_sample": 100, "oracle_replays": 50}
# A fit that lasts well over the cancel budget: thousands of deep trees on 20,000 battles.
LONG_FIT = {
    "n_battles": 20_000,
    "oracle_sample": 100,
    "oracle_replays": 50,
    "params": {"n_estimators": 5000, "max_depth": 10},
}
CANCEL_BUDGET_SECONDS = 5.0


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for condition() to hold, checking every 50 ms; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def process_gone(pid: int | None) -> bool:
    """True when no process has this id (the child was reaped) or it is a zombie."""
    if pid is None:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


def run_statuses(settings: Settings) -> list[str]:
    """The status of every run in the settings' experiment."""
    tracker = MLflowTracker(settings=settings)
    runs = tracker.client.search_runs([tracker.experiment_id])
    return [run.info.status for run in runs]


def registered_versions(settings: Settings) -> int:
    """How many versions of the model the registry holds."""
    table = MLflowTracker(settings=settings).compare_models(settings.model_name)
    return len(table)


@pytest.mark.slow
def test_cancel_mid_fit_stops_the_process_and_the_next_training_succeeds(
    settings_factory: Callable[..., Settings],
) -> None:
    """Gone within 5 s, its run KILLED, nothing registered, no lock, then a training succeeds."""
    settings = settings_factory(with_store=True)
    queue = JobQueue()
    job = queue.submit(TrainingJob(TrainConfig(**LONG_FIT, version_label="long"), settings))
    poll(lambda: job.view().steps[2].state == "running", 120, "the fit step")
    time.sleep(1.0)  # well inside the fit
    pid = job.pid
    assert pid is not None and not process_gone(pid)
    assert registered_versions(settings) == 0  # the dashboard has read the store already

    started = time.monotonic()
    job.cancel()
    poll(lambda: job.finished and process_gone(pid), CANCEL_BUDGET_SECONDS, "the cancel")
    assert time.monotonic() - started <= CANCEL_BUDGET_SECONDS
    view = job.view()
    assert view.state == "cancelled" and view.finished
    assert "nothing was registered" in view.message
    assert registered_versions(settings) == 0
    # The run was opened before the work: the cancelled training shows in MLflow as KILLED.
    assert run_statuses(settings) == ["KILLED"]
    assert lock_age(MLflowTracker(settings=settings).client, settings.model_name) is None

    after = queue.submit(
        TrainingJob(TrainConfig(**SMALL, threshold=0.0, version_label="after"), settings)
    )
    assert after.wait(180)
    assert after.view().state == "done", after.view().error
    assert registered_versions(settings) == 1
    assert sorted(run_statuses(settings)) == ["FINISHED", "KILLED"]


LINGERING_CHILD = """
import signal, sys, time
from multiprocessing.connection import Connection
from core.jobs.messages import send_event

events = Connection(int(sys.argv[1]), readable=False)

def on_terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(3.0)  # a slow cleanup, then it reports and never leaves
    send_event(events, ("cancelled", "fit"))

signal.signal(signal.SIGTERM, on_terminate)
send_event(events, ("progress", "fit", 0.5, "fitting"))
while True:
    time.sleep(0.05)
"""


class _CancelledRelay:
    """The least run_process needs: asks to cancel once the child reports its fit."""

    job_id, config, settings = 0, None, None

    def __init__(self) -> None:
        self.pid: int | None = None
        self.events: list[tuple] = []
        self.asked_at: float | None = None

    @property
    def cancel_requested(self) -> bool:
        return bool(self.events)

    def on_event(self, event: tuple) -> None:
        self.events.append(event)
        if self.asked_at is None:
            self.asked_at = time.monotonic()  # the parent sends SIGTERM right after


def test_a_cancelled_child_that_reports_but_lingers_is_killed_within_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The grace counts from SIGTERM, not from the child's last word: gone within 5 s.

    A real child that answers SIGTERM 3 s late and then never exits; the parent used to wait
    another 4.5 s after its report before the SIGKILL (7.5 s in all).
    """
    import core.jobs.process as job_process

    def start_lingering_child(job: object) -> tuple[subprocess.Popen, Connection]:
        events_read, events_write = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-c", LINGERING_CHILD, str(events_write)],
            pass_fds=(events_write,),
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        os.close(events_write)
        return process, Connection(events_read, writable=False)

    monkeypatch.setattr(job_process, "_start_child", start_lingering_child)
    relay = _CancelledRelay()
    outcome = job_process.run_process(relay)
    gone_at = time.monotonic()
    assert relay.events[0][:2] == ("progress", "fit"), relay.events
    assert outcome == ("cancelled", "fit")
    assert process_gone(relay.pid)
    elapsed = gone_at - relay.asked_at
    assert CANCEL_GRACE_SECONDS <= elapsed <= CANCEL_BUDGET_SECONDS, elapsed


def test_a_run_left_open_by_a_killed_process_is_marked_killed(
    settings_factory: Callable[..., Settings],
) -> None:
    """close_job_runs ends the job's RUNNING run KILLED and leaves other runs alone."""
    settings = settings_factory(with_store=True)
    config = TrainConfig(**SMALL, version_label="orphan")
    job = TrainingJob(config, settings)
    since = int(time.time() * 1000) - 1000
    tracker = MLflowTracker(settings=settings)
    tracker.start_run("orphan", tags={"model_type": "xgboost", "version_label": "orphan"})
    orphan = tracker.run_id
    other = MLflowTracker(settings=settings)
    other.start_run("someone else", tags={"model_type": "xgboost", "version_label": "other"})

    assert close_job_runs(job, since, "KILLED") == 1
    statuses = {run.info.run_id: run.info.status for run in tracker.client.search_runs(
        [tracker.experiment_id])}  # fmt: skip
    assert statuses[orphan] == "KILLED"
    assert statuses[other.run_id] == "RUNNING"


def test_jobs_queue_in_order_with_positions_known_at_once(
    settings_factory: Callable[..., Settings],
) -> None:
    """A second session's job is position 1 at once, and starts only after the first ends."""
    settings = settings_factory()
    queue = JobQueue()
    local = {"use_mlflow": False, "export_local": False, **SMALL}
    first = queue.submit(TrainingJob(TrainConfig(**local, seed=1), settings))
    second = queue.submit(TrainingJob(TrainConfig(**local, seed=2), settings))
    assert second.view().state == "queued"
    assert second.view().position in (1, 2)  # 2 only before the worker took the first one
    poll(lambda: first.view().state == "running", 30, "the first job starting")
    assert second.view().position == 1
    while not second.finished:
        if second.view().state != "queued":
            assert first.finished, "the second job started before the first ended"
        time.sleep(0.05)
        assert first.wait(0) or not second.finished
    assert second.wait(120)
    assert first.view().state == "done" and second.view().state == "done"
    assert first.view().position is None


def test_a_queued_job_can_be_cancelled_before_it_starts(
    settings_factory: Callable[..., Settings],
) -> None:
    """Cancelling a waiting job removes it from the queue; the running one goes on."""
    settings = settings_factory()
    queue = JobQueue()
    local = {"use_mlflow": False, "export_local": False, **SMALL}
    first = queue.submit(TrainingJob(TrainConfig(**local), settings))
    waiting = queue.submit(TrainingJob(TrainConfig(**local, seed=5), settings))
    waiting.cancel()
    assert waiting.wait(5)
    assert waiting.view().state == "cancelled"
    assert first.wait(120) and first.view().state == "done"


def test_a_crashed_training_process_fails_the_job_not_the_server(
    settings_factory: Callable[..., Settings],
) -> None:
    """SIGKILL the child (as the OOM killer would): the job fails with a message, queue goes on."""
    settings = settings_factory(with_store=True)
    queue = JobQueue()
    job = queue.submit(TrainingJob(TrainConfig(**LONG_FIT, version_label="crash"), settings))
    poll(lambda: job.view().steps[2].state == "running", 120, "the fit step")
    os.kill(job.pid, signal.SIGKILL)
    assert job.wait(10)
    view = job.view()
    assert view.state == "failed"
    assert "stopped unexpectedly" in view.error and "nothing was registered" in view.error
    assert registered_versions(settings) == 0
    follow = queue.submit(
        TrainingJob(TrainConfig(**SMALL, use_mlflow=False, export_local=False), settings)
    )
    assert follow.wait(120) and follow.view().state == "done"


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ({"n_battles": 10_000}, {"n_battles": 100_000}),
        ({"params": {"n_estimators": 100}}, {"params": {"n_estimators": 5000}}),
        ({"params": {"max_depth": 3}}, {"params": {"max_depth": 12}}),
        ({}, {"use_gridsearch": True}),
        ({"oracle_sample": 0}, {"oracle_sample": 20_000}),
        ({"model_type": "xgboost"}, {"model_type": "random_forest"}),
    ],
)
def test_the_estimate_grows_with_the_work(smaller: dict, larger: dict) -> None:
    """More battles, trees, depth, a grid or a bigger oracle take longer."""
    assert (
        estimate_training(TrainConfig(**smaller)).total_seconds
        < estimate_training(TrainConfig(**larger)).total_seconds
    )


def test_the_estimate_of_a_huge_training_reads_in_minutes() -> None:
    """5,000 trees on 1M battles: tens of minutes, said in a way a person reads."""
    config = TrainConfig(n_battles=1_000_000, params={"n_estimators": 5000})
    seconds = estimate_training(config).total_seconds
    assert 10 * 60 < seconds < 3 * 3600
    assert format_duration(seconds).endswith("min")
    assert format_duration(42) == "42 s"
    assert format_duration(2 * 3600 + 300) == "2 h 5 min"


# --- the pipes speak JSON: nothing received is unpickled -------------------------------------


class Hostile:
    """Unpickling this creates `marker`: what a pickle-reading pipe would run for anyone."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pipe() -> tuple[Connection, Connection]:
    """A one-way OS pipe as (reading end, writing end) Connections, as core.jobs uses."""
    read, write = os.pipe()
    return Connection(read, writable=False), Connection(write, readable=False)


@pytest.mark.parametrize(
    "message",
    [
        "pickle",
        {"config": {"n_battles": 3000, "command": "rm -rf /"}, "settings": {}},
        {"config": {"n_battles": 3000}, "settings": {"MLFLOW_TRACKING_URI": ["not", "text"]}},
        {"config": {"n_battles": 3000}, "settings": {}, "extra": 1},
        [1, 2, 3],
    ],
    ids=["pickle", "unknown-config-field", "settings-not-text", "extra-key", "not-an-object"],
)
def test_the_training_process_refuses_a_job_that_is_not_ours(
    message: object, tmp_path: Path
) -> None:
    """A real child given a pickle or a malformed job reports 'failed' and exits 2; no code ran."""
    marker = tmp_path / "unpickled"
    job_read, job_write = os.pipe()
    events, events_write = pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "core.jobs.child", str(job_read), str(events_write.fileno())],
        pass_fds=(job_read, events_write.fileno()), cwd=PROJECT_ROOT, env=child_env(),
    )  # fmt: skip
    os.close(job_read)
    events_write.close()
    with Connection(job_write, readable=False) as request:
        if message == "pickle":
            request.send(Hostile(marker))  # multiprocessing's own pickling
        else:
            request.send_bytes(json.dumps(message).encode())
    try:
        event = receive_event(events)
        assert event[0] == "failed" and "refused its job" in event[1], event
        assert process.wait(60) == 2
    finally:
        process.kill()
        process.wait(10)
        events.close()
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        "pickle",
        b"\xff\xfe not utf-8",
        json.dumps({"kind": "exec", "code": "import os"}).encode(),
        json.dumps({"kind": "progress", "step": "fit", "fraction": "NaN", "message": ""}).encode(),
        json.dumps({"kind": "done", "result": {"model_type": "x", "params": {}, "metrics": {},
                                               "__class__": "TrainResult"}}).encode(),
        json.dumps({"kind": "done", "result": {"model_type": "x", "params": {},
                                               "metrics": {"a": "1"}}}).encode(),
    ],
    ids=["pickle", "not-utf8", "unknown-kind", "bad-fraction", "extra-field", "metric-not-number"],
)  # fmt: skip
def test_the_dashboard_refuses_an_event_that_is_not_ours(payload: object, tmp_path: Path) -> None:
    """The parent's side decodes JSON only: a pickle or a malformed event is refused, unrun."""
    marker = tmp_path / "unpickled"
    reader, writer = pipe()
    with writer:
        if payload == "pickle":
            writer.send(Hostile(marker))
        else:
            writer.send_bytes(payload)
    with reader, pytest.raises(JobMessageError, match="refused"):
        receive_event(reader)
    assert not marker.exists()


def test_events_round_trip_as_json() -> None:
    """Each of the four events comes out as it went in; a result is a typed JobResult."""
    result = JobResult("xgboost", {"n_estimators": 5}, {"test_accuracy": 0.9}, 3, True, "ok",
                       "abc", "http://ui/run", None, {"fit": 1.5})  # fmt: skip
    events = [("progress", "fit", 0.5, "fitting"), ("done", result), ("failed", "no"),
              ("cancelled", "fit")]  # fmt: skip
    reader, writer = pipe()
    with reader, writer:
        for event in events:
            send_event(writer, event)
            assert receive_event(reader) == event


@pytest.mark.slow
def test_cancel_while_promoting_waits_for_the_promotion_and_leaves_no_lock(
    settings_factory: Callable[..., Settings],
) -> None:
    """Cancel during register/promote never cuts them: the job finishes, audited, lock released.

    Another promotion holds the lock longer than the cancel's grace, so the child is still
    promoting when a plain SIGTERM-then-SIGKILL would have killed it half way.
    """
    settings = settings_factory(with_store=True)
    name = settings.model_name
    config = TrainConfig(**SMALL, threshold=0.0, version_label="publishing")
    tracker = MLflowTracker(settings=settings)
    held, release = threading.Event(), threading.Event()

    def other_promotion() -> None:
        with promotion_lock(tracker.client, name):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=other_promotion, daemon=True)
    holder.start()
    assert held.wait(30)
    queue = JobQueue()
    job = queue.submit(TrainingJob(config, settings))
    try:
        poll(lambda: job.view().steps[6].state == "running", 180, "the promote step")
        job.cancel()
        time.sleep(CANCEL_GRACE_SECONDS + 1.0)  # past the grace a mid-fit cancel gets
        assert not job.finished and not process_gone(job.pid)
    finally:
        release.set()
        holder.join(30)
    assert job.wait(60)
    view = job.view()
    assert view.state == "done", (view.message, view.error)
    assert "Cancel came while the version was being registered" in view.message
    assert lock_age(tracker.client, name) is None
    assert tracker.current_version(name) == view.result.version == 1
    last = tracker.audit_log(name).iloc[-1]
    assert (last["action"], last["to_version"], last["status"]) == ("promote", 1, "ok")
    assert run_statuses(settings) == ["FINISHED"]


# --- the jobs CLI says what it estimates and what it decided -----------------------------------


def test_the_estimate_cli_speaks_in_plain_words(settings_factory) -> None:
    done = run_cli("core.jobs", ["estimate", "--n-battles", "60000"], settings_factory())
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert re.fullmatch(
        r"estimated duration: about \d+ (s|min): start \d+ s, simulate (< 1 s|\d+ s), "
        r"fit (< 1 s|\d+ (s|min)), oracle (< 1 s|\d+ s), publish \d+ s, "
        r"champion/challenger \d+ s \(100,000 fresh battles\)",
        line,
    ), line
    assert "Estimate(" not in line and "0.2739" not in line
    manual = run_cli("core.jobs", ["estimate", "--promotion-policy", "manual"], settings_factory())
    assert manual.returncode == 0 and "champion/challenger" not in manual.stdout, manual.stdout


@pytest.mark.parametrize(
    ("fields", "settings", "compares"),
    [
        ({"promotion_policy": "beats_production"}, None, True),
        ({"promotion_policy": "threshold"}, None, False),
        ({"promotion_policy": "manual"}, None, False),
        ({"promotion_policy": "beats_production", "use_mlflow": False}, None, False),
        ({}, Settings(promotion_policy="beats_production"), True),
        ({}, Settings(promotion_policy="threshold"), False),
    ],
)
def test_the_estimate_counts_the_champion_challenger_when_the_policy_needs_it(
    fields: dict, settings: Settings | None, compares: bool
) -> None:
    """`core.jobs train --n-battles 20000` said 'about 9 s' and took 41 s: the decision's fresh
    battles (simulate + features + both models scoring) were missing from the estimate."""
    from core.jobs.estimate import compare_seconds

    estimate = estimate_training(TrainConfig(n_battles=20_000, **fields), settings)
    if compares:
        assert estimate.compare_battles == 100_000
        assert estimate.compare_seconds == pytest.approx(compare_seconds(100_000, 0.2))
        # 100,000 fresh battles cost more than simulating the 20,000 training battles.
        assert estimate.compare_seconds > estimate.data_seconds
        bigger = estimate_training(TrainConfig(n_battles=20_000, promotion_battles=400_000,
                                               **fields), settings)  # fmt: skip
        assert bigger.compare_seconds > 3 * estimate.compare_seconds
    else:
        assert estimate.compare_seconds == 0 and estimate.compare_battles == 0
    parts = (estimate.start_seconds, estimate.data_seconds, estimate.fit_seconds,
             estimate.oracle_seconds, estimate.publish_seconds, estimate.compare_seconds)  # fmt: skip
    assert estimate.total_seconds == pytest.approx(sum(parts))


def test_the_champion_challenger_estimate_is_the_cpu_the_comparison_costs() -> None:
    """The estimate's comparison part against the CPU seconds of a real comparison (fresh
    battles simulated, their features built, two real models scoring the held-out ones), both
    counted in CPU seconds so a loaded machine does not move them: within a factor of 3."""
    from core.dataset import generate_dataset
    from core.evaluate.compare import compare_models, fresh_battles
    from core.jobs.estimate import COMPARE_FIXED_SECONDS, compare_seconds
    from core.train.pipeline import make_estimator

    data = generate_dataset(3000, seed=5)
    features = FeatureRows.of(data)
    x = features.rows(np.arange(len(data)))
    models = [make_estimator("xgboost", {"n_estimators": 150, "max_depth": 6}, seed).fit(
        x, data.winner) for seed in (1, 2)]  # fmt: skip
    generate_dataset(1000, seed=6)  # the Pokédex tables are built once per process, not here
    started = time.process_time()
    fresh = fresh_battles(40_000, seed=987_654, splits=((42, 0.2),))
    compare_models(models[0], models[1], fresh)
    measured = time.process_time() - started
    # Loading Production from the store is in the fixed part; these models are in memory.
    expected = compare_seconds(40_000, 0.2) - COMPARE_FIXED_SECONDS + 0.5
    assert expected / 3 < measured < expected * 3, (measured, expected)


@pytest.mark.slow
def test_the_train_cli_prints_the_decision_after_deciding(settings_factory) -> None:
    """It used to end at 'deciding on version N' with exit 0 and no decision."""
    settings = settings_factory(with_store=True)
    argv = ["train", "--n-battles", "3000", "--oracle-sample", "100", "--oracle-replays", "50",
            "--promotion-battles", "1000"]  # fmt: skip
    done = run_cli("core.jobs", argv, settings, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Progress lines are samples of the job's message (every 0.5 s): a short "deciding on
    # version 1" may not be sampled. The decision lines must come after the last of them.
    last_progress = max(i for i, line in enumerate(lines) if line.startswith("["))
    after = lines[last_progress + 1 :]
    assert any(re.fullmatch(r"✅ Model trained: test_accuracy=0\.\d{4} \(oracle 0\.\d{4}\)", x)
               for x in after), after  # fmt: skip
    assert "✅ Registered as version 1 in Model Registry" in after
    assert "✅ Model promoted to Production" in after
    done = run_cli("core.jobs", [*argv, "--threshold", "0.999"], settings, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "✅ Registered as version 2 in Model Registry" in done.stdout
    assert "⚠️ Model registered but not promoted (accuracy < 0.999)" in done.stdout


def test_the_result_carries_the_champion_challenger_evidence(settings_factory) -> None:
    """A training promoted over Production by beats_production: the job's result (through the
    JSON pipe) keeps the comparison behind the decision, for the Train page and the CLI."""
    import multiprocessing

    from core.jobs.cli import result_lines
    from core.train import train_model
    from tests.tiny_models import TINY_TRAINING

    settings = settings_factory(with_store=True, promotion_threshold=0.0)
    first = train_model(TrainConfig(**TINY_TRAINING, seed=1), settings)
    second = train_model(
        TrainConfig(**TINY_TRAINING, seed=2, promotion_policy="beats_production"), settings
    )
    assert JobResult.of(first).promotion_evidence == ""  # nobody held Production: no comparison
    reader, writer = multiprocessing.Pipe(duplex=False)
    send_event(writer, ("done", JobResult.of(second)))
    kind, received = receive_event(reader)
    assert kind == "done"
    assert received.promotion_evidence.startswith(f"v{second.version} vs Production v1: accuracy ")
    battles = second.publication.promotion.evidence.battles
    assert f" on {battles:,} fresh battles, McNemar p = " in received.promotion_evidence
    assert received.promotion_evidence.endswith(")")  # the verdict
    assert f"📊 {received.promotion_evidence}" in result_lines(received)
