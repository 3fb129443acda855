"""`python -m core.registry {list,compare,promote VERSION,rollback [--to VERSION],audit,doctor}`.

Exit codes: 0 done, 1 doctor found problems, 2 refused or failed (one `error:` line on stderr).
A promotion or rollback of the configured stage also exports the new holder as the local
fallback (models/); if that export fails the change stands and a `warning:` line says how to retry.
Output cut short by a closed pipe (`... list | head -1`) ends quietly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from core.errors import PredictionDexError
from core.registry.audit import plain_frame
from core.registry.checks import parse_version
from core.registry.errors import RegistryError
from core.registry.promotion import ANY, PromotionResult
from core.registry.tracker import MLflowTracker
from core.registry.versions import registered_names

if TYPE_CHECKING:
    import pandas as pd


def _print_frame(frame: pd.DataFrame) -> None:
    import pandas as pd

    if frame.empty:
        print("(none)")
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.to_string(index=False, na_rep="—"))  # not measured: a dash


def _expected(text: str | None):
    """--expect: absent = don't check; "none"/"0"/"-" = nobody holds it; else a version."""
    if text is None:
        return ANY
    if text.strip().lower() in {"0", "none", "-"}:
        return None
    return parse_version(text)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other error here."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core.registry")
    parser.add_argument(
        "command", choices=["list", "compare", "promote", "rollback", "audit", "doctor"]
    )
    parser.add_argument("version", nargs="?", help="the version to promote")
    parser.add_argument("--to", default=None, help="rollback: an earlier Production version")
    parser.add_argument("--reason", default="")
    parser.add_argument("--stage", default="Production", help="Production or Staging")
    parser.add_argument("--expect", default=None, help="the version you believe holds the stage")
    parser.add_argument("--user", default=None)
    parser.add_argument("--model", default=None, help="registered model name (MLFLOW_MODEL_NAME)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    from core.config import setup_logging

    args = _parser().parse_args(argv)
    setup_logging(logging.WARNING)
    try:
        code = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (`| head -1`): not an error; later writes go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except PredictionDexError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


def _require_registered(
    tracker: MLflowTracker, model_name: str, frame: pd.DataFrame, explicit: bool
) -> None:
    """An empty table of a model nobody registered is a mistyped name: say which names exist.
    A store where nothing is registered yet is simply empty for the default name (exit 0)."""
    if not frame.empty:
        return
    names = registered_names(tracker.store)
    if model_name in names:
        return
    if not names and not explicit:
        return
    if not names:
        raise RegistryError(
            f"model {model_name!r} is not registered: no model is registered in this store yet;"
            " train one with `python -m core.train`."
        )
    raise RegistryError(
        f"model {model_name!r} is not registered; registered models: {', '.join(names)}"
        " (choose one with --model NAME)."
    )


def _run(args: argparse.Namespace) -> int:
    tracker = MLflowTracker()
    # `--model ""` is an (invalid) name, not "use the default".
    model_name = tracker.settings.model_name if args.model is None else args.model
    if args.command == "list":
        frame = tracker.compare_table(model_name)
        _require_registered(tracker, model_name, frame, args.model is not None)
        _print_frame(frame[["version", "stage", "accuracy", "model_type", "created_at"]])
    elif args.command == "compare":
        frame = tracker.compare_table(model_name)
        _require_registered(tracker, model_name, frame, args.model is not None)
        _print_frame(frame.drop(columns=["manifest_sha256", "run_id", "status"]))
    elif args.command == "promote":
        if args.version is None:
            raise RegistryError("promote needs a version: python -m core.registry promote 3")
        _print_action(tracker.promote_to_production(
            model_name, args.version, reason=args.reason, user=args.user,
            expected_current=_expected(args.expect), stage=args.stage,
        ))  # fmt: skip
    elif args.command == "rollback":
        _print_action(tracker.rollback(
            model_name, to=args.to, reason=args.reason, user=args.user,
            expected_current=_expected(args.expect), stage=args.stage,
        ))  # fmt: skip
    elif args.command == "audit":
        frame = tracker.audit_frame(model_name)
        _require_registered(tracker, model_name, frame, args.model is not None)
        _print_frame(plain_frame(frame))  # the Models page's words
    else:
        problems = tracker.doctor(model_name)
        for problem in problems:
            print(f"problem: {problem}")
        if problems:
            return 1
        print(f"{model_name}: no inconsistencies found")
    return 0


def _print_action(result: PromotionResult) -> None:
    if not result.changed and result.seq is not None:  # the alias had been moved outside
        print(
            f"{result.model_name} v{result.version} already holds {result.stage} (set outside "
            f"PredictionDex; the audit trail had v{result.previous_version}): recorded in the "
            "audit trail"
        )
    elif not result.changed:
        print(f"{result.model_name} v{result.version} already holds {result.stage}")
    else:
        was = f" (was v{result.previous_version})" if result.previous_version is not None else ""
        print(f"{result.model_name} v{result.version} is now {result.stage}{was}")
    # The tracker exported the configured stage's holder as the local fallback (serving's safety
    # net must be the same model) before releasing the promotion lock.
    synced = result.fallback
    if synced is None:
        return
    if synced.outcome == "failed":
        print(f"warning: {synced.message}", file=sys.stderr)
    else:
        print(synced.message)
