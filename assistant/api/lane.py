"""The fast lane: triage and the fixed replies, on thread tokens of their own.

Every request is triaged before it may wait for an answer slot, so that a crisis reply never
waits. Under load most requests are about to hear "busy", but each is triaged first; when triage
took tokens from anyio's shared pool (40 of them, shared with everything else), a crisis message
queued behind hundreds of those calls (a p50 of 8.9 s at 200 clients). The lane has many tokens
of its own, triage calls that meet share one forward pass (`assistant.triage.batching`), and
the embedder serves them ahead of answers (`PriorityLock`), so a crisis reply costs about one
batch however busy the answers are.

`admit` is the one place the answer routes triage and then rate-limit, in that order, so a
crisis reply is never refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anyio
from fastapi import Request

from assistant.api.gate import Disconnected, collect, in_thread
from assistant.api.ratelimit import limit_question
from assistant.models import Turn
from assistant.pipeline import Pipeline
from assistant.settings import Settings
from assistant.triage import TriageResult

# Calls in the lane at once. They mostly wait for their shared batch, so many are cheap, and
# the more there are, the fewer wait for a token at all.
LANE_THREADS = 128


class FastLane:
    """Thread tokens for triage and fixed replies, apart from answers and the shared pool."""

    def __init__(self, threads: int = LANE_THREADS) -> None:
        self.size = threads
        self._threads: anyio.CapacityLimiter | None = None

    @property
    def threads(self) -> anyio.CapacityLimiter:
        # Made on first use, inside the event loop that will wait on it.
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(self.size)
        return self._threads

    async def triage(
        self, pipe: Pipeline, question: str, history: Sequence[Turn] = ()
    ) -> TriageResult:
        """The pipeline's triage of a question, off the event loop."""
        return await anyio.to_thread.run_sync(pipe.triage, question, history, limiter=self.threads)

    async def admit(
        self,
        request: Request,
        settings: Settings,
        pipe: Pipeline,
        question: str,
        history: Sequence[Turn] = (),
        session_id: str | None = None,
    ) -> TriageResult:
        """Triage a question, then count it against its client's rate limits, unless triage
        chose a fixed reply: a crisis or emergency reply is never refused (a 429)."""
        verdict = await self.triage(pipe, question, history)
        if not verdict.fixed:
            limit_question(request, settings, session_id)
        return verdict

    async def collect(
        self, events: Iterator[tuple[str, dict[str, Any]]], disconnected: Disconnected
    ) -> dict[str, Any]:
        """The `done` data of a fixed reply's run (crisis, emergency, scope)."""
        return await collect(events, disconnected, self.threads)

    def stream(self, items: Iterator[Any]) -> AsyncIterator[Any]:
        """A fixed reply's stream, produced off the event loop."""
        return in_thread(items, self.threads)
