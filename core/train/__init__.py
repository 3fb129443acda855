"""Training, split by step: hyperparameters and TrainConfig (checked once), the pipeline, publish.

- `hyperparameters`: the one hyperparameter schema (pydantic), grids, TrainingError
- `config`: TrainConfig and the limits the Train page reads (`field_limits`)
- `pipeline`: simulate, features, fit, evaluate -> a frozen TrainResult
- `publish`: log, register, promote (threshold rule), export
- `cli` / `__main__`: `python -m core.train`, the only place that prints the seed's messages
Evaluation lives in core/evaluate.py; `ensure` in core/bootstrap.py.
"""

from core.train.config import (
    DEFAULT_BATTLES,
    MAX_SEED,
    STARTER_BATTLES,
    FieldLimits,
    TrainConfig,
    field_limits,
)
from core.train.hyperparameters import (
    GRIDS,
    HYPERPARAMETERS,
    MODEL_TYPES,
    Hyperparameter,
    ModelType,
    TrainingError,
    grid_combinations,
    hyperparameter_schema,
    validate_params,
)
from core.train.pipeline import STEPS, Progress, TrainResult, data_hash, make_estimator, train_model
from core.train.publish import Promotion, Publication

__all__ = [
    "DEFAULT_BATTLES", "GRIDS", "HYPERPARAMETERS", "MAX_SEED", "MODEL_TYPES", "STARTER_BATTLES",
    "STEPS", "FieldLimits", "Hyperparameter", "ModelType", "Progress", "Promotion", "Publication",
    "TrainConfig", "TrainResult", "TrainingError", "data_hash", "field_limits",
    "grid_combinations", "hyperparameter_schema", "main", "make_estimator", "train_model",
    "validate_params",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """`python -m core.train [...]` (see core/train/cli.py)."""
    from core.train.cli import main as cli_main

    return cli_main(argv)
