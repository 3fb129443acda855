"""Guards of the registry path: a hard deadline on blocking calls and a circuit breaker.

MLflow's REST client retries for minutes against an unreachable server (about 20 minutes when the
server accepts the connection but never answers), and its timeout variables are process-global,
so lowering them would also hurt training in the same process. Instead serving runs the MLflow
calls under a deadline (`DeadlineRunner`) and, after a failure, skips the registry for a
cool-down (`CircuitBreaker`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from core.registry import RegistryUnavailable

T = TypeVar("T")

# Registry calls that overran their deadline and may still be running in the background.
MAX_ABANDONED_CALLS = 3


class DeadlineRunner:
    """Run a blocking call in a daemon thread and stop waiting for it after a deadline.

    A call that overruns cannot be interrupted: it is abandoned (its result dropped) and goes on
    in the background until MLflow's own retries give up. A server that recovers must be used
    again at once, so later calls do not wait for abandoned ones, but at most
    `max_abandoned` may be stuck at a time (each holds a thread and a socket).
    """

    def __init__(self, max_abandoned: int = MAX_ABANDONED_CALLS) -> None:
        self.max_abandoned = max_abandoned
        self._lock = threading.Lock()
        self._abandoned: list[threading.Thread] = []

    def stuck(self) -> int:
        """How many abandoned calls have not returned yet."""
        with self._lock:
            self._abandoned = [thread for thread in self._abandoned if thread.is_alive()]
            return len(self._abandoned)

    def run(self, call: Callable[[], T], deadline: float, what: str) -> T:
        """call() within `deadline` seconds; its own errors are re-raised.

        Raises:
            RegistryUnavailable: the call did not return within `deadline` seconds, or too many
                earlier calls are still stuck.
        """
        if self.stuck() >= self.max_abandoned:
            raise RegistryUnavailable(
                f"{self.max_abandoned} earlier registry calls have not returned yet (it hangs)"
            )
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                outcome["value"] = call()
            except BaseException as error:  # handed over to the waiting thread
                outcome["error"] = error
            finally:
                finished.set()

        # A daemon thread: a stuck call must never keep the process (a CLI, the app) alive.
        worker = threading.Thread(target=target, name=f"predictiondex-{what}", daemon=True)
        worker.start()
        if not finished.wait(deadline):
            with self._lock:
                self._abandoned.append(worker)
            raise RegistryUnavailable(f"the registry did not {what} within {deadline:.1f} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


class CircuitBreaker:
    """After a failure, the registry is skipped for `cooldown_seconds` (monotonic clock)."""

    def __init__(self, cooldown_seconds: float) -> None:
        self.cooldown_seconds = float(cooldown_seconds)
        self._open_until = -math.inf

    def trip(self) -> float:
        """Open the breaker for the cool-down; returns the cool-down in seconds."""
        self._open_until = time.monotonic() + self.cooldown_seconds
        return self.cooldown_seconds

    def reset(self) -> None:
        """Close the breaker: the registry answered."""
        self._open_until = -math.inf

    def remaining(self) -> float:
        """Seconds left in the cool-down (0.0 when closed)."""
        return max(0.0, self._open_until - time.monotonic())

    @property
    def is_open(self) -> bool:
        """True while the registry must be skipped."""
        return time.monotonic() < self._open_until
