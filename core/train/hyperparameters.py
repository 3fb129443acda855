"""The one hyperparameter schema: a pydantic model per model type, read by training, pages, search.

Each field carries its type, default, valid range (`ge`/`gt`/`le`), a label and help text, and
for a search (issue 16) the sub-range worth exploring and whether to sample it on a log scale
(`json_schema_extra={"search": (low, high), "log": bool}`). `hyperparameter_schema(model_type)`
turns a model into plain `Hyperparameter` rows; nothing else restates a range.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from core.errors import PredictionDexError

ModelType = Literal["xgboost", "random_forest"]
MODEL_TYPES: tuple[str, ...] = ("xgboost", "random_forest")


class TrainingError(PredictionDexError, ValueError):
    """Invalid training input or a failed step; the message says what to do."""


def _refuse_bool(value: object) -> object:
    # pydantic's lax mode reads True as 1: a checkbox is not a tree count.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a true/false value")
    return value


def _refuse_bool_and_float(value: object) -> object:
    # lax mode would also read 1000.0 as 1000: a count is typed as a whole number, not a float.
    if isinstance(value, float):
        raise ValueError("is not a valid int: give a whole number, not a decimal number")
    return _refuse_bool(value)


Whole = Annotated[int, BeforeValidator(_refuse_bool_and_float)]
Real = Annotated[float, BeforeValidator(_refuse_bool)]


def _field(default: float, label: str, help: str, search: tuple, log: bool = False, **bounds):
    extra = {"search": search, "log": log}
    return Field(default, title=label, description=help, json_schema_extra=extra, **bounds)


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class XGBoostParams(_Params):
    """XGBoost hyperparameters (rounds, tree shape, shrinkage, sampling, regularisation)."""

    n_estimators: Whole = _field(150, "Trees", "boosting rounds", (50, 1000), True, ge=1, le=5000)
    # Shallow, slow trees: the analytic race features carry the matchup; deeper or faster
    # boosting fits the battles' noise (bench_matchups: |q − p| p95 0.041 → 0.022, fit 4× less).
    max_depth: Whole = _field(4, "Depth", "depth of each tree", (2, 12), ge=1, le=20)
    learning_rate: Real = _field(
        0.1, "Learning rate", "shrinkage per round", (0.01, 0.5), True, gt=0.0, le=1.0
    )
    subsample: Real = _field(1.0, "Row share", "row share per tree", (0.5, 1.0), gt=0.0, le=1.0)
    colsample_bytree: Real = _field(
        1.0, "Column share", "column share per tree", (0.5, 1.0), gt=0.0, le=1.0
    )
    min_child_weight: Real = _field(
        1.0, "Leaf weight", "minimum leaf weight", (0.1, 20.0), True, ge=0.0, le=1000.0
    )
    reg_lambda: Real = _field(
        1.0, "L2 penalty", "L2 regularisation", (0.001, 100.0), True, ge=0.0, le=1000.0
    )


class RandomForestParams(_Params):
    """RandomForest hyperparameters (tree count, depth, leaf size, feature share)."""

    n_estimators: Whole = _field(100, "Trees", "trees", (50, 500), True, ge=1, le=2000)
    max_depth: Whole = _field(16, "Depth", "depth of each tree", (4, 40), ge=1, le=100)
    min_samples_leaf: Whole = _field(5, "Leaf size", "rows per leaf", (1, 50), True, ge=1, le=10000)
    max_features: Real = _field(
        0.5, "Feature share", "feature share per split", (0.1, 1.0), gt=0.0, le=1.0
    )


PARAMS_MODELS: dict[str, type[_Params]] = {
    "xgboost": XGBoostParams,
    "random_forest": RandomForestParams,
}


@dataclass(frozen=True)
class Hyperparameter:
    """One tunable hyperparameter, read from its pydantic field.

    Fields: `name`, `kind` (int or float), `default`, `low`/`high` (valid range; `low` excluded
    when `low_inclusive` is False), `label` and `help` (for forms), `search_low`/`search_high`
    (the range a search explores) and `log` (sample that range on a log scale).
    """

    name: str
    kind: type
    default: float | int
    low: float
    high: float
    low_inclusive: bool
    label: str
    help: str
    search_low: float
    search_high: float
    log: bool
    model_type: str

    def check(self, raw: object) -> float | int:
        """The value validated by the model's own field; TrainingError names the field and range."""
        try:
            checked = PARAMS_MODELS[self.model_type].model_validate({self.name: raw})
        except ValidationError as error:
            raise TrainingError(describe_errors(error, PARAMS_MODELS[self.model_type])) from None
        return getattr(checked, self.name)

    def range_text(self) -> str:
        """Human-readable valid range, e.g. 'use a value in (0, 1]'."""
        left = "[" if self.low_inclusive else "("
        return f"use a value in {left}{_number(self.low)}, {_number(self.high)}]"


def bounds_of(info: FieldInfo) -> tuple[float, float, bool]:
    """(low, high, low_inclusive) of a pydantic field's ge/gt/le constraints."""
    low, high, inclusive = -math.inf, math.inf, True
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low, inclusive = item.ge, True
        elif isinstance(item, annotated_types.Gt):
            low, inclusive = item.gt, False
        elif isinstance(item, annotated_types.Le):
            high = item.le
    return low, high, inclusive


def hyperparameter_schema(model_type: str) -> dict[str, Hyperparameter]:
    """The hyperparameters of a model type, in form order; TrainingError for an unknown type."""
    if model_type not in PARAMS_MODELS:
        raise TrainingError(f"Unknown model {model_type!r}: use one of {', '.join(MODEL_TYPES)}.")
    schema = {}
    for name, info in PARAMS_MODELS[model_type].model_fields.items():
        low, high, inclusive = bounds_of(info)
        extra = info.json_schema_extra or {}
        search_low, search_high = extra["search"]
        kind = int if info.annotation is int else float
        schema[name] = Hyperparameter(
            name, kind, info.default, low, high, inclusive, info.title or name,
            info.description or "", search_low, search_high, bool(extra["log"]), model_type,
        )  # fmt: skip
    return schema


HYPERPARAMETERS: dict[str, dict[str, Hyperparameter]] = {
    model_type: hyperparameter_schema(model_type) for model_type in MODEL_TYPES
}
GRIDS: dict[str, dict[str, dict[str, list]]] = {
    "xgboost": {
        "fast": {"max_depth": [4, 6], "learning_rate": [0.1, 0.3]},
        "full": {
            "max_depth": [4, 6, 8],
            "learning_rate": [0.05, 0.1, 0.3],
            "n_estimators": [100, 200],
        },
    },
    "random_forest": {
        "fast": {"max_depth": [12, 20], "min_samples_leaf": [2, 10]},
        "full": {
            "max_depth": [10, 16, 24],
            "min_samples_leaf": [1, 5, 20],
            "max_features": [0.3, 0.6],
        },
    },
}


def grid_combinations(model_type: str, grid_type: str) -> list[dict]:
    """Every hyperparameter combination of a grid ('fast' or 'full')."""
    grid = GRIDS[model_type][grid_type]
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def validate_params(model_type: str, params: dict[str, object]) -> dict[str, float | int]:
    """Defaults overlaid with checked values; TrainingError names a bad or unknown field."""
    if model_type not in PARAMS_MODELS:
        raise TrainingError(f"Unknown model {model_type!r}: use one of {', '.join(MODEL_TYPES)}.")
    try:
        return PARAMS_MODELS[model_type].model_validate(dict(params)).model_dump()
    except ValidationError as error:
        raise TrainingError(describe_errors(error, PARAMS_MODELS[model_type])) from None


def _range_text(info: FieldInfo) -> str:
    low, high, inclusive = bounds_of(info)
    if math.isinf(low) and math.isinf(high):
        return ""
    left = "[" if inclusive else "("
    return f"use a value in {left}{_number(low)}, {_number(high)}]"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _one_error(item: dict[str, Any], model: type[BaseModel]) -> str:
    name = str(item["loc"][0]) if item["loc"] else "value"
    info = model.model_fields.get(name)
    if info is None:
        what = "hyperparameter" if issubclass(model, _Params) else "setting"
        valid = ", ".join(model.model_fields)
        return f"Unknown {what} {name[:40]!r}. Valid: {valid}."
    label = f"{info.title}: " if info.title and info.title != name else ""
    shown = str(item.get("input"))[:20]
    kind, ranges = item["type"], _range_text(info)
    if kind == "value_error":
        cause = item["ctx"]["error"]
        if isinstance(cause, PredictionDexError):  # already names the field and what to use
            return str(cause)
        return f"{label}{name}={shown!r} {str(cause).rstrip('.')}."
    if kind == "finite_number":
        return f"{label}{name} must be finite: {ranges}."
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{label}{name}={shown!r} is not a valid int: a whole number, {ranges}."
    if kind in ("float_parsing", "float_type"):
        return f"{label}{name}={shown!r} is not a valid number: {ranges}."
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        value = str(item["input"])
        value = value if len(value) <= 20 else f"{value[:12]}… ({len(value)} digits)"
        return f"{label}{name}={value} is out of range: {ranges}."
    if kind == "literal_error":
        return f"{label}{name}={shown!r} is not valid: use {item['ctx']['expected']}."
    if kind == "string_too_long":
        return f"{label}{name} is too long: keep it under {item['ctx']['max_length']} characters."
    return f"{label}{name}: {item['msg']}."


def describe_errors(error: ValidationError, model: type[BaseModel]) -> str:
    """One readable sentence per invalid field, with its label and valid range."""
    return " ".join(_one_error(item, model) for item in error.errors(include_url=False))
