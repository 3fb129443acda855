"""The shape of the code, checked on the source (ast): sizes, one error base, no text parsing.

These are the redesign's promises (issue 10) kept true by a test rather than by memory:
- no file under core/, app/, pages/ or api/ over 450 lines, no class over 200, no function over 60;
- every exception class defined in core/ subclasses `PredictionDexError`;
- no code decides by reading an exception's text (`str(error).split(":")`, `"x" in str(error)`, ...);
- one oracle implementation, one previous-holder implementation, one health probe.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import core
from core.errors import PredictionDexError

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("core", "app", "pages", "api")
MAX_FILE_LINES = 450
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60
# String methods that read a message's content (split() with no argument only normalises spaces).
TEXT_READERS = {
    "split",
    "rsplit",
    "partition",
    "rpartition",
    "removeprefix",
    "removesuffix",
    "startswith",
    "endswith",
    "find",
    "index",
    "replace",
}


def _sources() -> list[Path]:
    files = []
    for folder in SOURCE_DIRS:
        if (ROOT / folder).is_dir():
            files.extend(sorted((ROOT / folder).rglob("*.py")))
    return [f for f in files if "__pycache__" not in f.parts]


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", _sources(), ids=_relative)
def test_file_class_and_function_sizes(path: Path) -> None:
    """Files <= 450 lines, classes <= 200, functions <= 60 (decorators and docstrings included)."""
    source = path.read_text(encoding="utf-8")
    too_big = []
    lines = len(source.splitlines())
    if lines > MAX_FILE_LINES:
        too_big.append(f"file has {lines} lines (max {MAX_FILE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and _span(node) > MAX_CLASS_LINES:
            too_big.append(f"class {node.name} has {_span(node)} lines (max {MAX_CLASS_LINES})")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _span(node) > MAX_FUNCTION_LINES:
                too_big.append(
                    f"function {node.name} (line {node.lineno}) has {_span(node)} lines "
                    f"(max {MAX_FUNCTION_LINES})"
                )
    assert not too_big, f"{_relative(path)}: " + "; ".join(too_big)


def _mentions(node: ast.AST, name: str) -> bool:
    """True when the expression reads the exception's text: str(e), repr(e), e.args, e.message."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
            if inner.func.id in {"str", "repr", "format"} and any(
                isinstance(arg, ast.Name) and arg.id == name for arg in inner.args
            ):
                return True
        if isinstance(inner, ast.JoinedStr) and any(
            isinstance(part, ast.FormattedValue)
            and isinstance(part.value, ast.Name)
            and part.value.id == name
            for part in inner.values
        ):
            return True
        if (
            isinstance(inner, ast.Attribute)
            and isinstance(inner.value, ast.Name)
            and inner.value.id == name
            and inner.attr in {"args", "message"}
        ):
            return True
    return False


def text_parsing_sites(source: str) -> list[int]:
    """Lines where an except block reads its exception's text to decide something."""
    sites = []
    for handler in ast.walk(ast.parse(source)):
        if not isinstance(handler, ast.ExceptHandler) or not handler.name:
            continue
        for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in TEXT_READERS
                and (node.args or node.func.attr != "split")
                and _mentions(node.func.value, handler.name)
            ):
                sites.append(node.lineno)
            if isinstance(node, ast.Compare) and any(
                isinstance(op, ast.In | ast.NotIn) for op in node.ops
            ):
                if any(_mentions(side, handler.name) for side in node.comparators):
                    sites.append(node.lineno)
    return sites


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("try:\n    f()\nexcept E as e:\n    x = str(e).split(' Ways out:')[0]\n", True),
        ("try:\n    f()\nexcept E as e:\n    x = str(e).removeprefix('untrusted model: ')\n", True),
        ("try:\n    f()\nexcept E as e:\n    if 'locked' in str(e):\n        pass\n", True),
        ("try:\n    f()\nexcept E as e:\n    ok = e.args[0].startswith('No model')\n", True),
        ("try:\n    f()\nexcept E as e:\n    text = ' '.join(str(e).split())\n", False),
        ("try:\n    f()\nexcept E as e:\n    kind = e.kind\n", False),
    ],
)
def test_text_parsing_detector(snippet: str, flagged: bool) -> None:
    """The detector itself: it flags reading an error's text and lets kinds and spacing pass."""
    assert bool(text_parsing_sites(snippet)) is flagged


@pytest.mark.parametrize("path", _sources(), ids=_relative)
def test_no_decision_reads_an_error_message(path: Path) -> None:
    """Errors carry a kind; no except block parses another error's message."""
    sites = text_parsing_sites(path.read_text(encoding="utf-8"))
    assert not sites, f"{_relative(path)} reads an exception's text at lines {sites}"


def _core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(core.__path__, prefix="core."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def test_every_core_exception_subclasses_the_project_base() -> None:
    """Every exception class defined in core/ is a PredictionDexError (caught once by callers)."""
    strays = []
    for name in _core_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            if not issubclass(cls, PredictionDexError):
                strays.append(f"{name}.{cls.__name__}")
    assert not strays, f"not PredictionDexError subclasses: {strays}"


def _grep(pattern: str, folder: str = "core") -> list[str]:
    regex = re.compile(pattern)
    hits = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if regex.search(line):
                hits.append(f"{_relative(path)}:{number}")
    return hits


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("oracle accuracy", r"maximum\(p, 1 - p\)|np\.maximum\(p"),
        ("previous-holder", r"def \w*previous_holder"),
        ("health probe", r"/health['\"]"),
    ],
)
def test_one_implementation(what: str, pattern: str) -> None:
    """One oracle, one previous-holder function and one health probe in core/ and app/."""
    hits = _grep(pattern, "core") + _grep(pattern, "app")
    assert len(hits) == 1, f"{what}: expected one implementation, found {hits}"
