"""`python -m core.predict`: see core.predict.cli."""

from core.predict.cli import main

raise SystemExit(main())
