"""`python -m core.train`: see core/train/cli.py."""

from core.train.cli import main

raise SystemExit(main())
