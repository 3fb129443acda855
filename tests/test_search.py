"""core.search on real storages: worker processes sharing a SQLite study, kill -9, resume, bad input.

Every test runs the real CLI (`python -m core.search`) as a process, on a tiny seeded dataset,
against a real SQLite MLflow store in tmp_path (copied from the session's template).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT, Settings
from core.search import SearchConfig, SearchError, check_study_name, max_workers
from core.search.data import cache_key, load_search_data
from core.search.study import default_params
from tests.cli import child_env, run_cli

# The threshold rule: beats_production's champion/challenger (core/train/policy.py, tested there)
# would add 100,000 fresh battles to every registration after the first.
SMALL = ["--n-battles", "2500", "--oracle-sample", "100", "--oracle-replays", "50",
         "--promotion-policy", "threshold"]  # fmt: skip
DEADLINE_SECONDS = 240.0
SEARCH_TIMEOUT_SECONDS = 900.0  # a whole search CLI run on a loaded 2-core machine


def optuna_storage(root: Path) -> str:
    return f"sqlite:///{root / 'optuna.db'}"


def load_trials(url: str, study: str) -> list:
    import optuna

    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def mlflow_client(settings: Settings):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def child_runs(settings: Settings, parent_id: str) -> list:
    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]


def search_json(completed: subprocess.CompletedProcess) -> dict:
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- bad input: one error line, exit 2, nothing created ----------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--trials", "0"], "trials"),
        (["--workers", "0"], f"workers=0 is outside 1..{max_workers()}"),
        (
            ["--workers", str(max_workers() + 1)],
            f"is outside 1..{max_workers()} (this machine's cores",
        ),
        (["--storage", "postgresql+psycopg2://u:pw@127.0.0.1:9/nowhere"], "cannot be reached"),
        (["--storage", "redis://127.0.0.1:6379"], "not a database URL"),
        (["--study", "../etc/passwd"], "not allowed"),
        (["--study", "x'; DROP TABLE studies; --"], "not allowed"),
        (["--study", "a/b"], "not allowed"),
        (["--n-battles", "5"], "n_battles"),
    ],
)
def test_bad_input_is_one_error_line_and_creates_nothing(tmp_path, settings_factory, argv, says):
    settings = settings_factory()
    completed = run_cli("core.search", argv, settings, timeout=60)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), completed.stderr
    assert says in lines[0] and "inf]" not in lines[0]
    assert completed.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no study, no store, no cache


def test_worker_refuses_an_unknown_study(tmp_path, settings_factory):
    settings = settings_factory()
    url = optuna_storage(tmp_path)
    completed = run_cli("core.search", ["worker", "--study", "nope", "--storage", url], settings)
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: No study 'nope'"), completed.stderr


@pytest.mark.parametrize("name", ["a", "study-1", "Team_2026", "x" * 64])
def test_safe_study_names_pass(name):
    assert check_study_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "x" * 65, "a.b", "a b", "é", "a;b", "a%b"])
def test_unsafe_study_names_are_refused(name):
    with pytest.raises(SearchError):
        SearchConfig(study=name)


def test_the_dataset_is_built_once_and_read_from_its_hash(tmp_path):
    first = load_search_data(600, 3, tmp_path)
    second = load_search_data(600, 3, tmp_path)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert first.key == second.key == cache_key(600, 3) != cache_key(600, 4)
    assert first.data_hash == second.data_hash
    assert first.fit_x.equals(second.fit_x) and (first.valid_y == second.valid_y).all()
    assert len(first.fit_x) > len(first.valid_x) > 0
    assert [p.name for p in tmp_path.glob("*.parquet")] == [f"search-{first.key}.parquet"]


# --- real studies -------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_then_resume_by_name(tmp_path, settings_factory):
    settings = settings_factory(with_store=True)
    url = optuna_storage(tmp_path)
    argv = ["--study", "shared", "--workers", "2", "--storage", url, *SMALL]
    first = search_json(
        run_cli("core.search", ["--trials", "6", *argv], settings, timeout=SEARCH_TIMEOUT_SECONDS)
    )

    trials = load_trials(url, "shared")
    assert sorted(t.number for t in trials) == list(range(6))
    assert first["trials_complete"] + first["trials_pruned"] == 6
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers ran trials
    children = child_runs(settings, first["parent_run_id"])
    by_trial = {r.data.tags["optuna.trial"]: r for r in children if "optuna.trial" in r.data.tags}
    assert sorted(by_trial, key=int) == [str(n) for n in range(6)]
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == {
        r.info.run_id for r in by_trial.values()
    }
    client = mlflow_client(settings)
    versions = client.search_model_versions(f"name='{settings.model_name}'")
    assert [int(v.version) for v in versions] == [first["registered_version"]] == [1]
    parent = client.get_run(first["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_value"] == pytest.approx(first["best_value"])
    artifacts = {f.path for f in client.list_artifacts(parent.info.run_id, "search")}
    assert "search/optimization_history.html" in artifacts

    second = search_json(
        run_cli("core.search", ["--trials", "2", *argv], settings, timeout=SEARCH_TIMEOUT_SECONDS)
    )
    assert second["parent_run_id"] == first["parent_run_id"]
    numbers = sorted(t.number for t in load_trials(url, "shared"))
    assert numbers == list(range(8))
    versions = client.search_model_versions(f"name='{settings.model_name}'")
    if second["best_value"] == first["best_value"]:  # same best trial: not registered again
        assert second["registered_version"] is None and second["best_version"] == 1
        assert second["promotion"].startswith("nothing registered this time") and len(versions) == 1
    else:
        assert second["registered_version"] == 2 and len(versions) == 2


# Each process opens the storage as a worker does, then asks for a trial at the instant it is given
# (ask() is how Study.optimize takes the next trial: the enqueued one first).
_ASK_ONCE = """
import sys, time, warnings, optuna
from core.config import Settings
from core.search.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore")  # heartbeats are meant for optimize(); ask() is what it calls
study = optuna.load_study(study_name="race", storage=open_storage(sys.argv[1], Settings.from_env()))
print("ready", flush=True)
start_at = float(sys.stdin.readline())
while time.time() < start_at:
    pass
trial = study.ask()
print(trial.number, flush=True)
"""


@pytest.mark.slow
def test_workers_asking_together_never_get_the_same_trial(tmp_path, settings_factory):
    """SQLite: the enqueued trial went to every worker that asked at once (4 rounds in 5 with 3
    workers before transactions began IMMEDIATE), so trial 0 ran twice, with two child runs."""
    import optuna

    from core.search.storage import open_storage

    settings = settings_factory()
    for attempt in range(2):
        (tmp_path / str(attempt)).mkdir()
        url = optuna_storage(tmp_path / str(attempt))
        study = optuna.create_study(study_name="race", storage=open_storage(url, settings))
        study.enqueue_trial({"x": 1})
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _ASK_ONCE, url],
                cwd=PROJECT_ROOT,
                env=child_env(settings),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        try:
            for worker in workers:
                assert worker.stdout.readline().strip() == "ready", worker.stderr.read()[-2000:]
            start_at = f"{time.time() + 0.5}\n"  # the same instant for all three
            for worker in workers:
                worker.stdin.write(start_at)
                worker.stdin.flush()
            outputs = [worker.communicate(timeout=120) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        assert [worker.returncode for worker in workers] == [0, 0, 0], [e for _, e in outputs]
        numbers = sorted(int(out) for out, _ in outputs)
        assert numbers == [0, 1, 2], f"round {attempt}: trials given to the workers {numbers}"


@pytest.mark.slow
def test_a_new_study_runs_the_default_hyperparameters_first(tmp_path, settings_factory):
    """With few trials TPE could register something worse than core.train's defaults."""
    settings = settings_factory(with_store=True)
    url = optuna_storage(tmp_path)
    argv = ["--study", "defaults", "--storage", url, *SMALL]
    first = search_json(
        run_cli("core.search", ["--trials", "1", *argv], settings, timeout=SEARCH_TIMEOUT_SECONDS)
    )
    defaults = default_params("xgboost")
    trials = load_trials(url, "defaults")
    # The defaults are one of the --trials asked for, and run even when only one is asked for.
    assert [(t.params, t.state.name) for t in trials] == [(defaults, "COMPLETE")]
    assert first["trials_complete"] == 1 and first["registered_version"] is not None
    assert first["best_value"] == pytest.approx(trials[0].value)
    second = search_json(
        run_cli("core.search", ["--trials", "2", *argv], settings, timeout=SEARCH_TIMEOUT_SECONDS)
    )
    trials = sorted(load_trials(url, "defaults"), key=lambda t: t.number)
    assert len(trials) == 3 and [t.params == defaults for t in trials].count(True) == 1
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert second["best_value"] <= trials[0].value  # log loss: never worse than the defaults


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_its_trial_fail_and_the_study_finishes(
    tmp_path, settings_factory
):
    settings = settings_factory(with_store=True)
    url = optuna_storage(tmp_path)
    argv = ["--study", "crash", "--workers", "2", "--trials", "6", "--storage", url, *SMALL]
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "core.search", *argv], cwd=PROJECT_ROOT, env=child_env(settings),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        victim = _running_trial_worker(url, "crash", coordinator)
        os.kill(victim, signal.SIGKILL)
        out, err = coordinator.communicate(timeout=SEARCH_TIMEOUT_SECONDS)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    result = search_json(subprocess.CompletedProcess([], coordinator.returncode, out, err))
    trials = load_trials(url, "crash")
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].user_attrs["worker"].endswith(f":{victim}")
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert result["trials_complete"] + result["trials_pruned"] == 6
    assert result["trials_failed"] == 1 and result["registered_version"] == 1
    assert not [t for t in trials if t.state.name == "RUNNING"]
    dead_run = mlflow_client(settings).get_run(failed[0].user_attrs["mlflow_run_id"])
    assert dead_run.info.status == "FAILED"


def _running_trial_worker(url: str, study: str, coordinator: subprocess.Popen) -> int:
    """The PID of a worker that is in the middle of a trial (polled to a deadline)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert coordinator.poll() is None, coordinator.communicate()[1][-2000:]
        try:
            for trial in load_trials(url, study):
                worker = trial.user_attrs.get("worker", "")
                if trial.state.name == "RUNNING" and worker:
                    return int(worker.rsplit(":", 1)[1])
        except (KeyError, sqlite3.OperationalError, Exception):  # noqa: BLE001 - not created yet
            pass
        time.sleep(0.2)
    raise AssertionError("no trial started before the deadline")


# --- the Train page's search mode (AppTest) -----------------------------------------------------

MAIN = PROJECT_ROOT / "app" / "main.py"


@pytest.mark.slow
def test_search_mode_starts_shows_live_trials_and_cancels(settings_factory, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    settings = settings_factory(with_store=True)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(MAIN), default_timeout=60).run()
    app.switch_page("../pages/train.py").run()
    app.radio(key="train_mode").set_value("search").run()
    assert not app.exception, [e.value for e in app.exception]
    app.number_input(key="search_trials").set_value(200)
    app.number_input(key="search_n_battles").set_value(2000)
    app.text_input(key="search_study").set_value("from-the-page")
    app.button(key="search_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job = app.session_state["search_job"]
    try:
        table = _wait_for_live_rows(app, job)
    finally:
        cancel = [button for button in app.button if button.key == "search_cancel"]
        if cancel and not job.finished:
            cancel[0].click().run()  # Cancel, as a person would
        job.cancel()  # a no-op after the click; stops the job if the test failed before it
    assert cancel, "the running search shows no Cancel button"
    assert {"trial", "state", "value"} <= set(table.columns)
    assert not app.exception, [e.value for e in app.exception]
    assert job.wait(60), "the search did not stop within 60 s of Cancel"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    view = job.view()
    assert view.state == "cancelled", (view.state, view.error)
    assert not [
        t for t in load_trials(view.storage_url, "from-the-page") if t.state.name == "RUNNING"
    ]
    versions = mlflow_client(settings).search_model_versions(f"name='{settings.model_name}'")
    assert versions == []  # a cancelled search registers nothing
    assert "Search cancelled" in " ".join(str(w.value) for w in app.warning)


# --- team mode: PostgreSQL study storage and a real `mlflow server` ------------------------------


@pytest.mark.slow
@pytest.mark.server
def test_two_workers_share_a_postgres_study_tracked_by_an_mlflow_server(
    postgres_server, postgres_mlflow_server, tmp_path
):
    import psycopg2

    connection = psycopg2.connect(postgres_server.dsn)
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE optuna")
    connection.close()
    url = postgres_server.url.rsplit("/", 1)[0] + "/optuna"
    settings = Settings(tracking_uri=postgres_mlflow_server.url, models_dir=tmp_path / "models")
    argv = ["--study", "team", "--workers", "2", "--trials", "4", "--storage", url, *SMALL]
    result = search_json(run_cli("core.search", argv, settings, timeout=SEARCH_TIMEOUT_SECONDS))

    trials = load_trials(url, "team")
    assert sorted(t.number for t in trials) == list(range(4))
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    children = child_runs(settings, result["parent_run_id"])
    trial_runs = {r.data.tags["optuna.trial"] for r in children if "optuna.trial" in r.data.tags}
    assert trial_runs == {"0", "1", "2", "3"}
    versions = mlflow_client(settings).search_model_versions(f"name='{settings.model_name}'")
    assert [int(v.version) for v in versions] == [result["registered_version"]] == [1]
    password = postgres_server.url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert "***" in result["storage"] and password not in result["storage"]


class _InstantJob:
    """The queue's side of a job (run, finished, fail, queue), done as soon as it runs."""

    def __init__(self) -> None:
        import threading

        self.queue = None
        self._done = threading.Event()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def run(self) -> None:
        self._done.set()

    def fail(self, message: str) -> None:
        self._done.set()


def test_the_job_queue_never_strands_a_job_submitted_as_its_worker_goes_idle():
    """The search mode (and every training) waits in core.jobs' queue, whose worker thread ends
    when idle. A job submitted just as that wait timed out stayed queued with no worker (position
    1, forever): with a 1 ms idle time, one job in a few hundred before the fix."""
    import random

    from core.jobs.queue import JobQueue

    queue, rng = JobQueue(idle_seconds=0.001), random.Random(5)
    for number in range(3000):
        job = queue.submit(_InstantJob())
        deadline = time.monotonic() + 5.0
        while not job.finished and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert job.finished, f"job {number} never ran: queue position {queue.position(job)}"
        time.sleep(rng.uniform(0.0005, 0.0015))  # around the idle time: the worker comes and goes


def _wait_for_live_rows(app, job):
    """Rerun the page until its live table shows a trial (polled to a deadline); the table.

    A search that ended with no trial fails at once, saying how it ended.
    """
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        table = app.dataframe[0].value  # the search mode's one table: the study's trials
        if len(table):
            return table
        if job.finished:
            break
        time.sleep(0.5)
    from core.jobs import TRAINING_QUEUE
    from core.search.live import read_study

    view = job.view()  # why: still queued behind another job, running with no trial, or ended
    trials = read_study(view.storage_url, "from-the-page").counts  # {} when never created
    raise AssertionError(
        f"the live table never showed a trial: job {view.state} after "
        f"{view.elapsed_seconds:.0f} s, queue position {TRAINING_QUEUE.position(job)}, error "
        f"{view.error!r}, trials {trials}, page: {[str(e.value) for e in app.error]}"
    )


@pytest.mark.parametrize("policy", [None, "threshold", "beats_production", "manual"])
def test_the_promotion_policy_reaches_the_final_training(policy):
    from core.search.report import train_config

    config = SearchConfig(study="p", n_battles=3000, seed=7, promotion_policy=policy)
    trained = train_config(config, {"max_depth": 3})
    assert trained.promotion_policy == policy  # None: the settings' policy decides
    assert (trained.n_battles, trained.seed, trained.params["max_depth"]) == (3000, 7, 3)
    assert trained.version_label == "search-p"


def test_an_unknown_promotion_policy_is_one_error_line(tmp_path, settings_factory):
    completed = run_cli("core.search", ["--promotion-policy", "always"], settings_factory())
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1
    assert completed.stderr.startswith("error: ") and "promotion-policy" in completed.stderr
    assert list(tmp_path.iterdir()) == []
