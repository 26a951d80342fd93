"""The answer gate: how many answers are computed at once, and what the rest are told."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import anyio
from fastapi import HTTPException

T = TypeVar("T")

BUSY_MESSAGE = "the assistant is busy answering other questions; please retry shortly"


class AnswerGate:
    """Bounds how many answers are computed at once; the rest queue, then are told it's busy.

    Answering is CPU-bound. On a small machine dozens of answers at once only slow every one
    of them down, so a few run and the others queue for up to `timeout` seconds. JSON requests
    then get a 503; streams get their busy events instead of an answer.
    """

    def __init__(self, limit: int, timeout: float) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._timeout = timeout

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while answering; a 503 with `Retry-After` when none frees in time."""
        if not self._slots.acquire(timeout=self._timeout):
            raise HTTPException(503, BUSY_MESSAGE, headers={"Retry-After": "5"})
        try:
            yield
        finally:
            self._slots.release()

    async def stream(self, items: Iterator[T], busy: Sequence[T]) -> AsyncIterator[T]:
        """Produce `items` while holding a slot, each one off the event loop.

        An async generator, so that when a client disconnects the server closes it and the
        slot is released at once (a suspended sync generator would hold it until collected).
        """
        if not await anyio.to_thread.run_sync(self._acquire):
            for item in busy:
                yield item
            return
        try:
            async for item in in_thread(items):
                yield item
        finally:
            self._slots.release()

    def _acquire(self) -> bool:
        return self._slots.acquire(timeout=self._timeout)


async def in_thread(items: Iterator[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterator off the event loop, closing it when the consumer stops."""
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, items, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


_END: object = object()
