"""The prediction API: in-process cost, cold start, and a bounded load test with a promotion.

Run: `python -m benchmarks.bench_api [--requests 1000] [--battles 4000]`; prints one JSON object.
Everything runs on 127.0.0.1 in a temporary folder: two real models are trained first (v1 is
Production and the local fallback, v2 is registered only), before any clock starts. Figures:
- `in_process`: the API's own answer path (`PredictionService.predict`, no HTTP, no explanation)
  against the booster's `inplace_predict` on the same one-row array, interleaved (p50/p95, ratio);
- `cold_start`: a fresh `python -m api` process, from spawn to its first 200 answer of
  POST /predict, serving the local fallback (registry off), and with the registry on: its first
  answer (the local fallback while the registry loads) and its first registry answer, with the
  embedded store (`registry*`) and, as a team's replicas run, with the registry behind a real
  `mlflow server` on 127.0.0.1 (`server*`: v1 logged and promoted through it); wall seconds, and the CPU seconds the process used until then (`*_cpu_s`: its cost on
  an idle core, robust to other work on the machine). `--baseline-tree DIR` times a second
  checkout the same way, interleaved; `--cold-only` skips the other figures (`--in-process-only`
  keeps only the in-process ones);
- `load`: a self-stopping asyncio client (keep-alive HTTP/1.1, a fixed number of requests) at 1,
  16 and 64 concurrent clients on POST /predict, and on POST /predict/batch with 1,000 rows:
  throughput (requests/s) and p50/p99 latency (ms), failed requests counted;
- `promotion_under_load`: 16 clients on /predict while `python -m core.registry promote 2` runs:
  failed requests (must be 0) and the versions answered before and after the switch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from core import battle, features
from core.config import PROJECT_ROOT, Settings
from core.pokedex import load_pokedex
from tests.servers import free_port, spawn

HOST = "127.0.0.1"


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREDICTIONDEX_"))}
    env.update(settings.to_env(), OMP_WAIT_POLICY="PASSIVE", MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true", PYTHONPATH=str(PROJECT_ROOT), **extra)  # fmt: skip
    return env


def _pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    ids = load_pokedex().pokemon_ids
    rng = random.Random(seed)
    return [tuple(rng.sample(ids, 2)) for _ in range(count)]  # type: ignore[misc]


def _percentiles(values_ms: list[float]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(values_ms, 50)), 3),
        "p95_ms": round(float(np.percentile(values_ms, 95)), 3),
        "p99_ms": round(float(np.percentile(values_ms, 99)), 3),
    }


def train_models(settings: Settings, battles: int) -> None:
    """v1 (Production, exported as the local fallback) and v2 (registered, not promoted)."""
    from core.train import TrainConfig, train_model

    common = {"n_battles": battles, "oracle_sample": 0}
    first = train_model(TrainConfig(seed=1, threshold=0.0, **common), settings)
    second = train_model(TrainConfig(seed=2, threshold=1.0, export_local=False, **common), settings)
    assert (first.version, first.promoted, second.version) == (1, True, 2), "unexpected versions"


def in_process(settings: Settings, repeats: int) -> dict:
    """The API's answer path without HTTP against the booster alone, on the same rows."""
    from api.schemas import PredictRequest
    from api.service import PredictionService
    from core.predict import PredictionModel

    service = PredictionService(PredictionModel(replace(settings, use_registry=False)))
    served = service.model.get_model()
    booster = served.bundle.booster  # the very booster the answer path scores with
    dex = load_pokedex(served.roster)
    pairs = _pairs(50)
    rows = []
    for a, b in pairs:
        matchup = battle.resolve_matchup(a, b, dex=dex)
        rows.append(features.feature_matrix(battle.arrays_from_frame(matchup.to_frame(), dex), dex))
    requests = [PredictRequest(pokemon_a=a, pokemon_b=b) for a, b in pairs]
    for request in requests:  # warm: each pair asked once
        service.predict(request)
    api_ms, booster_ms = [], []
    for i in range(repeats):
        request, row = requests[i % len(requests)], rows[i % len(rows)]
        started = time.perf_counter()
        service.predict(request)
        api_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        booster.inplace_predict(row)
        booster_ms.append((time.perf_counter() - started) * 1000)
    api, alone = _percentiles(api_ms), _percentiles(booster_ms)
    return {"api_predict": api, "booster_inplace_predict": alone,
            "ratio_p50": round(api["p50_ms"] / alone["p50_ms"], 2)}  # fmt: skip


async def _call(reader, writer, path: str, body: bytes) -> tuple[int, str]:
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("x-model-version", "")


async def _load(
    port: int, path: str, bodies: list[bytes], clients: int, total: int, done=None
) -> dict:
    """Up to `total` requests by `clients` keep-alive connections; stops after `total`, when
    `done()` turns true, or after 300 s."""
    latencies: list[float] = []
    versions: list[tuple[float, str]] = []
    failures: list[str] = []
    tickets = (t for t in range(total) if done is None or not done())

    async def client() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for ticket in tickets:
                started = time.perf_counter()
                try:
                    status, version = await _call(
                        reader, writer, path, bodies[ticket % len(bodies)]
                    )
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    failures.append(repr(error))
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    failures.append(f"HTTP {status}")
                versions.append((time.monotonic(), version))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), timeout=300)
    seconds = time.perf_counter() - started
    sent = len(latencies) + sum(1 for f in failures if not f.startswith("HTTP"))
    return {"clients": clients, "requests": sent, "failed": len(failures),
            "throughput_rps": round(sent / seconds, 1), **_percentiles(latencies),
            "_versions": versions}  # fmt: skip


def _predict_bodies(count: int) -> list[bytes]:
    return [json.dumps({"pokemon_a": a, "pokemon_b": b}).encode() for a, b in _pairs(count, 1)]


def _batch_body(rows: int) -> bytes:
    pairs = _pairs(rows, 2)
    return json.dumps({"rows": [{"pokemon_a": a, "pokemon_b": b} for a, b in pairs]}).encode()


def _start_api(settings: Settings, tree: Path = PROJECT_ROOT, **extra: str):
    port = free_port()
    env = _env(settings, **extra)
    env["PYTHONPATH"] = str(tree)
    process = spawn("api", [sys.executable, "-m", "api", "--host", HOST, "--port", str(port),
                            "--log-level", "warning"], env=env, cwd=tree)  # fmt: skip
    return port, process


def _first_answer(
    port: int, process, source: str | None, timeout: float = 120, started: float | None = None
) -> float:
    """Seconds (since `started`, default now) until POST /predict answers 200 (from `source`)."""
    import urllib.request

    started = time.perf_counter() if started is None else started
    body = json.dumps({"pokemon_a": "Pikachu", "pokemon_b": "Onix"}).encode()
    while time.perf_counter() - started < timeout:
        if not process.is_running():
            raise RuntimeError(f"the API exited: {process.log_tail()}")
        request = urllib.request.Request(f"http://{HOST}:{port}/predict", data=body,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
            if source is None or answer["source"] == source:
                return round(time.perf_counter() - started, 3)
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError("no answer")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process used so far: what the cold start costs
    on an idle core, whatever else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 3)


# (mode, environment, [(figure, source waited for)]): a registry-mode process is timed twice,
# at its first answer (the local fallback while the registry loads) and at its first registry one.
COLD_MODES = (
    ("local", {"USE_MLFLOW_REGISTRY": "false"}, [("local", "local")]),
    ("registry", {}, [("registry_first_answer", None), ("registry", "registry")]),
)


def _cold_modes(server_url: str | None) -> tuple:
    """COLD_MODES, plus team mode (the registry behind `mlflow server`) when a server runs."""
    if server_url is None:
        return COLD_MODES
    team = [("server_first_answer", None), ("server", "registry")]
    return (*COLD_MODES, ("server", {"MLFLOW_TRACKING_URI": server_url}, team))


@contextlib.contextmanager
def registry_server(settings: Settings, workdir: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (its own SQLite store, served artifacts) whose
    Production is the local fallback's model, logged and registered through the server: the
    registry a team's API replicas follow. Yields its URL; the server is stopped at the end."""
    from core import artifacts
    from core.registry import MLflowTracker
    from tests.servers import running_mlflow_server

    backend = f"sqlite:///{workdir / 'server.db'}"
    with running_mlflow_server(backend, workdir / "server-artifacts") as server:
        remote = replace(settings, tracking_uri=server.url, models_dir=workdir / "unused")
        tracker = MLflowTracker(settings=remote)
        folder = Path(settings.models_dir)
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints the run's link: stdout is JSON
            tracker.start_run("bench_api_team_mode")
            tracker.log_model_dir(folder, artifacts.sha256_file(folder / artifacts.MANIFEST_FILE))
            version = tracker.register_model(remote.model_name, "bench_api_team_mode")
            tracker.end_run()
            tracker.promote_to_production(remote.model_name, version)
        yield server.url


def cold_start(
    settings: Settings,
    repeats: int,
    trees: dict[str, Path] | None = None,
    server_url: str | None = None,
) -> dict:
    """Spawn to first answer, wall and CPU seconds, for each tree (this one by default; a
    baseline tree interleaved with it, so both see the same machine load), with the embedded
    store and, given `server_url`, with the registry behind that server."""
    trees = trees or {"this": PROJECT_ROOT}
    for tree in trees.values():
        # Up-to-date bytecode in every tree, as an installed image has (the Dockerfile compiles
        # it): with PYTHONDONTWRITEBYTECODE set, a source changed since its .pyc would otherwise
        # be compiled again at every start (~0.4 CPU s here), whichever tree was edited last.
        subprocess.run([sys.executable, "-m", "compileall", "-q", "api", "core"], cwd=tree,
                       check=True, capture_output=True)  # fmt: skip
    result: dict[str, list[float]] = {}
    for _ in range(repeats):
        for label, tree in trees.items():
            for _mode, extra, figures in _cold_modes(server_url):
                started = time.perf_counter()
                port, process = _start_api(settings, tree, **extra)
                try:
                    for figure, source in figures:
                        wall = _first_answer(port, process, source, started=started)
                        cpu = _cpu_seconds(process.pid)
                        result.setdefault(f"{label}.{figure}_s", []).append(wall)
                        result.setdefault(f"{label}.{figure}_cpu_s", []).append(cpu)
                finally:
                    process.stop()
    return {key: {"median": round(float(np.median(v)), 3), "all": v} for key, v in result.items()}


def load_and_promotion(settings: Settings, total: int) -> dict:
    """The load levels on one registry-mode API, then a promotion in the middle of a load."""
    port, process = _start_api(settings, PREDICTIONDEX_REGISTRY_TTL="1")
    try:
        _first_answer(port, process, "registry")
        bodies, batch = _predict_bodies(500), [_batch_body(1000)]
        asyncio.run(_load(port, "/predict", bodies, 4, 200))  # warm every worker thread
        results = {}
        for clients in (1, 16, 64):
            results[f"predict_{clients}"] = asyncio.run(
                _load(port, "/predict", bodies, clients, total)
            )
        for clients in (1, 4):
            results[f"batch1000_{clients}"] = asyncio.run(
                _load(port, "/predict/batch", batch, clients, 20)
            )
        promotion: dict = {}

        def promote() -> None:
            time.sleep(3)
            done = subprocess.run([sys.executable, "-m", "core.registry", "promote", "2"],
                                  env=_env(settings), cwd=PROJECT_ROOT, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            promotion.update(returncode=done.returncode, finished_at=time.monotonic())

        thread = threading.Thread(target=promote)
        thread.start()

        def switched_and_settled() -> bool:  # 5 s of answers after the CLI returned
            finished = promotion.get("finished_at")
            return finished is not None and time.monotonic() > finished + 5

        during = asyncio.run(_load(port, "/predict", bodies, 16, 200_000, switched_and_settled))
        thread.join()
        results["promotion_under_load"] = _switch(during, promotion)
        for entry in results.values():
            entry.pop("_versions", None)
        return results
    finally:
        process.stop()


def _switch(load: dict, promotion: dict) -> dict:
    versions = load["_versions"]
    order = [version for _, version in versions]
    first_v2 = order.index("2") if "2" in order else None
    served_after = None
    if first_v2 is not None and "finished_at" in promotion:
        served_after = round(versions[first_v2][0] - promotion["finished_at"], 3)
    return {"requests": load["requests"], "failed": load["failed"],
            "cli_exit_code": promotion.get("returncode"),
            "answers_v1": order.count("1"), "answers_v2": order.count("2"),
            "v1_after_first_v2": order[first_v2:].count("1") if first_v2 is not None else None,
            "v2_first_seen_after_cli_returned_s": served_after,
            "throughput_rps": load["throughput_rps"], "p50_ms": load["p50_ms"],
            "p99_ms": load["p99_ms"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Train, then measure; print the results as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api")
    parser.add_argument("--requests", type=int, default=1000, help="requests per load level")
    parser.add_argument("--battles", type=int, default=4000, help="training battles per model")
    parser.add_argument("--repeats", type=int, default=3, help="cold starts of each kind")
    parser.add_argument("--cold-only", action="store_true", help="only the cold start figures")
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the in-process fast path figures"
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="also time cold starts of this checkout (e.g. a `git worktree` of the previous main)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="predictiondex-bench-api-") as folder:
        root = Path(folder)
        settings = Settings(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                            artifacts_dir=root / "mlartifacts", models_dir=root / "models")  # fmt: skip
        train_models(settings, args.battles)
        trees = {"this": PROJECT_ROOT}
        if args.baseline_tree:
            trees["baseline"] = args.baseline_tree.resolve()
        result: dict = {}
        if not args.cold_only:
            result["in_process"] = in_process(settings, 2000)
        if not args.in_process_only:
            with registry_server(settings, root) as server_url:
                result["cold_start"] = cold_start(settings, args.repeats, trees, server_url)
        if not (args.cold_only or args.in_process_only):
            result["load"] = load_and_promotion(settings, args.requests)
        result.update(cpu_count=os.cpu_count(), load_average_1min=round(os.getloadavg()[0], 2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
