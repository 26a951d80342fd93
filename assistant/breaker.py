"""A circuit breaker for the model provider: after repeated failures, answers skip the model.

When a provider is down or hanging, every answer would otherwise pay the whole model deadline
before falling back to the extractive composer. After `failures` model failures in a row the
circuit opens: for `cooldown` seconds answers go straight to the extractive composer. Then one
answer makes a trial call (half-open); a success closes the circuit, a failure opens it again.

The state sits behind `BreakerStore`, so several workers can share it (a Redis-backed store);
`MemoryBreakerStore` keeps it in this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from assistant.settings import Settings

log = logging.getLogger("fibro.breaker")


class BreakerStore(Protocol):
    """Where a breaker keeps its state: a failure count and the time until which it is open."""

    def add_failure(self) -> int:
        """Count one failure; the failures in a row, this one included."""
        ...

    def clear(self) -> None:
        """A success: the count back to 0 and the circuit closed."""
        ...

    def open_until(self) -> float:
        """Epoch seconds (`time.time()`) until which the circuit is open; 0 when closed."""
        ...

    def open_for(self, seconds: float) -> None:
        """Open the circuit now for `seconds`."""
        ...


class MemoryBreakerStore:
    """Breaker state of one process (each worker has its own)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._clock = clock

    def add_failure(self) -> int:
        with self._lock:
            self._failures += 1
            return self._failures

    def clear(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = 0.0

    def open_until(self) -> float:
        with self._lock:
            return self._open_until

    def open_for(self, seconds: float) -> None:
        with self._lock:
            self._open_until = self._clock() + seconds


class CircuitBreaker:
    """Decides whether an answer may call the model, and hears how the call went."""

    def __init__(
        self,
        failures: int,
        cooldown: float,
        store: BreakerStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.store: BreakerStore = store if store is not None else MemoryBreakerStore(clock)
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, store: BreakerStore | None = None) -> CircuitBreaker:
        return cls(settings.breaker_failures, settings.breaker_cooldown_seconds, store)

    def allow(self) -> bool:
        """True when this answer may call the model (closed, or the half-open trial).

        The trial re-opens the circuit for another cooldown before it calls, so the answers
        that arrive while it runs keep skipping the model: one trial at a time, also across
        workers sharing a store (two workers may each make one; that is harmless).
        """
        until = self.store.open_until()
        if until == 0:
            return True
        if self._clock() < until:
            return False
        self.store.open_for(self.cooldown)
        log.info("circuit half-open: one trial model call")
        return True

    def is_open(self) -> bool:
        """Whether answers are skipping the model right now (for status and tests)."""
        until = self.store.open_until()
        return until != 0 and self._clock() < until

    def success(self) -> None:
        """The model answered: close the circuit."""
        self.store.clear()

    def failure(self) -> None:
        """The model path of one answer failed; open the circuit after `failures` in a row."""
        count = self.store.add_failure()
        if count >= self.failures:
            log.warning(
                "circuit open for %.0f s after %d model failures in a row", self.cooldown, count
            )
            self.store.open_for(self.cooldown)


def breaker_store_for(settings: Settings) -> BreakerStore:
    """Redis when `FIBRO_REDIS_URL` is set (every worker sees one circuit), else this process."""
    if not settings.redis_url:
        return MemoryBreakerStore()
    from assistant.redisstate import RedisBreakerStore, client_for  # redis only when configured

    return RedisBreakerStore(client_for(settings.redis_url))
