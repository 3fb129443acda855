"""PredictionDex core: data, simulator, training, registry and serving (no Streamlit here)."""

from core.config import disable_usage_reporting

# PredictionDex sends no usage data anywhere; MLflow reads this when it is first imported, and
# every import of MLflow in the project comes after `core` is imported.
disable_usage_reporting()
