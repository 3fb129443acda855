"""The design's rules, checked on the source: import direction, who talks to MLflow, no pickle.

The checks parse the code (ast) and resolve import aliases, so `import mlflow.sklearn as m;
m.load_model()` is seen for what it is and a word in a comment or docstring is not a call.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve()
SOURCE_DIRS = ("app", "core", "pages", "api")
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", "mlartifacts", "mlruns"}
DOC_SUFFIXES = {".md", ".rst"}
# Built from pieces so that this file does not contain the names it forbids.
STAGE_APIS = ("transition_model_version" + "_stage", "get_latest" + "_versions")
ML_LIBRARIES = ("mlflow", "xgboost", "sklearn", "skops")
# Anything that unpickles: by qualified name (a prefix matches its attributes too).
UNPICKLERS = (
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "_pickle",
    "cPickle",
    "cloudpickle",
    "dill",
    "shelve",
    "joblib.load",
    "pandas.read_pickle",
    "torch.load",
)
ENV_READERS = ("os.getenv", "os.getenvb", "os.environb")
ARTIFACTS_MLFLOW_NAMES = {
    "mlflow",
    "mlflow.xgboost",
    "mlflow.sklearn",
    "mlflow.xgboost.save_model",
    "mlflow.sklearn.save_model",
}


@dataclass
class Facts:
    """What one Python file imports and which qualified names it uses."""

    imports: set[str] = field(default_factory=set)
    references: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    env_reads: list[int] = field(default_factory=list)
    pickle_loads: list[int] = field(default_factory=list)


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def analyse_source(source: str, module: str = "snippet") -> Facts:
    """Imports, alias-resolved qualified names, env reads and unpickling calls of a source."""
    tree = ast.parse(source)
    facts = Facts()
    aliases: dict[str, str] = {}
    package = module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                facts.imports.add(alias.name)
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(part for part in [*anchor, base] if part)
            facts.imports.add(base)
            for alias in node.names:
                facts.imports.add(f"{base}.{alias.name}")
                aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            target = _dotted(node.func)
            arguments = [arg.value if isinstance(arg, ast.Constant) else None for arg in node.args]
            if target in (["importlib", "import_module"], ["__import__"], ["import_module"]):
                if isinstance(arguments[0], str):
                    facts.imports.add(arguments[0])
            elif target == ["getattr"] and len(arguments) > 1 and isinstance(arguments[1], str):
                facts.names.add(arguments[1])  # getattr(client, "name") is a use of the name
        if isinstance(node, ast.Name):
            facts.names.add(node.id)
        elif isinstance(node, ast.Attribute):
            facts.names.add(node.attr)

    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute | ast.Name):
            continue
        parts = _dotted(node)
        if parts is None or parts[0] not in aliases:
            continue
        qualified = ".".join([aliases[parts[0]], *parts[1:]])
        facts.references.add(qualified)
        parent = parents.get(node)
        if qualified in ENV_READERS:
            facts.env_reads.append(node.lineno)
        elif qualified == "os.environ" and not _is_env_write(node, parent):
            facts.env_reads.append(node.lineno)
        if isinstance(parent, ast.Call) and parent.func is node:
            if _is_unpickling_call(qualified, parent):
                facts.pickle_loads.append(node.lineno)
        elif _matches(qualified, UNPICKLERS) and not isinstance(parent, ast.Attribute):
            facts.pickle_loads.append(node.lineno)
    facts.pickle_loads.extend(
        1 for name in facts.imports if _matches(name, ("cloudpickle", "dill", "shelve"))
    )
    return facts


def _is_env_write(node: ast.AST, parent: ast.AST | None) -> bool:
    """`os.environ[k] = v`, `del os.environ[k]` and `os.environ.update(...)` write, not read."""
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return isinstance(parent.ctx, ast.Store | ast.Del)
    return isinstance(parent, ast.Attribute) and parent.attr == "update"


def _is_unpickling_call(qualified: str, call: ast.Call) -> bool:
    if _matches(qualified, UNPICKLERS):
        return True
    if qualified.startswith("mlflow.") and qualified.endswith(".load_model"):
        return True  # MLflow's loaders unpickle; we load the model file ourselves
    if qualified == "numpy.load":
        return any(
            keyword.arg == "allow_pickle"
            and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False)
            for keyword in call.keywords
        )
    return False


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _roots(facts: Facts) -> set[str]:
    return {name.split(".")[0] for name in facts.imports if name}


@cache
def repo_files() -> tuple[Path, ...]:
    """Every file a clone would hold: tracked or new and not ignored (git), else a walk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        paths = [
            path
            for path in ROOT.rglob("*")
            if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
        ]
    return tuple(sorted(path for path in paths if path.is_file()))


def python_files(*directories: str) -> list[Path]:
    """The repository's .py files under the given top-level directories."""
    return [
        path
        for path in repo_files()
        if path.suffix == ".py" and path.relative_to(ROOT).parts[0] in directories
    ]


@cache
def facts_of(path: Path) -> Facts:
    """The parsed facts of one repository file."""
    return analyse_source(path.read_text(encoding="utf-8"), _module_name(path))


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


SOURCE_FILES = python_files(*SOURCE_DIRS)
CORE_FILES = python_files("core")
UI_FILES = python_files("app", "pages")


def test_the_scans_see_the_code() -> None:
    """The file lists are not empty: a rule checked on nothing would pass for nothing."""
    names = {_id(path) for path in CORE_FILES}
    assert {"core/config.py", "core/registry/__init__.py", "core/registry/store.py"} <= names
    assert any(_id(path).startswith("api/") for path in SOURCE_FILES)
    assert len(CORE_FILES) >= 3
    assert set(CORE_FILES) <= set(SOURCE_FILES)
    assert all(_id(path).startswith(("app/", "pages/")) for path in UI_FILES)
    assert any(path.suffix == ".py" for path in repo_files())
    assert THIS_FILE in repo_files()


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_id)
def test_imports_flow_one_way(path: Path) -> None:
    """pages/ -> app/ -> core/ and api/ -> core/: core imports no UI or web framework."""
    roots = _roots(facts_of(path))
    layer = path.relative_to(ROOT).parts[0]
    forbidden = {
        "core": {"streamlit", "app", "pages", "api", "fastapi", "uvicorn", "starlette"},
        "app": {"pages", "api", "fastapi"},
        "pages": {"api", "fastapi"},
        "api": {"streamlit", "app", "pages"},
    }[layer]
    assert not roots & forbidden, f"{_id(path)} imports {sorted(roots & forbidden)}"


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_id)
def test_ml_libraries_stay_in_core(path: Path) -> None:
    """Pages (and the app frame) never import mlflow, xgboost, sklearn or skops."""
    roots = _roots(facts_of(path))
    if _id(path).startswith("core/"):
        return  # core is where they belong; the next test narrows mlflow further
    assert not roots & set(ML_LIBRARIES), f"{_id(path)} imports {sorted(roots & set(ML_LIBRARIES))}"


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_id)
def test_only_registry_talks_to_mlflow(path: Path) -> None:
    """core/registry/ owns MlflowClient; core/artifacts/files.py may only call the save_model flavors."""
    facts = facts_of(path)
    mlflow_imports = {name for name in facts.imports if _matches(name, ("mlflow",))}
    mlflow_names = {name for name in facts.references if _matches(name, ("mlflow",))}
    relative = _id(path)
    if relative.startswith("core/registry/"):
        return
    assert "MlflowClient" not in facts.names, f"{relative} uses MlflowClient"
    if relative == "core/artifacts/files.py":
        assert mlflow_imports <= {"mlflow.xgboost", "mlflow.sklearn"}, sorted(mlflow_imports)
        assert mlflow_names <= ARTIFACTS_MLFLOW_NAMES, sorted(mlflow_names - ARTIFACTS_MLFLOW_NAMES)
        return
    assert not mlflow_imports, f"{relative} imports {sorted(mlflow_imports)}"


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_id)
def test_nothing_unpickles(path: Path) -> None:
    """No pickle/joblib/cloudpickle loading and no MLflow loader: models load from UBJ or skops."""
    lines = facts_of(path).pickle_loads
    assert not lines, f"{_id(path)} unpickles at lines {lines}"


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_id)
def test_only_config_reads_the_environment(path: Path) -> None:
    """Environment variables are read in core/config.py and nowhere else."""
    lines = facts_of(path).env_reads
    if _id(path) == "core/config.py":
        assert lines, "core/config.py reads the environment: the checker must see it"
        return
    assert not lines, f"{_id(path)} reads os.environ/os.getenv at lines {lines}"


def test_no_stage_api_anywhere() -> None:
    """MLflow 3 deprecated stages: no file uses the stage APIs (aliases instead).

    In Python a use is an attribute, a name or a getattr string, not a string that merely names
    them (other tests list them too); in other files (Makefile, scripts, YAML) any mention counts.
    """
    offenders = []
    scanned = 0
    for path in repo_files():
        if (
            path == THIS_FILE
            or path.suffix in DOC_SUFFIXES
            or path.relative_to(ROOT).parts[0] == "docs"
        ):
            continue
        if path.suffix == ".py":
            facts = facts_of(path)
            used = {api for api in STAGE_APIS if api in facts.names}
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            used = {api for api in STAGE_APIS if api in text}
        scanned += 1
        offenders.extend(f"{_id(path)}: {api}" for api in sorted(used))
    assert scanned >= len(CORE_FILES)
    assert not offenders, offenders


def test_no_pickle_file_in_the_repository() -> None:
    """No .pkl (or other pickle) file is tracked: models are UBJ/skops with a hash manifest."""
    files = repo_files()
    assert files
    pickles = [_id(path) for path in files if path.suffix in {".pkl", ".pickle", ".joblib"}]
    assert not pickles, pickles


@pytest.mark.parametrize(
    ("source", "check"),
    [
        ("import streamlit as st", lambda f: "streamlit" in _roots(f)),
        ("from streamlit import cache_data", lambda f: "streamlit" in _roots(f)),
        ("def f():\n    import sklearn.ensemble", lambda f: "sklearn" in _roots(f)),
        ("import importlib\nimportlib.import_module('xgboost')", lambda f: "xgboost" in _roots(f)),
        ("from mlflow import MlflowClient\nMlflowClient()", lambda f: "MlflowClient" in f.names),
        ("import mlflow.tracking as t\nt.MlflowClient()", lambda f: "MlflowClient" in f.names),
        ("import pickle\npickle.load(open('m', 'rb'))", lambda f: f.pickle_loads),
        ("import pickle as p\np.loads(b'')", lambda f: f.pickle_loads),
        ("from pickle import loads\nloads(b'')", lambda f: f.pickle_loads),
        ("import joblib\njoblib.load('m')", lambda f: f.pickle_loads),
        ("import cloudpickle", lambda f: f.pickle_loads),
        ("import pandas as pd\npd.read_pickle('x')", lambda f: f.pickle_loads),
        ("import numpy as np\nnp.load('x', allow_pickle=True)", lambda f: f.pickle_loads),
        ("import mlflow.sklearn\nmlflow.sklearn.load_model('m')", lambda f: f.pickle_loads),
        ("from mlflow import pyfunc\npyfunc.load_model('m')", lambda f: f.pickle_loads),
        ("import os\nos.environ.get('X')", lambda f: f.env_reads),
        ("import os\nos.getenv('X')", lambda f: f.env_reads),
        ("from os import environ\nenviron['X']", lambda f: f.env_reads),
        ("import os\n'X' in os.environ", lambda f: f.env_reads),
        ("import os\ndict(os.environ)", lambda f: f.env_reads),
        (
            "c.transition_model_version" + "_stage('m', 1, 'Production')",
            lambda f: STAGE_APIS[0] in f.names,
        ),
        ("getattr(c, 'get_latest" + "_versions')('m')", lambda f: STAGE_APIS[1] in f.names),
    ],
)
def test_checkers_catch_violations(source: str, check: Callable[[Facts], object]) -> None:
    """Each checker flags a known violation (so a green run means something)."""
    assert check(analyse_source(source))


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nnp.load('x.npy')",
        "import xgboost\nxgboost.XGBClassifier().load_model('m.ubj')",
        "import os\nos.environ['MLFLOW_HTTP_REQUEST_TIMEOUT'] = '2'",
        "import os\nos.replace('a', 'b')",
        '"""Never pickle.load anything."""',
        "import pickle\npickle.dumps(1)",
    ],
)
def test_checkers_allow_safe_code(source: str) -> None:
    """Safe look-alikes are not flagged (xgboost's load_model, writing the env, docstrings)."""
    facts = analyse_source(source)
    assert not facts.pickle_loads
    assert not facts.env_reads
