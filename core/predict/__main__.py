"""`python -m core.predict`: see core.predict.cli."""

from core.config import end_cli, quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.predict.cli import main  # noqa: E402

end_cli(main())
