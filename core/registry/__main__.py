"""`python -m core.registry ...`: see core.registry.cli."""

from core.config import quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.registry.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
