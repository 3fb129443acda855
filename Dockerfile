# PredictionDex: the Streamlit dashboard (default command) and, in team mode, the same image runs
# `mlflow server`, the one-shot trainer and the prediction API (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    OMP_WAIT_POLICY=PASSIVE

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
# (The XGBoost and scikit-learn wheels ship their own libgomp: no apt packages needed.)
COPY requirements.txt ./
RUN pip install -r requirements.txt

# A non-root user owns what the app writes: the local fallback model and served artifacts.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin predictiondex \
    && mkdir -p /app/models /mlartifacts \
    && chown predictiondex:predictiondex /app/models /mlartifacts

COPY .streamlit ./.streamlit
COPY core ./core
COPY app ./app
COPY pages ./pages
COPY api ./api
COPY --chown=predictiondex:predictiondex models ./models
# Bytecode compiled once, at build: with PYTHONDONTWRITEBYTECODE every start (each API replica's)
# would otherwise compile the project's modules again, ~0.4 CPU s of an API's cold start here.
RUN python -m compileall -q core app pages api

USER predictiondex

EXPOSE 8501
# No curl in the slim image: Python asks Streamlit's own health endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "streamlit", "run", "app/main.py", "--server.address", "0.0.0.0", "--server.port", "8501"]
