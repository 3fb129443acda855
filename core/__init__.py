"""PredictionDex core: data, simulator, training, registry and serving (no Streamlit here)."""
