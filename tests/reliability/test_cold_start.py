"""Cold start: four processes (two trainers, a user listing versions, the dashboard serving) open a
fresh embedded store at the same moment, trial after trial; the store is usable every time.

Stock MLflow breaks a fresh SQLite store this way (schema migrations racing); ensure_store()
creates it once under a file lock. Two variants:
- 20 trials with warm worker processes released by a shared barrier, so the four first touches of
  the store happen within milliseconds of each other (the hardest race);
- 1 trial of the real CLIs started together from scratch (imports, migrations and all).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3

import pytest

from core.registry import MLflowTracker, load_model_from_registry
from tests.reliability.harness import (
    TINY_TRAINING,
    TINY_TRAINING_ARGS,
    finish,
    release_together,
    run_cli,
    sqlite_settings,
    start_cli,
    workers,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

BARRIER_TRIALS = 20
FRESH_PROCESS_TRIALS = 1
SERVE_DELAYS = (0.0, 0.25, 0.5, 1.0, 2.0)  # seconds after the others, trial by trial
CLI_DOCTOR_EVERY = 10  # also `python -m core.registry doctor` as a real process every 10th trial


def check_store(settings, trial: int) -> dict:
    """The follow-up: the file is sound, the store answers, holds both trainers' versions and is
    consistent (doctor finds nothing)."""
    with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as database:
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)], trial
        # One schema version: no half-applied migration left by a racing creator.
        assert len(database.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
    tracker = MLflowTracker(settings=settings)
    frame = tracker.compare_models(settings.model_name)
    versions = sorted(int(v) for v in frame["version"])
    assert versions == [1, 2], f"trial {trial}: versions {versions}"
    assert frame["stage"].tolist().count("Production") == 1, f"trial {trial}"
    assert tracker.doctor(settings.model_name) == [], f"trial {trial}"
    bundle, info = load_model_from_registry(settings.model_name, settings=settings)
    assert info.version in (1, 2) and bundle.feature_columns
    runs = tracker.client.search_runs([tracker.experiment_id])
    assert len(runs) == 2 and all(run.info.status == "FINISHED" for run in runs), f"trial {trial}"
    return {"versions": versions, "production": info.version}


def test_four_processes_on_a_fresh_store_barrier_trials(tmp_path, local_model_dir, counts):
    errors: list[str] = []
    served = {"registry": 0, "local": 0}
    cli_doctors = 0
    with workers(4, prefix="cold") as pool:
        for trial in range(BARRIER_TRIALS):
            root = tmp_path / f"trial{trial:02d}"
            settings = sqlite_settings(root, promotion_threshold=0.0)
            shutil.copytree(local_model_dir, settings.models_dir)
            store = settings.to_env()
            replies = release_together(
                pool,
                [
                    {"op": "train", "settings": store, "config": TINY_TRAINING, "seeds": [trial]},
                    {"op": "train", "settings": store, "config": TINY_TRAINING, "seeds": [99]},
                    {"op": "list", "settings": store},
                    # The dashboard arrives at a different moment of the store's creation.
                    {"op": "serve", "settings": store, "delay": SERVE_DELAYS[trial % 5]},
                ],
            )
            for reply in replies:
                if not reply["ok"]:
                    errors.append(f"trial {trial} {reply['op']}: {reply['kind']}: {reply['trace']}")
                elif reply["op"] == "train":
                    errors += [
                        f"trial {trial} train: {run['error']}\n{run['trace']}"
                        for run in reply["value"]["runs"]
                        if "error" in run
                    ]
            assert not errors, "\n".join(errors)
            served[replies[3]["value"]["source"]] += 1
            check_store(settings, trial)
            # `python -m core.registry doctor`: in a worker process every trial (its main()), and
            # as a real process every CLI_DOCTOR_EVERY trials.
            doctor = pool[2].request(
                {
                    "op": "cli",
                    "module": "core.registry",
                    "argv": ["doctor"],
                    "env": settings.to_env(),
                }
            )
            assert doctor["ok"] and doctor["value"]["code"] == 0, doctor
            assert "no inconsistencies found" in doctor["value"]["stdout"]
            if trial % CLI_DOCTOR_EVERY == CLI_DOCTOR_EVERY - 1:
                done = run_cli("core.registry", ["doctor"], env=settings.to_env())
                assert done.returncode == 0, done.stderr
                cli_doctors += 1
    counts(
        trials=BARRIER_TRIALS,
        processes_per_trial=4,
        errors=len(errors),
        usable_stores=BARRIER_TRIALS,
        doctor_clean=BARRIER_TRIALS,
        doctor_cli_processes=cli_doctors,
        served_from_registry=served["registry"],
        served_from_local=served["local"],
    )


def test_four_fresh_cli_processes_on_a_fresh_store(tmp_path, local_model_dir, counts):
    errors: list[str] = []
    for trial in range(FRESH_PROCESS_TRIALS):
        root = tmp_path / f"fresh{trial}"
        settings = sqlite_settings(root, promotion_threshold=0.0)
        shutil.copytree(local_model_dir, settings.models_dir)
        env = settings.to_env()
        processes = [
            start_cli("core.train", [*TINY_TRAINING_ARGS, "--seed", str(trial)], env),
            start_cli("core.train", [*TINY_TRAINING_ARGS, "--seed", "99"], env),
            start_cli("core.registry", ["list"], env),
            start_cli("core.predict", ["--a", "Pikachu", "--b", "Onix"], env),
        ]
        for index, process in enumerate(processes):
            code, out, err = finish(process)
            if code != 0:
                errors.append(f"trial {trial} process {index}: exit {code}\n{err[-2000:]}")
        assert not errors, "\n".join(errors)
        check_store(settings, trial)
        done = run_cli("core.registry", ["doctor"], env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    counts(
        trials=FRESH_PROCESS_TRIALS,
        processes_per_trial=4,
        errors=len(errors),
        usable_stores=FRESH_PROCESS_TRIALS,
        doctor_clean=FRESH_PROCESS_TRIALS,
    )
