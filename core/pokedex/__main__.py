"""`python -m core.pokedex moves [--roster letsgo|kanto] [--format md|json]`: the coverage table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from core.config import quiet_openmp
from core.pokedex import ROSTERS, PokedexError, load_pokedex


def format_coverage(roster: str, output: str) -> str:
    """Every damaging move of the roster's learnsets: modelled (which rules) or excluded (why)."""
    rows = load_pokedex(roster).coverage
    if output == "json":
        return json.dumps([dataclasses.asdict(row) for row in rows], indent=1)
    lines = ["| move | handling | rules or reason | learners |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.name} | {r.handling} | {r.detail} | {r.learners} |" for r in rows]
    modelled = sum(r.handling == "modelled" for r in rows)
    lines.append(f"\n{modelled} modelled, {len(rows) - modelled} excluded ({roster} roster).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    quiet_openmp()
    parser = argparse.ArgumentParser(prog="python -m core.pokedex")
    parser.add_argument("table", choices=["moves"], help="the move coverage table")
    parser.add_argument("--roster", choices=ROSTERS, default="letsgo")
    parser.add_argument("--format", choices=["md", "json"], default="md")
    args = parser.parse_args(argv)
    try:
        print(format_coverage(args.roster, args.format))
    except PokedexError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


raise SystemExit(main())
