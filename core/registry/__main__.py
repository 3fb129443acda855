"""`python -m core.registry ...`: see core.registry.cli."""

from core.registry.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
