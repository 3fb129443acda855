"""The PredictionDex prediction API: FastAPI on uvicorn, over core's serving code.

`python -m api` (or `make api`) serves it on port 8000; `api.main.create_app()` builds the app.
OMP_WAIT_POLICY=PASSIVE is set here, before anything can import xgboost: OpenMP threads that
spin-wait after each prediction would otherwise burn the CPU that concurrent requests need.
"""

from core.config import quiet_openmp

quiet_openmp()
