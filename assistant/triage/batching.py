"""Concurrent triage calls share one batch: under load, one forward pass serves them all.

Every request is triaged before it may wait for an answer slot, so under load (hundreds of
clients, most of them about to hear "busy") triage is the one piece of work every request does.
Embedding texts one at a time costs several milliseconds each; a batch of fifty short messages
costs little more than a few singles. So callers that arrive while a prediction is running wait
for it to end and then go together, led by one of them (no extra thread, and an idle service
pays nothing: a lone caller leads its own batch of one at once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

# Texts one batch may hold: bounds the wait of the callers behind it.
MAX_BATCH_TEXTS = 128


class _Call(Generic[T]):
    """One caller's texts and, once its batch has run, its results or the batch's error."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.results: list[T] | None = None
        self.error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.results is not None or self.error is not None


class Batcher(Generic[T]):
    """Runs `run(texts)` for many threads at once, one batch at a time, in arrival order."""

    def __init__(
        self, run: Callable[[list[str]], list[T]], max_texts: int = MAX_BATCH_TEXTS
    ) -> None:
        self._run = run
        self._max_texts = max_texts
        self._cond = threading.Condition()
        self._pending: list[_Call[T]] = []
        self._running = False

    def __call__(self, texts: Sequence[str]) -> list[T]:
        """`run(texts)`, batched with whatever other threads are asking meanwhile."""
        call: _Call[T] = _Call(list(texts))
        with self._cond:
            self._pending.append(call)
        while True:
            with self._cond:
                while self._running and not call.finished:
                    self._cond.wait()
                if call.finished:
                    return _outcome(call)
                # Nobody is running a batch: this caller leads the oldest pending calls
                # (its own among them, unless older ones fill the batch: then it goes again).
                batch = self._take()
                self._running = True
            try:
                self._lead(batch)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def _take(self) -> list[_Call[T]]:
        """The oldest pending calls, up to the text bound (always at least one call)."""
        taken, size = 0, 0
        for call in self._pending:
            if taken and size + len(call.texts) > self._max_texts:
                break
            taken += 1
            size += len(call.texts)
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        return batch

    def _lead(self, batch: list[_Call[T]]) -> None:
        texts = [text for call in batch for text in call.texts]
        try:
            results = self._run(texts)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # One caller's texts must not fail everyone's: each call runs again alone, and
            # only one that fails on its own hears of an error.
            for call in batch:
                _run_alone(call, self._run)
            return
        start = 0
        for call in batch:
            call.results = results[start : start + len(call.texts)]
            start += len(call.texts)


def _run_alone(call: _Call[T], run: Callable[[list[str]], list[T]]) -> None:
    """Run one call alone, keeping its results or its error on the call."""
    try:
        call.results = run(call.texts)
    except Exception as exc:
        call.error = exc


def _outcome(call: _Call[T]) -> list[T]:
    if call.error is not None:
        raise call.error
    assert call.results is not None
    return call.results
