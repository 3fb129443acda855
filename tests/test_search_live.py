"""Reading a study while its first worker creates the SQLite storage (the Train page's live
panel during a search): never a half-created storage's error, and the study once it exists."""

from __future__ import annotations

import subprocess
import sys

from core.search.live import read_study

CREATE = (
    "import optuna; optuna.logging.set_verbosity(optuna.logging.WARNING); "
    "optuna.create_study(study_name='live', storage={url!r})"
)


def test_reading_a_storage_while_its_worker_creates_it_never_fails(tmp_path):
    # Before the readiness check, 9 of 12 such races raised "table studies already exists" or
    # "UNIQUE constraint failed: alembic_version" in the reader (the page showed an error).
    reads = 0
    for attempt in range(12):
        url = f"sqlite:///{tmp_path / f'study-{attempt}.db'}"
        creator = subprocess.Popen([sys.executable, "-c", CREATE.format(url=url)])
        try:
            while creator.poll() is None:
                snapshot = read_study(url, "live")  # empty until the storage is ready
                assert snapshot.counts == {}
                reads += 1
        finally:
            creator.wait(timeout=60)
        assert creator.returncode == 0
        assert read_study(url, "live").trials.empty  # created, no trial yet: read, not refused
    assert reads > 12  # the reader did run while the storages were being created
