"""Hyperparameter search with Optuna: studies that any number of workers share.

Public surface:
- `SearchConfig` (checked once, SearchError) and `run_search(config, settings)` -> `SearchResult`
- `run_worker(study, storage_url, settings)`: join a study (`python -m core.search worker`)
- `default_storage_url(settings)`, `check_storage(url)`; `SearchJob` for the dashboard

Modules: config, storage (URL, check, heartbeats), data (the shared dataset, cached by hash),
tracking (parent and child MLflow runs through RunLogger), objective (one trial, pruning),
worker, study (coordinator), report (summary, plots, the best retrained and registered), job,
cli. Each trial is an MLflow child run of the study's parent run.
"""

from core.search.config import SearchConfig, SearchError, check_study_name, max_workers
from core.search.storage import check_storage, default_storage_url
from core.search.study import SearchResult, run_search
from core.search.worker import run_worker

__all__ = [
    "SearchConfig", "SearchError", "SearchResult", "check_storage", "check_study_name",
    "default_storage_url", "max_workers", "run_search", "run_worker",
]  # fmt: skip
