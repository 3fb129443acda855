"""`python -m core.search` (see core/search/cli.py)."""

from core.search.cli import main

raise SystemExit(main())
