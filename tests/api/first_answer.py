"""`python -m tests.api.first_answer [--source registry]`: start the API as `python -m api` does,
in this process, and report what was imported when its first POST /predict answered 200 (from
that source, when given) (one JSON line).

The server is uvicorn on a free 127.0.0.1 port in a thread of this process, so `sys.modules` is
the served process's own: the cold-start test reads which of mlflow / scikit-learn / pandas a
fresh API process had imported by the time it answered, without anything in the API's output
saying so. Settings come from the environment, as for `python -m api`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
WATCHED = ("mlflow", "sklearn", "pandas", "xgboost", "sqlalchemy", "alembic")
BODY = json.dumps({"pokemon_a": "Pikachu", "pokemon_b": "Onix"}).encode()
TIMEOUT_SECONDS = 90.0


def _first_answer(url: str, deadline: float, source: str | None) -> dict:
    """Poll POST /predict (503 while no model serves) until it answers 200 (from `source`,
    when given): its body."""
    request = urllib.request.Request(
        f"{url}/predict", data=BODY, headers={"Content-Type": "application/json"}
    )
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
            if source is None or answer["source"] == source:
                return answer
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet, or 503 while the model loads
        time.sleep(0.01)
    raise TimeoutError(f"no 200 from {url}/predict within {TIMEOUT_SECONDS:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Serve, take the first answer and the imported packages at that moment, stop, print."""
    parser = argparse.ArgumentParser(prog="python -m tests.api.first_answer")
    parser.add_argument("--source", choices=["registry", "local"], help="wait for this source")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from api.__main__ import SERVER_OPTIONS, build_app

    app = build_app("warning")
    import uvicorn

    from tests.servers import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=HOST, port=port, log_level="warning", **SERVER_OPTIONS)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        answer = _first_answer(f"http://{HOST}:{port}", deadline, args.source)
        imported = sorted(name for name in WATCHED if name in sys.modules)
        seconds = time.perf_counter() - started
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    report = {
        "source": answer["source"],
        "model_type": answer["model_type"],
        "model_version": answer["model_version"],
        "imported": imported,
        "seconds": round(seconds, 3),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
