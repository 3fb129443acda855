"""`SearchConfig`: one hyperparameter search, checked once when it is made (SearchError)."""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config import PromotionPolicy
from core.dataset import MAX_DATASET_BATTLES
from core.errors import PredictionDexError
from core.train.config import MAX_SEED
from core.train.hyperparameters import GRIDS, MODEL_TYPES, describe_errors, grid_combinations

STUDY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_TRIALS = 10_000
WORKERS_PER_CORE = 4
DEFAULT_TRIALS = 20
DEFAULT_SEARCH_BATTLES = 20_000
Objective = Literal["log_loss", "accuracy"]


class SearchError(PredictionDexError, ValueError):
    """Invalid search input or an unusable study storage; the message says what to do."""


def max_workers() -> int:
    """The most local workers allowed: this machine's cores × 4."""
    return (os.cpu_count() or 1) * WORKERS_PER_CORE


def check_study_name(name: str) -> str:
    """The name, else SearchError: letters, digits, '_' and '-' only (no path or SQL characters)."""
    if not STUDY_NAME_PATTERN.match(str(name)):
        raise SearchError(
            f"Study name {str(name)[:40]!r} is not allowed: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit."
        )
    return name


class SearchConfig(BaseModel):
    """One search; invalid values raise SearchError at construction, naming the field.

    Fields: study (name; an existing one resumes), trials (new trials this session, >= 1),
    timeout_seconds (wall budget of this session, None = none), workers (local worker processes,
    1..cores×4), storage (Optuna storage URL, "" = the default), model_type, n_battles and seed
    (the one dataset every trial shares), objective ('log_loss' minimised, 'accuracy'
    maximised, both on held-out matchups), grid_type (None = TPE sampler, 'fast'/'full' = the
    seed's grid through Optuna's GridSampler), promotion_policy (None = the settings' policy),
    oracle_sample and oracle_replays (for the final retraining's evaluation).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    study: str = Field("search", title="Study")
    trials: int = Field(DEFAULT_TRIALS, title="Trials", ge=1, le=MAX_TRIALS)
    timeout_seconds: float | None = Field(None, title="Time budget (s)", gt=0, le=7 * 86400)
    workers: int = Field(1, title="Workers")  # 1..max_workers(), checked below (it varies)
    storage: str = Field("", title="Storage URL", max_length=2000)
    model_type: str = Field("xgboost", title="Model")
    n_battles: int = Field(DEFAULT_SEARCH_BATTLES, title="Battles", ge=100, le=MAX_DATASET_BATTLES)
    seed: int = Field(42, title="Seed", ge=0, le=MAX_SEED)
    objective: Objective = Field("log_loss", title="Objective")
    grid_type: Literal["fast", "full"] | None = Field(None, title="Grid")
    promotion_policy: PromotionPolicy | None = Field(None, title="Promotion policy")
    oracle_sample: int = Field(2000, title="Oracle sample", ge=0, le=100_000)
    oracle_replays: int = Field(400, title="Oracle replays", ge=1, le=10_000)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise SearchError(describe_errors(error, type(self))) from None

    @field_validator("study")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_study_name(value)

    @field_validator("workers")
    @classmethod
    def _few_workers(cls, value: int) -> int:
        if not 1 <= value <= max_workers():
            raise SearchError(
                f"workers={value} is outside 1..{max_workers()} (this machine's cores × "
                f"{WORKERS_PER_CORE}): start 1 to {max_workers()} local workers; more can join "
                "from other machines with `python -m core.search worker`."
            )
        return value

    @field_validator("model_type")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in GRIDS:
            raise SearchError(f"Unknown model {value[:40]!r}: use one of {', '.join(MODEL_TYPES)}.")
        return value

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        """Optuna's direction for the objective."""
        return "minimize" if self.objective == "log_loss" else "maximize"

    @property
    def grid_size(self) -> int:
        """Combinations of the chosen grid (0 without a grid)."""
        return len(grid_combinations(self.model_type, self.grid_type)) if self.grid_type else 0
