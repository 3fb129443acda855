"""`python -m core.jobs` (see core.jobs.cli)."""

from core.jobs.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
