"""The answer gate: how many answers are computed at once, how many may wait, and what the rest
are told.

Answering is CPU-bound. On a small machine dozens of answers at once only slow every one of
them down, so `limit` run, up to `queue` more wait for a slot for at most `timeout` seconds,
and everyone else hears at once that the service is busy (a 503 with `Retry-After`; a stream
gets its busy events). Shedding early and honestly beats waits that grow without limit.

HTTP routes wait on the event loop (`async_slot`, `stream`): a waiting request holds no worker
thread, so the thread pool never queues requests in front of the gate (which made the 503 take
up to twice the timeout), and a client that goes away while waiting leaves the queue at once.
Only the answering runs in a thread. Threads that answer themselves (Slack) wait in `slot`.
Both kinds of waiter share one queue, served first come first served.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar

import anyio
from fastapi import HTTPException

from assistant.settings import Settings

T = TypeVar("T")

BUSY_MESSAGE = "the assistant is busy answering other questions; please retry shortly"
# A busy 503's `Retry-After` is drawn from this range, not one fixed figure: refused clients that
# keep the contract would otherwise all come back in the same second, a wave that every request
# meets (at 200 clients it set the crisis reply's and the 503's own tail latency).
RETRY_AFTER_SECONDS = (3, 8)
# How often a waiting JSON request checks whether its client is still there.
DISCONNECT_POLL_SECONDS = 0.25
# Status of a JSON answer abandoned because its client left (nobody reads it; nginx's code).
CLIENT_GONE = 499

Disconnected = Callable[[], Awaitable[bool]]


def busy() -> HTTPException:
    """The 503 every refused answer gets, with a `Retry-After` spread over a few seconds."""
    wait = random.randint(*RETRY_AFTER_SECONDS)  # noqa: S311 - spreading load, not a secret
    return HTTPException(503, BUSY_MESSAGE, headers={"Retry-After": str(wait)})


class _Waiter:
    """One request waiting for a slot; `granted` is only changed under the gate's lock."""

    def __init__(self, wake: Callable[[], object]) -> None:
        self.granted = False
        self._wake = wake

    def grant(self) -> None:
        self.granted = True
        self._wake()


class AnswerGate:
    """Bounds answers computed at once (`limit`) and requests waiting for one (`queue`).

    `queue=None` lets any number wait (each for at most `timeout`); `queue=0` means no waiting:
    a 503 as soon as every slot is taken.
    """

    def __init__(self, limit: int, timeout: float, queue: int | None = None) -> None:
        self.limit = limit
        self.timeout = timeout
        self.queue = queue
        self._lock = threading.Lock()
        self._free = limit
        self._waiters: deque[_Waiter] = deque()
        self._threads: anyio.CapacityLimiter | None = None

    @property
    def threads(self) -> anyio.CapacityLimiter:
        """Thread tokens for the answers holding a slot, apart from anyio's shared pool.

        Under load the shared pool is full of triage calls; an answer that holds a slot must
        not wait behind them for a thread. Created on first use, on the app's event loop.
        """
        if self._threads is None:
            # Twice the slots: a stream's last step may still be ending after its slot is freed.
            self._threads = anyio.CapacityLimiter(2 * self.limit)
        return self._threads

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerGate:
        return cls(
            settings.max_concurrent_answers,
            settings.queue_timeout_seconds,
            settings.max_queued_answers,
        )

    # ---- state --------------------------------------------------------------------------------

    @property
    def active(self) -> int:
        """Slots in use now."""
        with self._lock:
            return self.limit - self._free

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        with self._lock:
            return len(self._waiters)

    def _enter(self, waiter: _Waiter) -> bool | None:
        """True: a slot is ours; False: the queue is full; None: queued, wait for `grant`."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            if self.queue is not None and len(self._waiters) >= self.queue:
                return False
            self._waiters.append(waiter)
            return None

    def _settle(self, waiter: _Waiter) -> bool:
        """After waiting: True when the slot was granted; otherwise leave the queue."""
        with self._lock:
            if waiter.granted:
                return True
            with suppress(ValueError):
                self._waiters.remove(waiter)
            return False

    def release(self) -> None:
        """Free a slot: hand it straight to the longest waiter, if any."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().grant()
            else:
                self._free += 1

    # ---- waiting in a thread (Slack) ----------------------------------------------------------

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while answering in this thread; a 503 `HTTPException` when none frees."""
        event = threading.Event()
        waiter = _Waiter(event.set)
        entered = self._enter(waiter)
        if entered is None:
            event.wait(self.timeout)
            entered = self._settle(waiter)
        if not entered:
            raise busy()
        try:
            yield
        finally:
            self.release()

    # ---- waiting on the event loop (HTTP routes) ----------------------------------------------

    async def acquire(self, disconnected: Disconnected | None = None) -> bool:
        """Wait on the event loop for a slot: False at once when the queue is full, or after
        `timeout`; an `HTTPException` (499) when `disconnected()` says the client has gone.

        Cancelled (a stream's client went away), it leaves the queue, or gives back a slot that
        was granted at the same moment.
        """
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        waiter = _Waiter(lambda: loop.call_soon_threadsafe(event.set))
        entered = self._enter(waiter)
        if entered is not None:
            return entered
        gone = False
        try:
            with anyio.move_on_after(self.timeout):
                while not event.is_set():
                    with anyio.move_on_after(DISCONNECT_POLL_SECONDS if disconnected else None):
                        await event.wait()
                    if not event.is_set() and disconnected is not None and await disconnected():
                        gone = True
                        break
        except BaseException:
            if self._settle(waiter):
                self.release()
            raise
        if self._settle(waiter):
            if not gone:
                return True
            self.release()
        if gone:
            raise HTTPException(CLIENT_GONE, "the client closed the request")
        return False

    @asynccontextmanager
    async def async_slot(self, disconnected: Disconnected | None = None) -> AsyncIterator[None]:
        """Hold a slot on the event loop; a 503 with `Retry-After` when none is to be had."""
        if not await self.acquire(disconnected):
            raise busy()
        try:
            yield
        finally:
            self.release()

    async def stream(self, items: Iterator[T], busy_items: Sequence[T]) -> AsyncIterator[T]:
        """Produce `items` while holding a slot, each one off the event loop.

        An async generator, so that when a client disconnects (while waiting or while answering)
        the server closes it: the wait ends, the blocking iterator is closed and the slot is
        released at once.
        """
        if not await self.acquire():
            for item in busy_items:
                yield item
            close = getattr(items, "close", None)
            if close is not None:
                close()
            return
        try:
            async with aclosing(in_thread(items, self.threads)) as produced:
                async for item in produced:
                    yield item
        finally:
            self.release()


async def in_thread(
    items: Iterator[T], limiter: anyio.CapacityLimiter | None = None
) -> AsyncGenerator[T, None]:
    """Iterate a blocking iterator off the event loop, closing it when the consumer stops.

    `limiter`: the thread tokens to use (default: anyio's shared pool).
    """
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, items, _END, limiter=limiter)
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


async def collect(
    events: Iterator[tuple[str, dict[str, Any]]],
    disconnected: Disconnected,
    limiter: anyio.CapacityLimiter | None = None,
) -> dict[str, Any]:
    """The `done` event's data of a pipeline run, computed in one thread off the event loop.

    Meanwhile the client is watched: when it goes away, the run stops at its next event (its
    observers hear of an abandoned run) and a 499 ends the request, instead of an answer being
    computed that nobody will read. One thread hop per answer, not one per event: under load
    each hop may wait for a thread token.
    """
    gone = threading.Event()

    def run() -> dict[str, Any] | None:
        done: dict[str, Any] | None = None
        try:
            for name, data in events:
                if name == "done":
                    done = data
                elif gone.is_set():
                    return None
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return done

    async def watch() -> None:
        while not await disconnected():
            await asyncio.sleep(DISCONNECT_POLL_SECONDS)
        gone.set()

    # A plain task, not a task group: the pipeline's own errors (StoreError: a 503) must reach
    # the error handlers as they are, not wrapped in an ExceptionGroup.
    watcher = asyncio.ensure_future(watch())
    try:
        done = await anyio.to_thread.run_sync(run, limiter=limiter)
    finally:
        watcher.cancel()
    if done is None:
        raise HTTPException(CLIENT_GONE, "the client closed the request")
    return done


_END: object = object()
