"""The model directory format: safe save and hash-checked verification (never pickle).

A model directory holds the files MLflow's save_model writes (so the MLflow UI recognises the
model), the model in a safe format (XGBoost UBJ or skops), `metadata.json` and, written last,
`manifest.json` with the sha256 of every other file. The manifest's own sha256 is the trust
anchor recorded at training time. Nothing here talks to a tracking server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from core.config import PROJECT_ROOT
from core.errors import PredictionDexError

logger = logging.getLogger(__name__)

ModelType = Literal["xgboost", "random_forest"]
MODEL_FILES: dict[str, str] = {"xgboost": "model.ubj", "random_forest": "model.skops"}
MANIFEST_FILE = "manifest.json"
METADATA_FILE = "metadata.json"
MLMODEL_FILE = "MLmodel"
PREPROCESSING_FILE = "preprocessing.json"

# Types skops must accept to load a RandomForestClassifier, found with
# skops.io.get_untrusted_types() on a saved forest (sklearn 1.9.1, skops 0.16.0). Everything else
# (numpy arrays, dtypes, builtins) is trusted by skops by default. Any type outside this list is
# refused, so a tampered .skops file cannot make skops build arbitrary objects.
SKOPS_TRUSTED_TYPES: list[str] = ["sklearn.tree._tree.Tree"]

# Files MLflow's save_model writes next to the model, plus ours.
MLFLOW_FILES = ("MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml")
OPTIONAL_FILES = (PREPROCESSING_FILE,)
# Documentation kept beside the local fallback model (models/README.md): never read or loaded.
IGNORED_FILES = frozenset({"README.md"})

EXPECTED_FLAVORS: dict[str, dict[str, str]] = {
    "xgboost": {
        "flavor": "xgboost",
        "loader_module": "mlflow.xgboost",
        "model_class": "xgboost.sklearn.XGBClassifier",
    },
    "random_forest": {"flavor": "sklearn", "loader_module": "mlflow.sklearn"},
}
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pk", ".dill", ".cloudpickle", ".sav")
MAX_JSON_BYTES = 10 * 1024 * 1024
PINNED_PACKAGES = ("mlflow", "xgboost-cpu", "scikit-learn", "skops")
REQUIREMENTS_FILE = PROJECT_ROOT / "requirements.txt"


class UntrustedModelError(PredictionDexError):
    """A model directory failed verification; it must not be loaded."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"untrusted model: {reason}")
        self.reason = reason


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_requirements() -> list[str]:
    """The exact pins of the model's runtime packages, from requirements.txt (else installed)."""
    pins: dict[str, str] = {}
    if REQUIREMENTS_FILE.is_file():
        for line in REQUIREMENTS_FILE.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                if name.strip().lower() in PINNED_PACKAGES:
                    pins[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    if len(pins) < len(PINNED_PACKAGES):
        from importlib.metadata import PackageNotFoundError, version

        for name in PINNED_PACKAGES:
            if name not in pins:
                try:
                    pins[name] = f"{name}=={version(name)}"
                except PackageNotFoundError:
                    logger.warning("package %s not installed; left out of the model's pins", name)
    return [pins[name] for name in PINNED_PACKAGES if name in pins]


def _xgb_module():
    import xgboost

    return xgboost


# ---------------------------------------------------------------------------------------------
# Writing


def write_model_dir(estimator: Any, model_type: ModelType, metadata: dict, path: Path) -> str:
    """Write a model directory (MLflow files, safe model file, metadata, manifest); return its sha256."""
    if model_type not in MODEL_FILES:
        raise ValueError(
            f"model_type {model_type!r} is not supported: use one of {list(MODEL_FILES)}."
        )
    path = Path(path)
    if path.exists():
        if not path.is_dir() or any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not empty: choose a new folder.")
        path.rmdir()  # mlflow's save_model wants to create the folder itself
    path.parent.mkdir(parents=True, exist_ok=True)
    feature_columns = list(metadata.get("feature_columns") or _estimator_features(estimator))
    if not feature_columns:
        raise ValueError("metadata has no feature_columns: pass the list the model was trained on.")

    requirements = pip_requirements()
    if model_type == "xgboost":
        import mlflow.xgboost

        mlflow.xgboost.save_model(
            estimator, str(path), model_format="ubj", pip_requirements=requirements
        )
    else:
        import mlflow.sklearn

        mlflow.sklearn.save_model(
            estimator,
            str(path),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=requirements,
        )
        _check_skops_types(path / MODEL_FILES[model_type])

    model_file = MODEL_FILES[model_type]
    full_metadata = dict(metadata)
    full_metadata.update(
        model_type=model_type,
        model_file=model_file,
        feature_columns=feature_columns,
        model_sha256=sha256_file(path / model_file),
    )
    _write_json(path / METADATA_FILE, full_metadata)
    return _write_manifest(path, model_name=None, model_version=None)


def _estimator_features(estimator: Any) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(name) for name in names] if names is not None else []


def _check_skops_types(model_path: Path) -> None:
    import skops.io

    untrusted = set(skops.io.get_untrusted_types(file=model_path)) - set(SKOPS_TRUSTED_TYPES)
    if untrusted:
        raise ValueError(
            f"the saved model needs types outside SKOPS_TRUSTED_TYPES: {sorted(untrusted)}; "
            "only RandomForestClassifier models are supported."
        )


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")


def _write_manifest(path: Path, model_name: str | None, model_version: str | None) -> str:
    files = {}
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path).as_posix()
        if file.is_file() and relative != MANIFEST_FILE and relative not in IGNORED_FILES:
            files[relative] = sha256_file(file)
    manifest = {"files": files, "model_name": model_name, "model_version": model_version}
    _write_json(path / MANIFEST_FILE, manifest)
    return sha256_file(path / MANIFEST_FILE)


# ---------------------------------------------------------------------------------------------
# Verification


def _read_json(path: Path, what: str) -> dict:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UntrustedModelError(f"{what} is larger than {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UntrustedModelError(f"{what} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise UntrustedModelError(f"{what} is not a JSON object")
    return data


def _is_pickle(path: Path) -> bool:
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return True
    with open(path, "rb") as handle:
        head = handle.read(2)
    # Protocols 2..5 start with PROTO (0x80) and the protocol number.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _check_relative_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise UntrustedModelError(f"manifest entry {name!r} is not a plain relative path")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or name.startswith("~"):
        raise UntrustedModelError(f"manifest entry {name!r} leaves the model folder")
    return name


def _list_files(root: Path) -> set[str]:
    found: set[str] = set()
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(directory)
        for dirname in dirnames:
            sub = here / dirname
            relative = sub.relative_to(root).as_posix()
            if sub.is_symlink():
                raise UntrustedModelError(f"{relative} is a symbolic link")
            if dirname == "code":
                raise UntrustedModelError(f"a '{relative}' folder is present (code to execute)")
        for filename in filenames:
            file = here / filename
            relative = file.relative_to(root).as_posix()
            if file.is_symlink():
                raise UntrustedModelError(f"{relative} is a symbolic link")
            if not file.is_file():
                raise UntrustedModelError(f"{relative} is not a regular file")
            found.add(relative)
    return found


def _check_mlmodel(path: Path, model_type: str, model_file: str) -> None:
    import yaml

    if path.stat().st_size > MAX_JSON_BYTES:
        raise UntrustedModelError("MLmodel is too large")
    try:
        mlmodel = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise UntrustedModelError(f"MLmodel is not valid YAML ({error})") from None
    if not isinstance(mlmodel, dict) or not isinstance(mlmodel.get("flavors"), dict):
        raise UntrustedModelError("MLmodel has no flavors")
    expected = EXPECTED_FLAVORS[model_type]
    flavors: dict = mlmodel["flavors"]
    if set(flavors) != {"python_function", expected["flavor"]}:
        raise UntrustedModelError(
            f"MLmodel flavors {sorted(flavors)} are not python_function + {expected['flavor']}"
        )
    for name, flavor in flavors.items():
        if not isinstance(flavor, dict):
            raise UntrustedModelError(f"MLmodel flavor {name} is malformed")
        if flavor.get("code"):
            raise UntrustedModelError(f"MLmodel flavor {name} names code to execute")
    pyfunc = flavors["python_function"]
    if pyfunc.get("loader_module") != expected["loader_module"]:
        raise UntrustedModelError(
            f"MLmodel loader_module is {pyfunc.get('loader_module')!r}, "
            f"expected {expected['loader_module']!r}"
        )
    flavor = flavors[expected["flavor"]]
    if model_type == "xgboost":
        if flavor.get("model_class") != expected["model_class"]:
            raise UntrustedModelError(
                f"MLmodel model_class is {flavor.get('model_class')!r}, "
                f"expected {expected['model_class']!r}"
            )
        if flavor.get("data") != model_file or pyfunc.get("data") != model_file:
            raise UntrustedModelError(f"MLmodel does not point at {model_file}")
    else:
        if flavor.get("serialization_format") != "skops":
            raise UntrustedModelError("MLmodel serialization_format is not skops")
        if flavor.get("pickled_model") != model_file or pyfunc.get("model_path") != model_file:
            raise UntrustedModelError(f"MLmodel does not point at {model_file}")
        declared = flavor.get("skops_trusted_types") or []
        if not isinstance(declared, list) or set(map(str, declared)) - set(SKOPS_TRUSTED_TYPES):
            raise UntrustedModelError(f"MLmodel trusts skops types we do not: {declared}")


def _check_model_file(path: Path, model_type: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if model_type == "xgboost":
        if head[:1] != b"{":
            raise UntrustedModelError(f"{path.name} is not an XGBoost UBJ/JSON model")
    elif head != b"PK\x03\x04":
        raise UntrustedModelError(f"{path.name} is not a skops archive")


def verify_model_dir(path: Path, expected_manifest_sha256: str | None = None) -> dict:
    """Check a model directory against its manifest and our rules; return its metadata."""
    root = Path(path)
    if root.is_symlink() or not root.is_dir():
        raise UntrustedModelError(f"{root} is not a model folder")
    manifest_path = root / MANIFEST_FILE
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise UntrustedModelError(f"{MANIFEST_FILE} is missing")
    # Structure first: a symlink, a code folder or a pickle is refused whatever the hashes say.
    present = _list_files(root) - {MANIFEST_FILE} - IGNORED_FILES
    for name in sorted(present):
        if _is_pickle(root / name):
            raise UntrustedModelError(f"{name} is a pickle file")
    actual_sha = sha256_file(manifest_path)
    if expected_manifest_sha256 is not None and actual_sha != expected_manifest_sha256:
        raise UntrustedModelError(
            f"manifest sha256 {actual_sha[:12]}… differs from the recorded "
            f"{str(expected_manifest_sha256)[:12]}…"
        )
    manifest = _read_json(manifest_path, MANIFEST_FILE)
    entries = manifest.get("files")
    if not isinstance(entries, dict) or not entries:
        raise UntrustedModelError("manifest has no files")

    listed = {_check_relative_name(name) for name in entries}
    unexpected = present - listed
    if unexpected:
        raise UntrustedModelError(f"files not in the manifest: {sorted(unexpected)}")
    missing = listed - present
    if missing:
        raise UntrustedModelError(f"files listed in the manifest are missing: {sorted(missing)}")
    for name in sorted(listed):
        file = (root / name).resolve()
        if not file.is_relative_to(root.resolve()):
            raise UntrustedModelError(f"{name} leaves the model folder")
        if sha256_file(file) != entries[name]:
            raise UntrustedModelError(f"{name} does not match its sha256 in the manifest")

    if METADATA_FILE not in listed or MLMODEL_FILE not in listed:
        raise UntrustedModelError(f"{METADATA_FILE} or {MLMODEL_FILE} is missing")
    metadata = _read_json(root / METADATA_FILE, METADATA_FILE)
    model_type = metadata.get("model_type")
    if model_type not in MODEL_FILES:
        raise UntrustedModelError(f"metadata model_type {model_type!r} is not supported")
    model_file = MODEL_FILES[model_type]
    if metadata.get("model_file") != model_file or model_file not in listed:
        raise UntrustedModelError(f"a {model_type} model must be stored as {model_file}")
    allowed = {*MLFLOW_FILES, *OPTIONAL_FILES, METADATA_FILE, model_file}
    if listed - allowed:
        raise UntrustedModelError(f"unexpected files: {sorted(listed - allowed)}")
    columns = metadata.get("feature_columns")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise UntrustedModelError("metadata feature_columns is not a list of names")
    recorded = metadata.get("model_sha256")
    if recorded is not None and recorded != entries[model_file]:
        raise UntrustedModelError(f"{model_file} does not match metadata's model_sha256")
    _check_model_file(root / model_file, model_type)
    _check_mlmodel(root / MLMODEL_FILE, model_type, model_file)
    return metadata
