-- The Optuna study storage of the search workers (PREDICTIONDEX_SEARCH_STORAGE).
CREATE DATABASE optuna;
