"""`TrainConfig`: everything that defines one training run, checked once when it is made.

Limits live on the fields (`ge`/`le`, a label, help and a form step); the Train page reads them
through `field_limits()` instead of restating them, so a limit changes in one place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from core.dataset import MAX_DATASET_BATTLES, SCENARIO_CHOICES, DatasetError, LevelRange
from core.evaluate.compare import DEFAULT_COMPARE_BATTLES
from core.pokedex import ROSTERS, load_pokedex
from core.pokedex.names import PokedexError
from core.train.hyperparameters import (
    MODEL_TYPES,
    PARAMS_MODELS,
    TrainingError,
    Whole,
    bounds_of,
    describe_errors,
    validate_params,
)

STARTER_BATTLES = 60_000
DEFAULT_BATTLES = 200_000
DEFAULT_SEED = 42  # training's data seed (fresh battles default to DEFAULT_COMPARE_SEED)
MAX_SEED = 2**32 - 1


MAX_LABEL_CHARS = 100  # the Train page's "Version label" box and --version
# A label names the version and its run ("train_xgboost_<label>_<time>"): words, not a path.
LABEL_PATTERN = re.compile(r"[\w .,:;+#()\[\]'=@-]*")


def check_version_label(text: str) -> str:
    """A version label, stripped: at most 100 characters of letters, digits, spaces and
    . , : ; + # ( ) [ ] ' = @ - _ (no path separators, no control characters).

    Raises TrainingError naming the characters that are not allowed.
    """
    label = str(text).strip()
    if len(label) > MAX_LABEL_CHARS:
        raise TrainingError(
            f"Version label: {len(label)} characters long: keep it to {MAX_LABEL_CHARS} characters"
        )
    if not LABEL_PATTERN.fullmatch(label):
        bad = sorted({char for char in label if not LABEL_PATTERN.fullmatch(char)})
        shown = " ".join(repr(char) for char in bad[:5])
        raise TrainingError(
            f"Version label {label[:40]!r} has {shown} in it: a label is letters, digits, spaces and "
            ". , : ; + # ( ) [ ] ' = @ - _ (e.g. v2 or 'tuned depth 6')"
        )
    return label


def _level_range(value: object) -> LevelRange:
    if isinstance(value, dict):  # a dumped config read back
        value = (value.get("low"), value.get("high"))
    # LevelRange's own errors (PokedexError, DatasetError) name the level and the range.
    return LevelRange.of(value)  # type: ignore[arg-type]


Levels = Annotated[LevelRange, BeforeValidator(_level_range)]


def _name_list(value: object) -> object:
    """'Pikachu, Mewtwo' (as --holdout-pokemon gives it) -> ('Pikachu', 'Mewtwo')."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _limit(default: Any, label: str, help: str, step: float = 1, form: Any = None, **bounds):
    extra = {"step": step, "form_default": default if form is None else form}
    return Field(default, title=label, description=help, json_schema_extra=extra, **bounds)


class TrainConfig(BaseModel):
    """One training run; invalid values raise TrainingError at construction, naming the field.

    Fields: model_type ('xgboost' | 'random_forest'), params (hyperparameters, defaults filled
    in), n_battles (battles to simulate), seed, scenario, level (a LevelRange), roster,
    use_gridsearch and grid_type ('fast' | 'full'), version_label, threshold (test accuracy
    needed for promotion, None = the settings' PROMOTION_THRESHOLD), use_mlflow, test_fraction
    (share of matchups held out), oracle_sample (test battles re-simulated, 0 = no oracle),
    oracle_replays (replays each), holdout_pokemon (Pokémon kept out of training),
    export_local (write models/ when the model serves), promotion_policy (None = the settings'
    PREDICTIONDEX_PROMOTION_POLICY), promotion_battles (fresh battles of the champion/challenger).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    model_type: str = Field("xgboost", title="Model")
    params: dict[str, Any] = Field(
        default_factory=dict, title="Hyperparameters", validate_default=True
    )
    n_battles: Whole = _limit(
        DEFAULT_BATTLES, "Battles to simulate", "battles simulated for training and testing",
        10_000, STARTER_BATTLES, ge=1, le=MAX_DATASET_BATTLES,
    )  # fmt: skip
    seed: Whole = _limit(
        DEFAULT_SEED, "Seed", "the same seed gives the same battles", ge=0, le=MAX_SEED
    )
    scenario: str = Field("all", title="Scenario")
    level: Levels = Field(LevelRange(50, 50), title="Levels")
    roster: str = Field("letsgo", title="Roster")
    use_gridsearch: bool = False
    grid_type: Literal["fast", "full"] = Field("fast", title="Grid")
    version_label: str = Field("", title="Version label")
    threshold: float | None = _limit(
        None, "Promotion threshold", "test accuracy needed for promotion", 0.01, ge=0.0, le=1.0
    )
    use_mlflow: bool = True
    test_fraction: float = Field(0.2, title="Test share", gt=0.0, lt=1.0)
    oracle_sample: Whole = _limit(
        2000, "Test battles re-simulated", "0 skips the oracle", 100, ge=0, le=100_000
    )
    oracle_replays: Whole = _limit(400, "Replays per battle", "", 50, ge=1, le=10_000)
    holdout_pokemon: Annotated[tuple[str, ...], BeforeValidator(_name_list)] = Field(
        (), title="Held-out Pokémon"
    )
    export_local: bool = True
    promotion_policy: Literal["threshold", "beats_production", "manual"] | None = Field(
        None, title="Promotion policy"
    )
    promotion_battles: Whole = _limit(
        DEFAULT_COMPARE_BATTLES, "Fresh battles for the champion/challenger", "beats_production "
        "compares the new model with Production on these", 10_000, ge=1_000, le=1_000_000,
    )  # fmt: skip

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise TrainingError(describe_errors(error, type(self))) from None

    @field_validator("model_type")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in PARAMS_MODELS:
            shown = str(value)[:40]
            raise TrainingError(f"Unknown model {shown!r}: use one of {', '.join(MODEL_TYPES)}.")
        return value

    @field_validator("params")
    @classmethod
    def _checked_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        model_type = info.data.get("model_type")
        return value if model_type is None else validate_params(model_type, value)

    @field_validator("version_label")
    @classmethod
    def _plain_label(cls, value: str) -> str:
        return check_version_label(value)

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, value: str) -> str:
        if value not in SCENARIO_CHOICES:
            raise DatasetError(
                f"Unknown scenario {str(value)[:40]!r}: use one of {', '.join(SCENARIO_CHOICES)}."
            )
        return value

    @field_validator("roster")
    @classmethod
    def _known_roster(cls, value: str) -> str:
        if value not in ROSTERS:
            raise TrainingError(f"Unknown roster {str(value)[:40]!r}: use one of {ROSTERS}.")
        return value

    @field_validator("holdout_pokemon")
    @classmethod
    def _known_pokemon(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        roster = info.data.get("roster")
        if not value or roster is None:
            return value
        dex, names = load_pokedex(roster), []
        for name in value:
            try:
                found = dex.resolve_pokemon(name).name
            except PokedexError as error:  # its message suggests the closest names
                raise TrainingError(f"Held-out Pokémon: {error}") from None
            if found not in names:
                names.append(found)
        if len(names) >= len(dex.pokemon_ids) - 1:
            raise TrainingError(
                f"Held-out Pokémon: {len(names)} of the {len(dex.pokemon_ids)} in the {roster} "
                "roster leave fewer than 2 to train on: hold out fewer."
            )
        return tuple(names)

    def checked(self) -> TrainConfig:
        """This config: it was validated when it was made (kept for the seed-era callers)."""
        return self

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed, validated again (TrainingError when invalid)."""
        return TrainConfig(**{**dict(self), **changes})


@dataclass(frozen=True)
class FieldLimits:
    """A form's view of one numeric TrainConfig field.

    Fields: name, label, help, low/high (inclusive bounds), step (widget increment),
    default (the form's starting value).
    """

    name: str
    label: str
    help: str
    low: float
    high: float
    step: float
    default: Any


def field_limits(name: str) -> FieldLimits:
    """The bounds, step, default, label and help of a TrainConfig field, read from the model."""
    info = TrainConfig.model_fields[name]
    low, high, _ = bounds_of(info)
    extra = info.json_schema_extra or {}
    return FieldLimits(
        name=name,
        label=info.title or name,
        help=info.description or "",
        low=low if math.isfinite(low) else 0,
        high=high,
        step=extra.get("step", 1),
        default=extra.get("form_default", info.default),
    )
