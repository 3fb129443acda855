"""The promotion lock, kept in the tracking store so it holds across processes and machines.

The lock is a registered model `<model>.lock` (its creation is atomic); a lock left by a crash
is broken once it is older than `stale_after` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Iterator

from core.registry.checks import LOCK_SUFFIX
from core.registry.errors import RegistryError
from core.registry.store import LOCK_STALE_SECONDS, LOCK_TIMEOUT_SECONDS, error_code, fault_kind

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def promotion_lock(
    client,
    model_name: str,
    timeout: float = LOCK_TIMEOUT_SECONDS,
    stale_after: float = LOCK_STALE_SECONDS,
) -> Iterator[None]:
    """Hold `<model>.lock` for one promotion (seconds: timeout, stale_after).

    Raises:
        RegistryError: another promotion held the lock for longer than `timeout`.
        MlflowException: the store itself failed (full, read-only, corrupt): re-raised at once
            for the caller's `translate()` to name, not retried as if the lock were held.
    """
    from mlflow.exceptions import MlflowException

    lock_name = f"{model_name}{LOCK_SUFFIX}"
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            client.create_registered_model(
                lock_name,
                tags={"owner": owner, "purpose": "PredictionDex promotion lock"},
                description=f"Held while a promotion of {model_name} runs; deleted afterwards.",
            )
            break
        except MlflowException as error:
            if error_code(error) == "RESOURCE_ALREADY_EXISTS":
                _break_stale_lock(client, lock_name, stale_after)
            elif fault_kind(error) not in (None, "locked"):
                raise  # a full or read-only store will not take the lock by waiting
            else:
                logger.debug("promotion lock attempt failed: %s", error)
            if time.monotonic() >= deadline:
                raise RegistryError(
                    f"another promotion of {model_name} is in progress (lock {lock_name} is held); "
                    f"try again in a few seconds. A lock left by a crash expires after "
                    f"{stale_after:.0f} s."
                ) from None
            time.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not security
            delay = min(delay * 2, 0.4)
    try:
        yield
    finally:
        try:
            client.delete_registered_model(lock_name)
        except MlflowException as error:
            logger.warning("could not release promotion lock %s: %s", lock_name, error)


def lock_age(client, model_name: str) -> float | None:
    """Seconds since the promotion lock of `model_name` was taken, or None if it is free."""
    from mlflow.exceptions import MlflowException

    try:
        lock = client.get_registered_model(f"{model_name}{LOCK_SUFFIX}")
    except MlflowException:
        return None
    return time.time() - (lock.creation_timestamp or 0) / 1000


def _break_stale_lock(client, lock_name: str, stale_after: float) -> None:
    from mlflow.exceptions import MlflowException

    try:
        lock = client.get_registered_model(lock_name)
    except MlflowException:
        return  # released meanwhile
    age = time.time() - (lock.creation_timestamp or 0) / 1000
    if age <= stale_after:
        return
    try:
        # Only break the lock we judged stale, not one a faster process took meanwhile.
        if client.get_registered_model(lock_name).tags.get("owner") == lock.tags.get("owner"):
            logger.warning("breaking stale promotion lock %s (%.0f s old)", lock_name, age)
            client.delete_registered_model(lock_name)
    except MlflowException:
        pass
