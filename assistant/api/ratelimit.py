"""Requests per client: a sliding window in memory, per process.

A public widget and the feedback buttons can be hammered by one client; a limit per client keeps
one page (or one script) from crowding out everyone else. The window slides, so a client is never
let through at twice the rate across a minute boundary. In memory is enough for one process; with
several workers each has its own count, which still bounds a single client.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import HTTPException, Request

WINDOW_SECONDS = 60.0
# Beyond this many tracked clients, idle ones are forgotten before a new one is added.
MAX_CLIENTS = 10_000


class RateLimiter:
    """Sliding-window counter per client; `hit` says how long to wait, or 0 when allowed."""

    def __init__(
        self,
        per_minute: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> int:
        """Count one request; 0 when it may proceed, else the seconds until it may (>= 1)."""
        if self.per_minute <= 0:
            return 0
        now = self.clock()
        with self._lock:
            hits = self._hits.get(client)
            if hits is None:
                if len(self._hits) >= MAX_CLIENTS:
                    self._forget_idle(now)
                hits = self._hits[client] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return 0

    def check(self, client: str) -> None:
        """Count one request; a 429 with `Retry-After` when the client is over its limit."""
        wait = self.hit(client)
        if wait:
            raise HTTPException(
                429, f"too many requests; retry in {wait} s", headers={"Retry-After": str(wait)}
            )

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[client]


def client_key(request: Request) -> str:
    """Who is asking: the `X-Client-Id` header a surface sends, else the remote address."""
    header = request.headers.get("x-client-id", "").strip()
    if header:
        return f"id:{header[:200]}"
    return f"ip:{request.client.host if request.client else 'unknown'}"
