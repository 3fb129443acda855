"""CLI: `python -m core.predict --a A --b B ...`, `... export`, `... batch IN.csv --out OUT.csv`.

Prints one JSON object on stdout; an error is one line on stderr (`error: ...`) and exit 2.
When P(A wins) is exactly ½ (a mirror match is ½ by construction) nobody is named: `winner` is
"even" and `winner_id` is null.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from core import battle
from core.config import Settings, setup_logging
from core.errors import PredictionDexError
from core.predict.batch_csv import MAX_BATCH_BYTES, predict_csv, write_batch_csv
from core.predict.export import export_local_model
from core.predict.policy import PredictionModel
from core.predict.sources import one_line


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), like every other error here."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _split_moves(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def _predict_main(argv: list[str]) -> dict:
    parser = _Parser(
        prog="python -m core.predict",
        description="Predict who wins a 1v1 battle with the Production model. Also: "
        "`python -m core.predict batch IN.csv --out OUT.csv` (many matchups from a CSV) and "
        "`python -m core.predict export` (write the local fallback from the registry).",
    )
    parser.add_argument("--a", required=True, help="Pokémon A (forgiving: 'Mr. Mime', 'mr-mime')")
    parser.add_argument("--b", required=True, help="Pokémon B")
    parser.add_argument("--level-a", default="50")
    parser.add_argument("--level-b", default="50")
    parser.add_argument("--moves-a", help="comma-separated moves (default: best 4 of the learnset)")
    parser.add_argument("--moves-b")
    parser.add_argument("--simulate", type=int, default=0, help="also simulate N battles")
    parser.add_argument("--explain", action="store_true", help="add the feature contributions")
    args = parser.parse_args(argv)
    model = PredictionModel(Settings.from_env())
    prediction = model.predict_winner(
        args.a,
        args.b,
        level_a=battle.check_level(args.level_a, "a"),
        level_b=battle.check_level(args.level_b, "b"),
        moves_a=_split_moves(args.moves_a),
        moves_b=_split_moves(args.moves_b),
        simulate=args.simulate,
        explain=args.explain,
    )
    # The log lines go to stderr, which holds only the error line when there is one: the answer
    # itself says why local files served.
    status = model.status()
    answer = prediction.to_dict()
    return {
        **answer,
        "fallback_reason": status.fallback_reason,
        "fallback_kind": status.fallback.kind if status.fallback else None,
        "fallback_store_fault": status.fallback.store_fault or None if status.fallback else None,
        "last_error": status.last_error,
    }


def _export_main(argv: list[str]) -> dict:
    parser = _Parser(
        prog="python -m core.predict export",
        description="Write the local fallback model (models/) from the registry.",
    )
    parser.add_argument("--version", default=None, help="version to export (default: the stage's)")
    args = parser.parse_args(argv)
    return asdict(export_local_model(args.version, Settings.from_env()))


def _batch_main(argv: list[str]) -> dict:
    parser = _Parser(
        prog="python -m core.predict batch",
        description="Predict every matchup of a CSV (pokemon_a,pokemon_b[,level_a,level_b,"
        "moves_a,moves_b]) with one model version; writes one line per data line, in order "
        "(a blank or bad line gets its cells as given and the reason in `error`).",
    )
    parser.add_argument("input", type=Path, help="the CSV to read (UTF-8, at most 2 MB)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the answers CSV")
    args = parser.parse_args(argv)
    try:
        with args.input.open("rb") as handle:
            data = handle.read(MAX_BATCH_BYTES + 1)  # enough to refuse an oversized file
    except OSError as error:
        raise PredictionDexError(
            f"cannot read {args.input} ({error.strerror or type(error).__name__}): give the "
            "path of a CSV file whose header starts with pokemon_a,pokemon_b."
        ) from None
    check_output_path(args.input, args.out)  # before the model loads: fail in a second
    batch = predict_csv(PredictionModel(Settings.from_env()).get_model(), data)
    write_file_atomically(args.out, write_batch_csv(batch.table))
    refused = batch.refused
    return {
        "out": str(args.out),
        "rows": len(batch.table),
        "answered": len(batch.answered),
        "refused": len(refused),
        "model_name": batch.result.model_name,
        "model_version": batch.result.model_version,
        "source": batch.result.source,
        "errors": [
            {"row": int(row), "error": error}
            for row, error in zip(refused["row"], refused["error"], strict=True)
        ],
    }


def check_output_path(source: Path, out: Path) -> None:
    """Refuse an --out that is the input itself (resolved paths, links included), a folder, or
    in a folder that does not exist. Raises PredictionDexError saying what to give instead."""
    same = source.resolve() == out.resolve()
    if not same and source.exists() and out.exists():
        same = source.samefile(out)  # a hard link or another path to the same file
    if same:
        raise PredictionDexError(
            f"--out {out} is the input file: it would be overwritten. Give another --out path."
        )
    if out.is_dir():
        raise PredictionDexError(
            f"--out {out} is a folder: give a file path such as {out}/answers.csv."
        )
    folder = out.parent
    if not folder.is_dir():
        raise PredictionDexError(
            f"--out: the folder {folder} does not exist: create it (mkdir -p {folder}) or give "
            "an --out path in an existing folder."
        )


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so a reader never sees half of it.

    Raises PredictionDexError (one line, naming the folder) when the folder cannot be written.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise PredictionDexError(
            f"cannot write {path} ({error.strerror or type(error).__name__}): give an --out path "
            f"in a folder you can write to (not {path.parent})."
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0, or 2 after a one-line error on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging(logging.ERROR)
    try:
        if argv[:1] == ["export"]:
            result = _export_main(argv[1:])
        elif argv[:1] == ["batch"]:
            result = _batch_main(argv[1:])
        else:
            result = _predict_main(argv)
    except (PredictionDexError, OSError) as error:
        print(f"error: {one_line(error, 2000)}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0
