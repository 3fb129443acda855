"""The batch as CSV: read an uploaded file into MatchupInput rows, write the answers back.

Input: UTF-8 text, a header naming `pokemon_a,pokemon_b` and optionally `level_a`, `level_b`,
`moves_a`, `moves_b` (moves separated by `;`, `|` or `,` inside a quoted field), at most
MAX_BATCH_ROWS data rows and MAX_BATCH_BYTES bytes. A whole-file problem (empty, binary, too big,
not UTF-8, not a CSV, a wrong header) is one BatchFileError whose message says what to do; a
problem in one row (a blank line, a row of empty cells, a field too long, a missing name) is a
RowError and the other rows still go on. Output: one line per data line of the file, in input
order, blank lines included: the answer, or the row's cells as given with the reason, every text
cell neutralised against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import PredictionDexError
from core.pokedex import PokedexError, load_pokedex
from core.predict.batch import (
    MAX_BATCH_ROWS,
    BatchResult,
    MatchupInput,
    RowError,
    predict_batch,
)
from core.predict.sources import ServedModel

if TYPE_CHECKING:
    import pandas as pd

MAX_BATCH_BYTES = 2 * 1024 * 1024
MAX_FIELD_CHARS = 200
REQUIRED_COLUMNS = ("pokemon_a", "pokemon_b")
OPTIONAL_COLUMNS = ("level_a", "level_b", "moves_a", "moves_b")
INPUT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
OUTPUT_COLUMNS = [
    "row",
    "pokemon_a",
    "pokemon_b",
    "level_a",
    "level_b",
    "moves_a",
    "moves_b",
    "p_a_wins",
    "winner",
    "model_version",
    "source",
    "error",
]
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_MOVE_SEPARATORS = re.compile(r"[;|,]")
HEADER_TEXT = "pokemon_a,pokemon_b[,level_a,level_b,moves_a,moves_b]"
_FORMAT_HINT = (
    "A valid file: first line pokemon_a,pokemon_b,level_a,level_b then one matchup per line, "
    "e.g. Pikachu,Onix,50,50 (UTF-8 text)."
)


@dataclass(frozen=True)
class CsvRows:
    """A batch file as read: `rows` (the MatchupInput to predict), `errors` (a RowError per line
    refused while reading: blank, empty cells, too many fields, a field too long, a missing name)
    and `given` (row -> {column: the cell as typed, stripped, at most MAX_FIELD_CHARS} for every
    data line, blank lines included), all in input order."""

    rows: list[MatchupInput]
    errors: list[RowError]
    given: dict[int, dict[str, str]]


@dataclass(frozen=True)
class CsvBatch:
    """An answered CSV batch: `result` (the model's BatchResult for the rows that could be read),
    `read_errors` (rows refused while reading) and `table` (every row in input order with
    OUTPUT_COLUMNS: the answer, or the cells as given and the reason in `error`).
    """

    result: BatchResult
    read_errors: tuple[RowError, ...]
    table: pd.DataFrame

    @property
    def answered(self) -> pd.DataFrame:
        """The rows with an answer."""
        return self.table[self.table["error"].isna()]

    @property
    def refused(self) -> pd.DataFrame:
        """The rows without an answer, with their reason."""
        return self.table[self.table["error"].notna()]


class BatchFileError(PredictionDexError):
    """A batch file that cannot be read as a whole: the message says what is wrong and what to do
    (the CLI prints the message alone); the hint is an example of a valid file."""

    default_hint = _FORMAT_HINT


def _decode(data: bytes) -> str:
    """The file's text, or a BatchFileError for empty, oversized, binary or non-UTF-8 files."""
    if not data.strip():
        raise BatchFileError(
            f"The file is empty: upload a CSV whose first line is the header {HEADER_TEXT}, "
            "then one matchup per line."
        )
    if len(data) > MAX_BATCH_BYTES:
        raise BatchFileError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; at most "
            f"{MAX_BATCH_BYTES // 1024 // 1024} MB are accepted: split it into files of at most "
            f"{MAX_BATCH_ROWS:,} rows and 2 MB."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BatchFileError(
            "The file is UTF-16 text: save it as UTF-8 ('CSV UTF-8' in Excel's Save As, or UTF-8 "
            "in your editor's encoding menu) and use that file."
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise BatchFileError(
            f"The file contains NUL bytes (first at byte {nul:,}): it is binary, not CSV text; "
            "export the table as CSV UTF-8 and use that file."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BatchFileError(
            f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} at position "
            f"{error.start:,} cannot be read): save it as UTF-8 ('CSV UTF-8' in Excel's Save As, "
            "or re-encode it to UTF-8) and use that file.",
        ) from None


def _header(fields: list[str]) -> dict[str, int]:
    """Column name -> position, or a BatchFileError naming the missing or unknown columns."""
    names = [re.sub(r"[\s\-]+", "_", field.strip().lower()) for field in fields]
    unknown = [n for n in names if n not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing or unknown:
        shown = ", ".join(repr(n[:30]) for n in unknown[:5])
        problem = f"missing {', '.join(missing)}" if missing else f"unknown column(s) {shown}"
        raise BatchFileError(
            f"The header is wrong ({problem}): the first line must be {HEADER_TEXT}, in any order."
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise BatchFileError(
            f"The header repeats {', '.join(duplicated)}: name each column once ({HEADER_TEXT})."
        )
    return {name: position for position, name in enumerate(names)}


def _cells(fields: list[str], columns: dict[str, int]) -> dict[str, str]:
    """The row's cells by column name as typed (stripped; a long one cut to MAX_FIELD_CHARS)."""
    cells = {name: (fields[i].strip() if i < len(fields) else "") for name, i in columns.items()}
    return {
        name: value if len(value) <= MAX_FIELD_CHARS else value[: MAX_FIELD_CHARS - 1] + "…"
        for name, value in cells.items()
    }


def _row_input(number: int, fields: list[str], columns: dict[str, int]) -> MatchupInput:
    """One CSV line as a MatchupInput (empty optional cells take their defaults).

    Raises PokedexError (naming its `field` when it is about one) for a blank line, a row of
    empty cells, more fields than columns, a field too long or a missing name."""
    if not fields:
        raise PokedexError(
            "This line is blank: nothing to predict.",
            hint="Delete the line, or fill in pokemon_a and pokemon_b.",
        )
    if not any(field.strip() for field in fields):
        raise PokedexError(
            "Every cell of this row is empty.",
            hint="Fill in pokemon_a and pokemon_b, or delete the row.",
        )
    if len(fields) > len(columns):
        extra = ", ".join(repr(field.strip()[:40]) for field in fields[len(columns) :][:3])
        raise PokedexError(
            f"{len(fields)} fields for {len(columns)} columns (extra: {extra}).",
            hint='Quote a field that contains commas, e.g. "Thunderbolt,Surf".',
        )
    values = {name: (fields[i].strip() if i < len(fields) else "") for name, i in columns.items()}
    for name, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            raise PokedexError(
                f"{name} is {len(value):,} characters long; at most {MAX_FIELD_CHARS} are read.",
                hint="Put one name or up to 4 moves per field.",
            ).about(name)
    for name in REQUIRED_COLUMNS:
        if not values[name]:
            raise PokedexError(f"{name} is empty.", hint="Give both Pokémon of the matchup.").about(
                name
            )
    return MatchupInput(
        row=number,
        pokemon_a=values["pokemon_a"],
        pokemon_b=values["pokemon_b"],
        level_a=values.get("level_a") or 50,
        level_b=values.get("level_b") or 50,
        moves_a=_moves(values.get("moves_a", "")),
        moves_b=_moves(values.get("moves_b", "")),
    )


def _moves(text: str) -> list[str] | None:
    if not text:
        return None
    moves = [m.strip() for m in _MOVE_SEPARATORS.split(text) if m.strip()]
    return moves or None


def read_batch_csv(data: bytes) -> tuple[list[MatchupInput], list[RowError]]:
    """Parse an uploaded batch: the rows to predict and the rows refused while reading (see
    `read_batch_lines`, which also keeps every line's cells as given).

    Raises:
        BatchFileError: as read_batch_lines.
    """
    read = read_batch_lines(data)
    return read.rows, read.errors


def read_batch_lines(data: bytes) -> CsvRows:
    """Parse an uploaded batch: every data line is a row, numbered by its position after the
    header (1 = the line after it), so row + 1 is its line in the file (when no quoted field
    spans lines). A blank line and a row of empty cells (',,,,,') are refused with their reason
    like any other bad row: the answers have one line per data line, and their counts add up.

    Raises:
        BatchFileError: the file as a whole is unusable (empty, > MAX_BATCH_BYTES, binary, not
            UTF-8, malformed CSV, a wrong header, no non-blank data row, more than
            MAX_BATCH_ROWS non-blank rows).
    """
    reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    rows: list[MatchupInput] = []
    errors: list[RowError] = []
    cells: dict[int, dict[str, str]] = {}
    try:
        columns = _header(next(reader, []))
        given = 0
        for number, fields in enumerate(reader, start=1):
            cells[number] = _cells(fields, columns)
            given += bool(fields)  # a blank line costs nothing: not counted against the limit
            if given > MAX_BATCH_ROWS:
                raise BatchFileError(
                    f"The file has more than {MAX_BATCH_ROWS:,} rows: split it into files of at "
                    f"most {MAX_BATCH_ROWS:,} rows."
                )
            try:
                rows.append(_row_input(number, fields, columns))
            except PokedexError as error:
                errors.append(RowError(number, error.message, error.hint, error))
    except csv.Error as error:
        raise BatchFileError(
            f"The file is not a well-formed CSV (line {reader.line_num:,}: {error}): put a field "
            'that holds a comma or a quote in double quotes ("Thunderbolt,Surf"), double a quote '
            "inside one, and use the corrected file."
        ) from None
    if not given:
        raise BatchFileError(
            "The file has a header but no matchup rows: add one matchup per line under it, "
            "e.g. Pikachu,Onix."
        )
    return CsvRows(rows, errors, cells)


def neutralise(value: object) -> object:
    """A text cell made inert for spreadsheets: a leading = + - @ tab CR or LF gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def result_frame(
    result: BatchResult, read: CsvRows, move_names: dict[str, str] | None = None
) -> pd.DataFrame:
    """Every data line in input order: the answer (names from the roster, the levels and moves
    used) or the line's cells as given (`read.given`) and its reason in `error`.

    `move_names` maps move ids to the names shown (Seismic Toss for seismictoss); ids are kept
    for moves it lacks; an uploaded file may name moves either way. `level_a`/`level_b` hold
    ints for answered rows and the text given (e.g. 'abc') for refused ones.
    """
    import pandas as pd

    shown = move_names or {}
    lines: dict[int, dict] = {row: dict(cells) for row, cells in read.given.items()}
    answers = result.answers
    for row, name_a, name_b, level_a, level_b, moves_a, moves_b, p, winner in zip(
        answers["row"], answers["name_a"], answers["name_b"], answers["level_a"],
        answers["level_b"], answers["moves_a"], answers["moves_b"], answers["p_a_wins"],
        answers["winner"], strict=True,
    ):  # fmt: skip
        lines[int(row)] = {
            "pokemon_a": name_a,
            "pokemon_b": name_b,
            "level_a": int(level_a),
            "level_b": int(level_b),
            "moves_a": "; ".join(shown.get(move, move) for move in moves_a),
            "moves_b": "; ".join(shown.get(move, move) for move in moves_b),
            "p_a_wins": round(float(p), 6),
            "winner": winner,
            "model_version": result.model_version,
            "source": result.source,
        }
    for error in [*read.errors, *result.errors]:
        line = lines.setdefault(error.row, {})
        line["error"] = f"{error.message} {error.hint}".strip()
    frame = pd.DataFrame(
        [{"row": row, **lines[row]} for row in sorted(lines)], columns=OUTPUT_COLUMNS
    )
    return frame.astype({"level_a": object, "level_b": object, "p_a_wins": "float64"})


def write_batch_csv(frame: pd.DataFrame) -> bytes:
    """The result frame as UTF-8 CSV bytes, every text cell neutralised (see `neutralise`)."""
    safe = frame.astype(object).map(neutralise)
    return safe.to_csv(index=False, lineterminator="\n").encode("utf-8")


def predict_csv(served: ServedModel, data: bytes) -> CsvBatch:
    """Read a batch CSV, answer its valid rows with one model version, list the invalid ones.

    Raises:
        BatchFileError: the file as a whole is unusable (see read_batch_csv).
    """
    read = read_batch_lines(data)
    result = predict_batch(served, read.rows)
    names = {move_id: move.name for move_id, move in load_pokedex(served.roster).moves.items()}
    return CsvBatch(result, tuple(read.errors), result_frame(result, read, names))
