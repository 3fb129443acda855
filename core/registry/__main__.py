"""`python -m core.registry ...`: see core.registry.cli."""

from core.config import end_cli, quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.registry.cli import main  # noqa: E402

if __name__ == "__main__":
    end_cli(main())
