"""`python -m core.battle`: estimate who wins a 1v1 battle."""

from core.battle import main

raise SystemExit(main())
