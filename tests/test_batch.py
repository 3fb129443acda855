"""The batch (core.predict.batch, batch_csv and `python -m core.predict batch`) on a tiny real model.

Each valid row gets exactly predict_winner's answer; invalid rows get their reason while the others
are answered; whole-file problems are one clear BatchFileError; the download is formula-safe.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from core import artifacts
from core.config import Settings
from core.predict import PredictionModel
from core.predict import batch as batch_module
from core.predict.batch import MAX_BATCH_ROWS, BatchTooLargeError, MatchupInput, predict_batch
from core.predict.batch_csv import (
    MAX_BATCH_BYTES,
    BatchFileError,
    predict_csv,
    read_batch_csv,
    write_batch_csv,
)
from tests.cli import run_cli
from tests.tiny_models import write_matchup_model

HEADER = "pokemon_a,pokemon_b,level_a,level_b,moves_a,moves_b\n"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> PredictionModel:
    root = tmp_path_factory.mktemp("batch")
    settings = Settings(
        tracking_uri="http://127.0.0.1:9",  # nothing listens: the local model serves
        use_registry=False,
        models_dir=root / "models",
        artifacts_dir=root / "mlartifacts",
    )
    write_matchup_model(root / "tiny")
    artifacts.install_local_model(root / "tiny", settings.models_dir, settings.model_name, "7")
    return PredictionModel(settings)


MIXED_ROWS = [
    MatchupInput(1, "Venusaur", "Dragonite"),
    MatchupInput(2, "Alolan Raichu", "Mega Charizard X", 40, 60),
    MatchupInput(3, "Pikachuu", "Onix"),  # unknown name
    MatchupInput(4, "Ditto", "Onix", 7),  # Struggle only
    MatchupInput(5, "Pikachu", "Onix", "abc"),  # bad level
    MatchupInput(6, "Pikachu", "Onix", moves_a=["Surf"]),  # cannot learn it
    MatchupInput(7, "Mr. Mime", "Farfetch'd", moves_a="Psychic", level_b=99),
    MatchupInput(8, "Venusaur", "Dragonite"),  # a repeat of row 1
    MatchupInput(9, "Pikachu", "Onix", 101),  # level out of range
    MatchupInput(10, "Partner Pikachu", "Partner Eevee", moves_a=("Thunderbolt",)),
]


def test_valid_rows_get_predict_winners_answer_and_invalid_rows_their_reason(model):
    result = predict_batch(model.get_model(), MIXED_ROWS)
    assert (result.count, result.succeeded, result.failed) == (10, 6, 4)
    assert (result.model_version, result.source) == ("7", "local")
    assert result.answers["row"].tolist() == [1, 2, 4, 7, 8, 10]
    reasons = {error.row: error.message for error in result.errors}
    assert "Closest matches: Pikachu" in reasons[3]
    assert "level_a='abc' is not a whole number" in reasons[5]
    assert "cannot learn Surf" in reasons[6]
    assert "level_a=101 is out of range" in reasons[9]
    spread = set()
    for answer in result.answers.to_dict("records"):
        given = next(r for r in MIXED_ROWS if r.row == answer["row"])
        single = model.predict_winner(
            given.pokemon_a, given.pokemon_b, given.level_a, given.level_b,
            given.moves_a, given.moves_b,
        )  # fmt: skip
        assert answer["p_a_wins"] == pytest.approx(single.p_a_wins, abs=1e-7), answer["row"]
        assert (answer["moves_a"], answer["moves_b"]) == (single.moves_a, single.moves_b)
        assert (answer["pokemon_a"], answer["winner"]) == (single.pokemon_a, single.winner)
        spread.add(round(answer["p_a_wins"], 6))
    assert len(spread) >= 3, "the tiny model should tell these matchups apart"
    assert result.answers.loc[result.answers["row"] == 4, "moves_a"].item() == ["struggle"]


def test_one_scoring_call_for_all_valid_rows(model, monkeypatch):
    """Vectorised: the shared scoring function runs once, over the distinct configurations."""
    calls: list[int] = []
    real = batch_module.score_configurations

    def counting(served, dex, arrays, rows=None):
        calls.append(len(arrays.a))
        return real(served, dex, arrays, rows)

    monkeypatch.setattr(batch_module, "score_configurations", counting)
    rows = [MatchupInput(i, "Snorlax", "Pikachu", 1 + i % 100) for i in range(MAX_BATCH_ROWS)]
    result = predict_batch(model.get_model(), rows)
    assert result.succeeded == MAX_BATCH_ROWS and calls == [100]
    with pytest.raises(BatchTooLargeError, match="at most 10,000"):
        predict_batch(model.get_model(), [*rows, rows[0]])


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return (header + "\n".join(lines) + "\n").encode("utf-8")


def run_batch_cli(model, tmp_path: Path, lines: list[str]) -> tuple[dict, Path]:
    """`python -m core.predict batch in.csv --out out.csv` on these lines (exit 0 asserted):
    the printed summary and the path of the answers."""
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(csv_bytes(*lines))
    done = run_cli("core.predict", ["batch", str(source), "--out", str(out)], model.settings)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), out


def test_a_mixed_csv_answers_the_valid_rows_and_lists_the_invalid_ones(model):
    data = csv_bytes(
        "Venusaur,Dragonite,,,,",
        "Raichu-Alola,Mega Charizard X,40,60,,",
        ",Onix,,,,",  # empty name
        'Pikachu,Onix,50,50,"Thunderbolt; Quick Attack",',
        "Pikachu,Onix,50,50,Thunderbolt|Surf,",
        "",  # a blank line is a row too: refused, so row numbers stay the file's lines - 1
        "Pikachu,Onix,50,50,,,extra",  # one field too many
        "Pikachu,Onix,0,,,",
    )
    batch = predict_csv(model.get_model(), data)
    assert batch.table["row"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert batch.answered["row"].tolist() == [1, 2, 4]
    refused = dict(zip(batch.refused["row"], batch.refused["error"], strict=True))
    assert set(refused) == {3, 5, 6, 7, 8}
    assert "pokemon_a is empty" in refused[3]
    assert "cannot learn Surf" in refused[5]
    assert "line is blank" in refused[6] and "Delete the line" in refused[6]
    assert "7 fields for 6 columns (extra: 'extra')" in refused[7]
    assert "level_a=0 is out of range" in refused[8]
    answered = batch.answered.set_index("row")
    assert answered.loc[2, "pokemon_a"] == "Raichu-Alola"
    assert answered.loc[4, "moves_a"] == "Thunderbolt; Quick Attack"  # shown by name
    assert set(answered["model_version"]) == {"7"} and set(answered["source"]) == {"local"}
    assert answered["p_a_wins"].between(0, 1).all()


def test_only_the_two_names_are_required(model):
    batch = predict_csv(model.get_model(), b"Pokemon_A, pokemon-b\r\nsnorlax,pikachu\r\n")
    assert batch.answered["level_a"].tolist() == [50]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"  \n\n ", "The file is empty"),
        (b"pokemon_a,pokemon_b\n", "a header but no matchup rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes"),
        (b"pokemon_a,pokemon_b\npika\x00chu,onix\n", "NUL bytes"),
        ("pokemon_a,pokemon_b\nPikachu,Onix\n".encode("utf-16"), "UTF-16"),
        ("pokemon_a,pokemon_b\nFlabébé,Onix\n".encode("latin-1"), "not UTF-8"),
        (b"pokemon_a,pokemon_b\n\"Pikachu,Onix\n", "not a well-formed CSV"),
        (b"pokemon_a,pokemon_b\n\"Pika\"chu,Onix\n", "not a well-formed CSV"),
        (b"name_a,name_b\nPikachu,Onix\n", "missing pokemon_a, pokemon_b"),
        (b"pokemon_a,pokemon_b,levle_a\nPikachu,Onix,5\n", "unknown column(s) 'levle_a'"),
        (b"Pikachu,Onix\nSnorlax,Mew\n", "missing pokemon_a"),
        (b"pokemon_a,pokemon_b,pokemon_a\nPikachu,Onix,Mew\n", "repeats pokemon_a"),
        (b"pokemon_a,pokemon_b\n" + b"Pikachu,Onix\n" * (MAX_BATCH_ROWS + 1), "more than 10,000"),
        (b"pokemon_a,pokemon_b\n" + b"x" * MAX_BATCH_BYTES, "at most 2 MB"),
        (b"pokemon_a,pokemon_b\n\"" + b"x" * 200_000 + b"\",Onix\n", "not a well-formed CSV"),
    ],
    ids=[
        "empty", "blank", "header only", "png", "nul", "utf16", "latin1", "open quote",
        "stray quote", "wrong header", "typo column", "no header", "repeated column",
        "10001 rows", "oversized", "field past csv's limit",
    ],
)  # fmt: skip
def test_unusable_files_get_one_clear_message(data, message):
    with pytest.raises(BatchFileError) as caught:
        read_batch_csv(data)
    assert message in caught.value.message
    assert caught.value.hint  # says what to do


def test_ten_thousand_rows_are_read_and_a_huge_field_is_a_row_error():
    rows, errors = read_batch_csv(b"pokemon_a,pokemon_b\n" + b"Pikachu,Onix\n" * MAX_BATCH_ROWS)
    assert len(rows) == MAX_BATCH_ROWS and not errors
    rows, errors = read_batch_csv(csv_bytes("Pikachu,Onix", "P" * 5000 + ",Onix"))
    assert len(rows) == 1 and [e.row for e in errors] == [2]
    assert "pokemon_a is 5,000 characters long" in errors[0].message


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_injection_is_neutralised_in_the_download(model, start):
    payload = f"{start}=cmd|' /C calc'!A0"
    quoted = '"' + payload.replace('"', '""') + '"'
    data = csv_bytes(f"{quoted},Onix,,,,", f"Pikachu,{quoted},,,{quoted},")
    batch = predict_csv(model.get_model(), data)
    assert len(batch.refused) == 2
    cells = [
        cell
        for line in csv.reader(io.StringIO(write_batch_csv(batch.table).decode()))
        for cell in line
    ]
    assert cells and not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    echoed = [cell for cell in cells if cell.endswith("=cmd|' /C calc'!A0")]
    assert echoed and all(cell.startswith("'") for cell in echoed)  # the input is echoed, inert


def test_the_cli_writes_the_answers_and_reports_the_refusals(model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes("Venusaur,Dragonite,,,,", "Pikachuu,Onix,,,,", "=1+1,Onix,,,,"))
    out = tmp_path / "out.csv"
    done = run_cli("core.predict", ["batch", str(source), "--out", str(out)], model.settings)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rows"], summary["answered"], summary["refused"]) == (3, 1, 2)
    assert summary["model_version"] == "7" and summary["source"] == "local"
    assert "Closest matches: Pikachu" in summary["errors"][0]["error"]
    lines = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    single = model.predict_winner("Venusaur", "Dragonite")
    assert float(lines[0]["p_a_wins"]) == pytest.approx(single.p_a_wins, abs=1e-6)
    assert lines[2]["pokemon_a"] == "'=1+1"
    source.write_bytes(b"\x00\x01binary")
    done = run_cli("core.predict", ["batch", str(source), "--out", str(out)], model.settings)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: The file contains NUL bytes")
    missing = tmp_path / "nowhere.csv"
    done = run_cli("core.predict", ["batch", str(missing), "--out", str(out)], model.settings)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "cannot read" in done.stderr and "pokemon_a,pokemon_b" in done.stderr


def test_duplicates_are_scored_once_and_answered_in_place(model):
    rows = [MatchupInput(i, name, "Onix") for i, name in enumerate(["Mew", "Onix", "Mew", "Mew"])]
    answers = predict_batch(model.get_model(), rows).answers
    p = answers["p_a_wins"].to_numpy()
    assert p[0] == p[2] == p[3] and np.isfinite(p).all()
    assert answers["pokemon_a"].tolist() == ["mew", "onix", "mew", "mew"]


def test_a_mirror_row_names_nobody_as_predict_winner_does(model):
    """P(A wins) exactly ½ (a mirror) is "even" with no winner id, in the batch as in one answer."""
    rows = [MatchupInput(1, "Pikachu", "pikachu"), MatchupInput(2, "Mewtwo", "Magikarp")]
    answers = predict_batch(model.get_model(), rows).answers
    assert answers["p_a_wins"].tolist()[0] == 0.5
    assert (answers["winner"][0], answers["winner_id"][0]) == ("even", None)
    one = model.predict_winner("Mewtwo", "Magikarp")
    assert (answers["winner"][1], answers["winner_id"][1]) == (one.winner, one.winner_id)
    mirror = model.predict_winner("Pikachu", "pikachu")
    assert (mirror.winner, mirror.winner_id) == ("even", None)


def test_row_numbers_are_positions_in_the_file_blank_rows_counted():
    text = HEADER + "Venusaur,Dragonite,,,,\n,,,,,\n\nPikachu,,,,,\n   ,  ,,,,\nOnix,Pikachu,,,,\n"
    rows, errors = read_batch_csv(text.encode())
    assert [r.row for r in rows] == [1, 6]  # file lines 2 and 7
    # Rows of empty cells and blank lines are rows the user gave: refused with their reason.
    assert [e.row for e in errors] == [2, 3, 4, 5]  # "Pikachu," is the file's line 5
    assert "Every cell of this row is empty" in errors[0].message and errors[0].hint
    assert "blank" in errors[1].message and errors[1].hint
    lines = text.splitlines()
    assert lines[errors[2].row].startswith("Pikachu,") and lines[rows[1].row].startswith("Onix,")


def test_a_row_of_empty_cells_gets_its_line_and_is_counted(model, tmp_path):
    """From a new user's trial: input row 8 ',,,,,' had no output line ('rows 11 of 12')."""
    given = ["Venusaur,Dragonite,,,,"] * 7 + [",,,,,"] + ["Pikachu,Onix,50,50,,"] * 4
    summary, out = run_batch_cli(model, tmp_path, given)
    assert (summary["rows"], summary["answered"], summary["refused"]) == (12, 11, 1)
    assert summary["errors"][0]["row"] == 8
    assert "every cell of this row is empty" in summary["errors"][0]["error"].lower()
    assert "delete the row" in summary["errors"][0]["error"]
    written = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [int(line["row"]) for line in written] == list(range(1, 13))  # one line per row
    assert written[7]["error"] and not written[7]["p_a_wins"]


@pytest.mark.parametrize(
    ("data", "action"),
    [
        ("pokemon_a,pokemon_b\nPikachu,Onix\n".encode("utf-16"), "save it as UTF-8"),
        ("pokemon_a,pokemon_b\nFlabébé,Onix\n".encode("latin-1"), "save it as UTF-8"),
        (b"name_a,name_b\nPikachu,Onix\n", "the first line must be pokemon_a,pokemon_b[,level_a,"),
        (b"pokemon_a,pokemon_b,levle_a\nPikachu,Onix,5\n", "the first line must be pokemon_a,"),
        (b"pokemon_a,pokemon_b,pokemon_a\nPikachu,Onix,Mew\n", "name each column once"),
        (b"", "first line is the header pokemon_a,pokemon_b[,level_a"),
        (b"pokemon_a,pokemon_b\n", "add one matchup per line"),
        (b'pokemon_a,pokemon_b\n"Pikachu,Onix\n', "in double quotes"),
        (b"pokemon_a,pokemon_b\n" + b"Pikachu,Onix\n" * (MAX_BATCH_ROWS + 1), "split it into"),
        (b"pokemon_a,pokemon_b\npika\x00chu,onix\n", "export the table as CSV UTF-8"),
    ],
    ids=["utf16", "latin1", "header", "typo", "repeat", "empty", "no rows", "quote", "rows", "nul"],
)
def test_the_message_alone_says_what_to_do(data, action, model, tmp_path):
    """The CLI prints the message without the hint: the message must carry the action."""
    with pytest.raises(BatchFileError) as caught:
        read_batch_csv(data)
    assert action in caught.value.message, caught.value.message
    if data.startswith(b"\xff\xfe"):  # and through the real CLI, on one line
        source = tmp_path / "in.csv"
        source.write_bytes(data)
        done = run_cli("core.predict", ["batch", str(source), "--out", str(tmp_path / "o.csv")],
                       model.settings)  # fmt: skip
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert "UTF-16" in done.stderr and "save it as UTF-8" in done.stderr, done.stderr


def test_the_cli_refuses_to_overwrite_its_input_and_names_a_missing_folder(model, tmp_path):
    source = tmp_path / "in.csv"
    original = csv_bytes("Venusaur,Dragonite,,,,")
    source.write_bytes(original)
    (tmp_path / "link.csv").symlink_to(source)
    os.link(source, tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    for out in (source, tmp_path / "sub" / ".." / "in.csv", tmp_path / "link.csv",
                tmp_path / "hard.csv"):  # fmt: skip
        done = run_cli("core.predict", ["batch", str(source), "--out", str(out)], model.settings)
        assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
        assert "is the input file" in done.stderr and "another --out" in done.stderr, out
        assert source.read_bytes() == original
    done = run_cli("core.predict", ["batch", str(source), "--out", "/nonexistent/o.csv"],
                   model.settings)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "the folder /nonexistent does not exist" in done.stderr and "Errno" not in done.stderr
    assert not Path("/nonexistent").exists()
    done = run_cli("core.predict", ["batch", str(source), "--out", str(tmp_path / "sub")],
                   model.settings)  # fmt: skip
    assert done.returncode == 2 and "is a folder" in done.stderr


def test_every_data_line_comes_out_with_its_cells_and_the_counts_add_up(model, tmp_path):
    """From a new user's trial: the blank line 2 had no output line ('rows: 11' for 12 lines)
    and refused rows lost their inputs (`Pikachu` with an empty pokemon_a, level 0 / abc and a
    7-field row blank). Every data line is now one output line, in order, with its error."""
    given = [
        "Venusaur,Dragonite,50,50,,",
        "",  # the blank line
        "Pikachu",  # a row of one cell
        "Pikachu,Onix,0,50,Thunderbolt,",
        "Pikachu,Onix,abc,50,,",
        "Pikachu,Onix,50,60,Thunderbolt,,extra",  # 7 fields for 6 columns
        "=1+1,Onix,+5,50,,",
        *["Pikachu,Onix,50,50,,"] * 5,
    ]
    summary, out = run_batch_cli(model, tmp_path, given)
    assert (summary["rows"], summary["answered"], summary["refused"]) == (12, 6, 6)
    assert [e["row"] for e in summary["errors"]] == [2, 3, 4, 5, 6, 7]
    written = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [int(line["row"]) for line in written] == list(range(1, 13))
    cells = ["pokemon_a", "pokemon_b", "level_a", "level_b", "moves_a", "moves_b"]
    as_given = {int(line["row"]): [line[c] for c in cells] for line in written}
    assert as_given[2] == [""] * 6 and "line is blank" in written[1]["error"]
    assert as_given[3] == ["Pikachu", "", "", "", "", ""]
    assert "pokemon_b is empty" in written[2]["error"]
    assert as_given[4] == ["Pikachu", "Onix", "0", "50", "Thunderbolt", ""]
    assert "level_a=0 is out of range" in written[3]["error"]
    assert as_given[5] == ["Pikachu", "Onix", "abc", "50", "", ""]
    assert as_given[6] == ["Pikachu", "Onix", "50", "60", "Thunderbolt", ""]
    assert "7 fields for 6 columns (extra: 'extra')" in written[5]["error"]
    assert as_given[7][:3] == ["'=1+1", "Onix", "'+5"]  # echoed, neutralised
    assert all(line["error"] and not line["p_a_wins"] for line in written[1:7])
    assert all(not line["error"] and line["p_a_wins"] for line in written[7:] + written[:1])


def test_refused_rows_name_the_field_they_are_about(model):
    """Each refusal carries the input it is about, per side, even when both sides repeat it."""
    rows = [
        MatchupInput(0, "Pikachuu", "Onix"),
        MatchupInput(1, "Onix", "Pikachuu"),  # the same unknown name, now on side B
        MatchupInput(2, "Pikachu", "Onix", level_b=0),
        MatchupInput(3, "Pikachu", "Pikachu", moves_a=["Surf"]),
        MatchupInput(4, "Pikachu", "Pikachu", moves_b=["Surf"]),  # same moveset, side B
        MatchupInput(5, "Pikachu", "Onix", "abc"),
    ]
    result = predict_batch(model.get_model(), rows)
    fields = [error.error.field for error in result.errors]
    assert fields == ["pokemon_a", "pokemon_b", "level_b", "moves_a", "moves_b", "level_a"]
    _, errors = read_batch_csv(csv_bytes(",Onix,,,,", "Pikachu,,,,,", "P" * 300 + ",Onix,,,,"))
    assert [error.error.field for error in errors] == ["pokemon_a", "pokemon_b", "pokemon_a"]
