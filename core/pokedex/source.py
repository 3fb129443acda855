"""poke-env's data files for one roster, read once and then kept as a small verified JSON cache.

The Pokédex build reads four of poke-env's files (about 4.5 MB of JSON, mostly learnsets of
other generations); parsing them was most of a fresh process's Pokédex load. The cache keeps only
what one roster's build reads (its species, their damaging learnset entries, those moves, the
type chart) in `<cache dir>/<roster>-<key>.json`, where the key is the sha256 of the four files
and CACHE_FORMAT. The per-move rules (core.pokedex.rules) are applied after the cache at every
build, so a change of the rules can never be served stale from it.

A cache file is trusted only if its header names the same key and the sha256 of its payload
matches; anything else (missing, truncated, edited, unreadable) is rebuilt from poke-env's files.
poke-env's package is located without being imported (its import costs more than its data).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from core.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

# Bump when the cached payload's layout or the selection of what it keeps changes.
CACHE_FORMAT = "1"
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache" / "pokedex"

Tables = dict[str, dict]
Select = Callable[[Tables], Tables]


def data_dir() -> Path:
    """poke-env's `data/static` folder, found without importing poke-env.

    Raises:
        FileNotFoundError: poke-env is not installed (install the requirements).
    """
    spec = importlib.util.find_spec("poke_env")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "poke-env is not installed: install the project's requirements (pip install -r "
            "requirements.txt)."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "static"


def input_key(files: dict[str, Path]) -> str:
    """sha256 over CACHE_FORMAT and the bytes of every input file (by table name)."""
    digest = hashlib.sha256(f"format {CACHE_FORMAT}\n".encode())
    for name in sorted(files):
        digest.update(f"{name}\n".encode())
        digest.update(files[name].read_bytes())
    return digest.hexdigest()


def _read_cache(path: Path, key: str) -> Tables | None:
    """The cached tables when the file is intact and made from the same inputs, else None."""
    try:
        raw = path.read_bytes()
        header_line, _, payload = raw.partition(b"\n")
        header = json.loads(header_line)
        if header.get("key") != key or header.get("sha256") != hashlib.sha256(payload).hexdigest():
            logger.warning("Pokédex cache %s does not match its inputs: rebuilding it", path)
            return None
        tables = json.loads(payload)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as error:
        logger.warning("Pokédex cache %s is unreadable (%s): rebuilding it", path, error)
        return None
    return tables if isinstance(tables, dict) else None


def _write_cache(path: Path, key: str, tables: Tables) -> None:
    """Write atomically (temporary file, then rename); a read-only folder only costs speed."""
    payload = json.dumps(tables, separators=(",", ":")).encode()
    header = json.dumps({"key": key, "sha256": hashlib.sha256(payload).hexdigest()}).encode()
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(header + b"\n" + payload)
        os.replace(temporary, path)
    except OSError as error:
        logger.info(
            "Pokédex cache not written to %s (%s); it will be rebuilt next time", path, error
        )
        with contextlib.suppress(OSError):
            temporary.unlink()


def read_inputs(
    roster: str,
    files: dict[str, str],
    select: Select,
    cache_dir: Path | None = None,
    source_dir: Path | None = None,
) -> Tables:
    """The roster's share of poke-env's tables: from the cache if valid, else parsed and cached.

    Args:
        roster: the roster name (part of the cache file name).
        files: table name -> file path relative to `source_dir` (poke-env's data/static).
        select: reduces the full parsed tables to what the build reads (same table names).
        cache_dir: where cache files live (default: `.cache/pokedex` in the project).
        source_dir: poke-env's data folder (default: the installed package's).
    Returns:
        {table name: dict}, exactly what `select` returned for the current files.
    Raises:
        FileNotFoundError, ValueError: poke-env's files are missing or not JSON.
    """
    source_dir = source_dir or data_dir()
    paths = {name: source_dir / relative for name, relative in files.items()}
    key = input_key(paths)
    cache = (cache_dir or DEFAULT_CACHE_DIR) / f"{roster}-{key[:24]}.json"
    tables = _read_cache(cache, key)
    if tables is not None and set(tables) == set(files):
        return tables
    full = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in paths.items()}
    tables = select(full)
    _write_cache(cache, key, tables)
    return tables
