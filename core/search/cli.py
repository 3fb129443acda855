"""`python -m core.search`: run a study with local workers, or join one as a worker.

    python -m core.search --trials N [--timeout S] [--workers W] [--study NAME] [--storage URL]
        [--model xgboost|random_forest] [--n-battles N] [--seed S] [--objective log_loss|accuracy]
        [--promotion-policy threshold|beats_production|manual] [--use-gridsearch --grid-type fast]
    python -m core.search worker --study NAME [--storage URL]

Prints one line per finished trial on stderr while it runs, then one JSON object on stdout
(study, trials_complete, trials_pruned, objective, best_value, best_params, registered_version
(this session's, or null), promoted, promotion (the policy's reason, or why nothing was
registered this time), best_version, ...). Bad input: one `error:` line on stderr, exit 2, nothing made.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import get_args

from core.config import PromotionPolicy, Settings, disable_usage_reporting, setup_logging
from core.errors import PredictionDexError
from core.search.config import DEFAULT_TRIALS, SearchConfig, SearchError, check_study_name
from core.search.storage import check_storage, default_storage_url
from core.train import MODEL_TYPES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one `error:` line and exit 2, as every CLI here
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The search CLI's flags."""
    parser = _Parser(prog="python -m core.search", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--trials", type=int, default=None, help=f"default {DEFAULT_TRIALS}")
    parser.add_argument("--timeout", type=float, default=None, help="seconds for this session")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--study", default="search", help="a name; an existing study resumes")
    parser.add_argument("--storage", default="", help="Optuna storage URL (default: see README)")
    parser.add_argument("--model", choices=MODEL_TYPES, default="xgboost")
    parser.add_argument(
        "--n-battles", type=int, default=SearchConfig.model_fields["n_battles"].default
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--objective", choices=("log_loss", "accuracy"), default="log_loss")
    parser.add_argument(
        "--promotion-policy", choices=get_args(PromotionPolicy), help="default: the settings'"
    )
    parser.add_argument("--use-gridsearch", action="store_true", help="Optuna's GridSampler")
    parser.add_argument("--grid-type", choices=("fast", "full"), default="fast")
    parser.add_argument("--oracle-sample", type=int, default=2000)
    parser.add_argument("--oracle-replays", type=int, default=400)
    return parser


def config_from(args: argparse.Namespace) -> SearchConfig:
    """A checked SearchConfig from parsed flags (SearchError names the bad one)."""
    trials = args.trials
    if trials is None:
        trials = 10_000 if args.use_gridsearch else DEFAULT_TRIALS  # a grid stops when done
    return SearchConfig(
        study=args.study, trials=trials, timeout_seconds=args.timeout, workers=args.workers,
        storage=args.storage, model_type=args.model, n_battles=args.n_battles, seed=args.seed,
        objective=args.objective, promotion_policy=args.promotion_policy,
        grid_type=args.grid_type if args.use_gridsearch else None,
        oracle_sample=args.oracle_sample, oracle_replays=args.oracle_replays,
    )  # fmt: skip


def _worker(argv: list[str], settings: Settings) -> int:
    from core.search.worker import run_worker

    parser = _Parser(prog="python -m core.search worker")
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", default="")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the study")
    args = parser.parse_args(argv)
    url = args.storage or default_storage_url(settings)
    check_study_name(args.study)
    check_storage(url)
    wait_for_study(args.study, url, settings, args.wait)
    ran = run_worker(args.study, url, settings)
    print(json.dumps({"study": args.study, "trials_run": ran}))
    return 0


def wait_for_study(name: str, url: str, settings: Settings, seconds: float) -> None:
    """Poll until the study exists (a worker started before its coordinator), at most `seconds`."""
    import time

    from core.search.worker import load_study

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            load_study(name, url, settings)
            return
        except SearchError:
            time.sleep(2.0)


def _progress_line(line: str) -> None:
    """A finished trial, on stderr while the search runs (stdout keeps only the JSON)."""
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit 0 on success, 2 with one `error:` line on bad input or a failure."""
    argv = sys.argv[1:] if argv is None else argv
    disable_usage_reporting()
    setup_logging(logging.WARNING)
    try:
        settings = Settings.from_env()
        if argv[:1] == ["worker"]:
            return _worker(argv[1:], settings)
        config = config_from(build_parser().parse_args(argv))
        from core.search.study import run_search

        result = run_search(config, settings, on_trial=_progress_line)
    except PredictionDexError as error:
        print(f"error: {error.full_text()}", file=sys.stderr)
        return 2
    print(json.dumps(result.summary(), sort_keys=True))
    return 130 if result.cancelled else 0
