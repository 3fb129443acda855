# PredictionDex — the three commands: `make run`, `make api` and `make test`.
# Each is self-sufficient on a fresh machine with python3 and make.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8501
# The dashboard listens on this machine only: in single-user mode anyone who reaches it may promote.
# HOST=0.0.0.0 to share it (then set up sign-in, see README "Configuration").
HOST ?= 127.0.0.1
API_PORT ?= 8000
# The API listens on this machine only; API_HOST=0.0.0.0 (with PREDICTIONDEX_API_KEYS) for others.
API_HOST ?= 127.0.0.1
# PredictionDex sends no usage data (MLflow would otherwise reach for the network).
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
# OpenMP threads (XGBoost's) sleep while they wait instead of spinning: under load a busy-waiting
# fit took 46.6 s against 5.75 s with PASSIVE (issue 14), and it starves the dashboard.
export OMP_WAIT_POLICY := PASSIVE
MLFLOW_PORT ?= 5000

.PHONY: run api test lint format install install-dev system-deps ensure-model mlflow-ui bench screenshots clean

# Re-install only when a requirements file changed (the stamp records it).
# A venv without a working pip (e.g. left by a failed `python3 -m venv`) is made again.
$(VENV)/.installed: requirements.txt
	@$(PY) -m pip --version >/dev/null 2>&1 || { \
		rm -rf $(VENV) && PYTHON=$(PYTHON) bash .ci/system-deps.sh python && $(PYTHON) -m venv $(VENV); }
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's python3-venv, chromium (browser test) and PostgreSQL (team-mode test), when missing.
system-deps:
	@PYTHON=$(PYTHON) bash .ci/system-deps.sh all

ensure-model: install
	$(PY) -m core.train ensure

## make run: venv + pinned requirements, a Production model on first start, then the dashboard
## and, beside it on the same store, the MLflow UI (stopped with the dashboard).
run: ensure-model
	@setsid $(PY) -m core.config mlflow-ui --port $(MLFLOW_PORT) >.mlflow-ui.log 2>&1 & ui=$$!; \
	trap 'kill -- -$$ui 2>/dev/null' EXIT INT TERM; \
	echo "MLflow UI: http://localhost:$(MLFLOW_PORT) (log: .mlflow-ui.log)"; \
	MLFLOW_UI_URL="$${MLFLOW_UI_URL:-http://localhost:$(MLFLOW_PORT)}" \
	$(PY) -m streamlit run app/main.py --server.port $(PORT) --server.address $(HOST)

## make api: like make run, then the prediction API (FastAPI/uvicorn) on http://localhost:8000/docs.
api: ensure-model
	$(PY) -m api --host $(API_HOST) --port $(API_PORT)

## make test: install, lint, then every test (slow, server, browser and reliability included),
## on TEST_WORKERS pytest-xdist processes: most of a test's wall is waiting (servers starting,
## CLIs in subprocesses, polling), so workers overlap those waits. A test file stays on one worker
## (its module fixtures are built once) and files go out in collection order (the long reliability
## files early, not last as sorting by test count would send them). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 3
test: system-deps install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## make mlflow-ui: the MLflow UI on the same embedded store (http://localhost:5000).
mlflow-ui: install
	$(PY) -m core.config mlflow-ui --port $(MLFLOW_PORT)

bench: install-dev
	$(PY) -m benchmarks.run_all

## make screenshots: refresh docs/screenshot-*.png (the README's pictures) through the browser test.
screenshots: system-deps install-dev
	SCREENSHOTS_DIR=docs $(PY) -m pytest tests/test_browser.py -k "real_browser or dark_mode"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
