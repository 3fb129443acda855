"""Usage mistakes on the training, registry and jobs CLIs, as real processes: one `error:` line
that names the valid choices (exit 2), never argparse's whole usage block, and a --version label
checked at parse time, before any store, run or simulation exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from tests.cli import run_cli


def settings_in(folder: Path) -> Settings:
    """A store and folders that do not exist yet: any work at all would create them."""
    return Settings(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifacts_dir=folder / "mlartifacts",
        models_dir=folder / "models",
    )


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "usage:" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("module", "argv", "choices"),
    [
        ("core.train", ["--scenario", "best"], ("'best_move'", "'random_move'", "'all'")),
        ("core.registry", ["frobnicate"], ("'list'", "'promote'", "'rollback'", "'audit'")),
        ("core.jobs", ["frobnicate"], ("'train'", "'estimate'", "'calibrate'")),
        ("core.jobs", ["train", "--model", "lightgbm"], ("'xgboost'", "'random_forest'")),
    ],
)
def test_an_invalid_choice_is_one_error_line_naming_the_choices(tmp_path, module, argv, choices):
    done = run_cli(module, argv, settings_in(tmp_path))
    line = one_error_line(done.stderr)
    assert done.returncode == 2, done
    assert "invalid choice" in line and all(choice in line for choice in choices), line
    assert f"python -m {module} --help" in line, line


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("core.train", ["--version", "../x"]),
        ("core.train", ["--no-mlflow", "--version", "a\\b"]),
        ("core.train", ["--version", "x" * 101]),
        ("core.jobs", ["train", "--version", "../x"]),
    ],
)
def test_a_bad_version_label_is_refused_before_any_work(tmp_path, module, argv):
    done = run_cli(module, argv, settings_in(tmp_path), cwd=tmp_path)
    line = one_error_line(done.stderr)
    assert done.returncode == 2, done
    assert line.startswith("error: argument --version: "), line
    assert "100 characters" in line or "a label is letters, digits, spaces" in line, line
    assert done.stdout == "", done.stdout  # no "estimated duration", no "Model trained"
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())  # no store, run or model


def test_a_good_label_passes_the_parser_stripped():
    from core.jobs.cli import build_parser as jobs_parser
    from core.train.cli import build_parser as train_parser

    assert train_parser().parse_args(["--version", " tuned (depth 6), seed 7 "]).version == (
        "tuned (depth 6), seed 7"
    )
    assert jobs_parser().parse_args(["train", "--version", "v2_é"]).version == "v2_é"
    assert train_parser().parse_args([]).version == ""
