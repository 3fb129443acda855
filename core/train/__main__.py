"""`python -m core.train`: see core/train/cli.py."""

from core.config import end_cli, quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.train.cli import main  # noqa: E402

end_cli(main())
