"""A worker process for the reliability suite: drives the core modules on the parent's command.

Started by the tests as `python -m tests.reliability.workers` from the project root (see
`harness.Worker`). It imports everything first and announces `@@{"event": "ready"}`; then it reads
one JSON command per line on stdin, waits until the command's start time `at` (a wall-clock
barrier shared by all workers: the processes act at the same moment; plus `delay` seconds if
given), runs it and answers one line `@@{json}` on stdout. EOF on stdin ends the worker.

A command may carry `stall`: when the named point is reached the worker announces
`@@{"event": "stalled", ...}` and sleeps until the parent kills it with SIGKILL (crash tests);
with `"keep_going": true` it announces the point and carries on (kills at random moments).
`fork` runs a command in a forked child of the warm worker, so a crash test can kill a fresh
process without paying for the imports again.
Stall points are MlflowClient calls (`{"call": "log_artifact", "after": 2}` stalls once the
second call returned; `"match"` counts only calls with that text in an argument) or training
steps reported through train_model's progress callback (`{"step": "register"}`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PREFIX = "@@"
STALL_SECONDS = 3600.0


def emit(message: dict) -> None:
    """One protocol line on stdout (anything else a library prints is ignored by the parent)."""
    sys.stdout.write(PREFIX + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def make_settings(env: dict):
    """Settings from the variables the parent sent (its `Settings.to_env()`)."""
    from core.config import Settings

    return Settings.from_env(env)


def stall(point: str, keep_going: bool = False) -> None:
    """Tell the parent where we are, then wait to be killed (or carry on if keep_going)."""
    emit({"event": "stalled", "point": point, "pid": os.getpid(), "time": time.time()})
    if keep_going:
        return
    time.sleep(STALL_SECONDS)
    raise SystemExit("stalled worker was not killed")


@contextlib.contextmanager
def stall_on_call(spec: dict | None):
    """Stall after (or before) the n-th matching call of an MlflowClient method."""
    if not spec or "call" not in spec:
        yield
        return
    from mlflow import MlflowClient

    name, after, match = spec["call"], int(spec.get("after", 1)), spec.get("match")
    original = getattr(MlflowClient, name)
    seen = 0

    def wrapper(self, *args, **kwargs):
        nonlocal seen
        matches = match is None or any(match in str(value) for value in (*args, *kwargs.values()))
        if matches and spec.get("before") and seen + 1 == after:
            stall(f"before {name} #{after}")
        result = original(self, *args, **kwargs)
        if matches:
            seen += 1
            if seen == after and not spec.get("before"):
                stall(f"after {name} #{after}")
        return result

    setattr(MlflowClient, name, wrapper)
    try:
        yield
    finally:
        setattr(MlflowClient, name, original)


_TRACKERS: dict[tuple, Any] = {}


def tracker_for(command: dict):
    """One MLflowTracker per store and lock configuration, reused across commands."""
    from core.registry import MLflowTracker

    fields = command["settings"]
    lock = command.get("lock", {})
    key = (json.dumps(fields, sort_keys=True), json.dumps(lock, sort_keys=True))
    if key not in _TRACKERS:
        _TRACKERS[key] = MLflowTracker(settings=make_settings(fields), **lock)
    return _TRACKERS[key]


# ---------------------------------------------------------------------------------------------
# Operations


def op_ping(command: dict) -> dict:
    return {"pid": os.getpid()}


def op_warm(command: dict) -> dict:
    """Pay the one-off costs (opening a store loads MLflow's migrations, the Pokédex) up front.

    Uses a throwaway store under command["root"], so that forked children open the store under
    test in milliseconds. No model is fitted: OpenMP must not start before a fork.
    """
    from core.pokedex import load_pokedex
    from core.registry import ensure_store

    root = Path(command["root"])
    load_pokedex()
    ensure_store(
        make_settings(
            {
                "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'warm.db'}",
                "PREDICTIONDEX_ARTIFACTS_DIR": str(root),
            }
        )
    )
    return {"pid": os.getpid()}


def op_list(command: dict) -> dict:
    """What `python -m core.registry list` does: the versions table."""
    from core.registry import MLflowTracker

    settings = make_settings(command["settings"])
    frame = MLflowTracker(settings=settings).compare_models(settings.model_name)
    return {"versions": [int(v) for v in frame["version"]]}


def op_serve(command: dict) -> dict:
    """The dashboard's serving path: PredictionModel.load() then one prediction."""
    from core.predict import PredictionModel

    model = PredictionModel(make_settings(command["settings"]))
    served = model.load()
    prediction = model.predict_winner("Pikachu", "Onix")
    return {
        "source": served.source,
        "version": served.model_version,
        "winner": prediction.winner,
    }


def op_train(command: dict) -> dict:
    """train_model once per seed; each run's outcome (version or error) is reported."""
    from core.train import TrainConfig, train_model

    settings = make_settings(command["settings"])
    spec = command.get("stall") or {}

    def progress(step: str, fraction: float, message: str) -> None:
        if spec.get("step") == step:
            stall(f"step {step}", keep_going=bool(spec.get("keep_going")))

    outcomes = []
    for seed in command["seeds"]:
        config = TrainConfig(seed=int(seed), **command["config"])
        started = time.time()
        try:
            with stall_on_call(spec):
                result = train_model(config, settings, progress=progress)
            outcomes.append(
                {
                    "seed": seed,
                    "version": result.version,
                    "promoted": result.promoted,
                    "run_id": result.run_id,
                    "message": result.promotion_message,
                    "seconds": round(time.time() - started, 3),
                    "steps": result.seconds,
                }
            )
        except Exception as error:  # counted by the parent: every error is a failure there
            outcomes.append(
                {"seed": seed, "error": f"{type(error).__name__}: {error}", "trace": _trace()}
            )
    return {"runs": outcomes}


def op_promote(command: dict) -> dict:
    tracker = tracker_for(command)
    with stall_on_call(command.get("stall")):
        result = tracker.promote_to_production(
            command["model_name"],
            command["version"],
            reason=command.get("reason", "reliability race"),
            user=command.get("user"),
            expected_current=command.get("expected"),
        )
    return {k: getattr(result, k) for k in ("version", "previous_version", "changed", "seq")}


def op_rollback(command: dict) -> dict:
    tracker = tracker_for(command)
    with stall_on_call(command.get("stall")):
        result = tracker.rollback(
            command["model_name"],
            reason=command.get("reason", "reliability race"),
            user=command.get("user"),
            expected_current=command.get("expected"),
        )
    return {k: getattr(result, k) for k in ("version", "previous_version", "changed", "seq")}


def op_fork(command: dict) -> dict:
    """Run command["command"] in a forked child of this warm process (crash tests kill it).

    The child answers on the same stdout; the worker itself never touches a store, so the child
    starts with no open connection. Children are reaped automatically (SIGCHLD ignored).
    """
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            emit({**run_command(command["command"]), "child": os.getpid()})
        finally:
            os._exit(0)
    return {"child_pid": pid}


def op_cli(command: dict) -> dict:
    """Run a CLI's main(argv) in this process with extra environment; capture its output."""
    module = importlib.import_module(command["module"])
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(command.get("env", {}))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = module.main(list(command["argv"]))
            except SystemExit as exit_:  # argparse refusing an argument
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


OPERATIONS = {
    "ping": op_ping,
    "warm": op_warm,
    "list": op_list,
    "serve": op_serve,
    "train": op_train,
    "promote": op_promote,
    "rollback": op_rollback,
    "cli": op_cli,
    "fork": op_fork,
}


def _trace() -> str:
    return traceback.format_exc(limit=12)[-3000:]


def run_command(command: dict) -> dict:
    """Wait for the barrier, run one command, describe the outcome."""
    at = command.get("at")
    if at is not None:
        time.sleep(max(0.0, float(at) + float(command.get("delay", 0)) - time.time()))
    started = time.time()
    reply: dict[str, Any] = {"id": command.get("id"), "op": command["op"], "started": started}
    try:
        reply["value"] = OPERATIONS[command["op"]](command)
        reply["ok"] = True
    except Exception as error:  # reported to the parent, which decides what was expected
        reply.update(
            ok=False,
            kind=type(error).__name__,
            error=" ".join(str(error).split()),
            trace=_trace(),
        )
    reply["finished"] = time.time()
    return reply


def main() -> int:
    """Import what the commands need, say ready, then serve commands until stdin closes."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked children are reaped by the kernel
    for module in ("core.registry", "core.train", "core.predict", "core.battle"):
        importlib.import_module(module)
    emit({"event": "ready", "pid": os.getpid()})
    for line in sys.stdin:
        if line.strip():
            emit(run_command(json.loads(line)))
    return 0


def leave(code: int) -> None:
    """Exit at once, output flushed: after a training, the interpreter's own shutdown (garbage
    collection of MLflow's, SQLAlchemy's and pandas' objects) took ~4.5 s per worker, and the
    parent waits for every worker it stops. Nothing the tests check happens at shutdown."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    leave(main())
