"""`python -m api [--host H] [--port P]`: serve the prediction API with uvicorn (port 8000)."""

from __future__ import annotations

import argparse
import logging

from core.config import quiet_openmp

# Before anything imports xgboost (api/__init__ already did this; kept for `python api/...`).
quiet_openmp()

DEFAULT_PORT = 8000


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

    from core.config import disable_usage_reporting, setup_logging

    disable_usage_reporting()  # before mlflow can be imported
    setup_logging(getattr(logging, args.log_level.upper()))

    import uvicorn

    from api.main import create_app

    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
