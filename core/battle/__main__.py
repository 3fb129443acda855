"""`python -m core.battle`: estimate who wins a 1v1 battle."""

from core.config import quiet_openmp

quiet_openmp()  # before anything imports xgboost

from core.battle import main  # noqa: E402

raise SystemExit(main())
