"""`python -m core.search` (see core/search/cli.py)."""

from core.config import end_cli
from core.search.cli import main

end_cli(main())
