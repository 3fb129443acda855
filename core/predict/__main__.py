"""`python -m core.predict`: see core.predict.cli."""

from core.config import quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.predict.cli import main  # noqa: E402

raise SystemExit(main())
