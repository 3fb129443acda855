"""`python -m api [--host H] [--port P]`: serve the prediction API with uvicorn (port 8000)."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from core.config import quiet_openmp

if TYPE_CHECKING:
    from fastapi import FastAPI

# Before anything imports xgboost (api/__init__ already did this; kept for `python api/...`).
quiet_openmp()

DEFAULT_PORT = 8000
# uvicorn's options beyond host, port and logging. No websocket protocol: the API has no
# websocket route, and uvicorn's "auto" imports the websockets package at start (~0.1 s).
SERVER_OPTIONS = {"ws": "none", "timeout_graceful_shutdown": 5}


def build_app(log_level: str = "info") -> FastAPI:
    """The served process's start, up to the app uvicorn runs (what tests start in-process).

    Imports only what the first answer from the local fallback needs: xgboost without
    scikit-learn (core.predict.startup says what that costs) and no mlflow, which the
    registry's background load imports after the local model serves.
    """
    from core.config import disable_usage_reporting, setup_logging

    disable_usage_reporting()  # before mlflow can be imported
    setup_logging(getattr(logging, log_level.upper()))
    from core.predict.startup import import_xgboost_lean

    import_xgboost_lean()  # before anything else can import xgboost (or scikit-learn)

    from api.main import create_app

    return create_app()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run uvicorn until it is stopped (SIGINT/SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs throughput)"
    )
    args = parser.parse_args(argv)
    app = build_app(args.log_level)

    import uvicorn

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        **SERVER_OPTIONS,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
