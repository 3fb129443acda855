"""Serving: the Production model from the registry, a local fallback in seconds, predictions.

Parts: `guards` (deadline runner, circuit breaker), `sources` (registry source with its version
cache and refusal memory; local source), `scoring` (the one-row fast path), `policy` (the serving
`PredictionModel`: TTL, source choice, `FallbackReason`, `ServingStatus`), `answers`
(predict_winner, predict_matrix, contributions, score_configurations: the one scoring step),
`batch` (many matchups in one scoring call), `batch_csv` (the batch as an uploaded CSV and its
formula-safe download), `export` (the local fallback), `cli`.

Importing this package imports neither mlflow nor pandas (nor scikit-learn): the local fallback
answers without them, and pandas is imported where a table is built.
"""

from core.predict.answers import Contribution, Prediction
from core.predict.batch import BatchResult, MatchupInput, RowError, predict_batch
from core.predict.batch_csv import BatchFileError, CsvBatch, predict_csv
from core.predict.cli import main
from core.predict.export import ExportResult, export_local_model
from core.predict.policy import FallbackReason, PredictionModel, ServingStatus
from core.predict.sources import LocalModelError, ServedModel

__all__ = [
    "BatchFileError",
    "BatchResult",
    "Contribution",
    "CsvBatch",
    "ExportResult",
    "FallbackReason",
    "LocalModelError",
    "MatchupInput",
    "Prediction",
    "PredictionModel",
    "RowError",
    "ServedModel",
    "ServingStatus",
    "export_local_model",
    "main",
    "predict_batch",
    "predict_csv",
]
