"""The model folder format: safe save, hash-checked verify, load (no pickle), local install.

A model directory holds the files MLflow's save_model writes (so the MLflow UI recognises the
model), the model in a safe format (XGBoost UBJ or skops), `metadata.json` and, written last,
`manifest.json` with the sha256 of every other file. The manifest's own sha256 is the trust
anchor recorded at training time. Nothing here talks to a tracking server.

Parts: `files` (the format, writing and verification), `bundle` (loading for predictions),
`install` (the local fallback in models_dir).
"""

from core.artifacts.bundle import ModelBundle, import_loader, load_model_dir
from core.artifacts.files import (
    EXPECTED_FLAVORS,
    IGNORED_FILES,
    MANIFEST_FILE,
    METADATA_FILE,
    MLMODEL_FILE,
    MODEL_FILES,
    PREPROCESSING_FILE,
    SKOPS_TRUSTED_TYPES,
    ModelType,
    UntrustedModelError,
    pip_requirements,
    sha256_file,
    verify_model_dir,
    write_model_dir,
)
from core.artifacts.install import (
    UNVERSIONED_LABEL,
    InstalledModel,
    install_local_model,
    read_installed,
)

__all__ = [
    "EXPECTED_FLAVORS",
    "UNVERSIONED_LABEL",
    "IGNORED_FILES",
    "InstalledModel",
    "MANIFEST_FILE",
    "METADATA_FILE",
    "MLMODEL_FILE",
    "MODEL_FILES",
    "PREPROCESSING_FILE",
    "SKOPS_TRUSTED_TYPES",
    "ModelBundle",
    "ModelType",
    "UntrustedModelError",
    "import_loader",
    "install_local_model",
    "load_model_dir",
    "pip_requirements",
    "read_installed",
    "sha256_file",
    "verify_model_dir",
    "write_model_dir",
]
