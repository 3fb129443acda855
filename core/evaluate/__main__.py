"""`python -m core.evaluate` (see core/evaluate/cli.py)."""

from core.config import end_cli, quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.evaluate.cli import main  # noqa: E402

end_cli(main())
