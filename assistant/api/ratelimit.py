"""Requests per client: token buckets per address and per session, in memory or in Redis.

One rule: every question that needs an answer computed takes a token from its client address's
bucket (`FIBRO_RATE_PER_MINUTE`) and, when it names a session (the `X-Client-Id` header the
widget sends, else the body's `session_id`), from that session's bucket
(`FIBRO_SESSION_RATE_PER_MINUTE`). A bucket holds `FIBRO_RATE_BURST` tokens, so a few quick
follow-ups pass at once, and refills at its rate. An empty bucket is a 429 with `Retry-After`.
The count is taken after triage: a crisis or emergency reply is cheap and is never refused.
Requests with a valid API key (`assistant/api/auth.py`) are staff tools and are not counted.
Feedback posts have their own bucket per client (`FIBRO_FEEDBACK_RATE_PER_MINUTE`, holding a
minute's worth).

With `FIBRO_REDIS_URL` the buckets live in Redis (`assistant/redisstate.py`), so several workers
share one limit; otherwise in this process. Redis unreachable: requests pass (fail open).

The client address is `client_address`: the TCP peer, unless that peer is a proxy listed in
`FIBRO_TRUSTED_PROXIES`; `X-Forwarded-For` from anyone else is ignored (anyone can send it).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from fastapi import HTTPException, Request

from assistant.errors import InputError
from assistant.settings import Settings

# Beyond this many tracked buckets, full (idle) ones are forgotten before a new one is added.
MAX_BUCKETS = 10_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Buckets(Protocol):
    """Where buckets live: `take` one token, 0.0 when allowed, else seconds until allowed."""

    def take(self, key: str, per_minute: int, burst: int) -> float: ...


class MemoryBuckets:
    """Token buckets in this process (one worker, or no `FIBRO_REDIS_URL`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int, burst: int) -> float:
        """Take one token from `key`'s bucket; 0.0 when allowed, else seconds until allowed."""
        if per_minute <= 0:
            return 0.0
        rate = per_minute / 60.0
        now = self.clock()
        with self._lock:
            state = self._buckets.get(key)
            if state is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._forget_full(now, rate, burst)
                state = (float(burst), now)
            tokens = min(float(burst), state[0] + (now - state[1]) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate

    def _forget_full(self, now: float, rate: float, burst: int) -> None:
        # A bucket that has refilled is the same as no bucket.
        for key in [k for k, (t, w) in self._buckets.items() if t + (now - w) * rate >= burst]:
            del self._buckets[key]


def parse_networks(values: Sequence[str]) -> list[Network]:
    """`FIBRO_TRUSTED_PROXIES` as networks; a bad entry is an error naming it."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise InputError(
                f"FIBRO_TRUSTED_PROXIES: {value!r} is not an IP address or network "
                "(e.g. 10.0.0.5 or 10.0.0.0/8)"
            ) from exc
    return networks


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request, networks: Sequence[Network]) -> str:
    """The address a request comes from, believing `X-Forwarded-For` only from trusted proxies.

    A proxy appends the address it received from, so walking the header from the right and
    skipping our own proxies gives the first address no trusted hop vouches for. Entries left
    of it were written by the client and could be anything.
    """
    peer = request.client.host if request.client else "unknown"
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def client_key(request: Request, settings: Settings) -> str:
    """Who is asking, for feedback: the `X-Client-Id` header when sent, else the address."""
    header = request.headers.get("x-client-id", "").strip()
    if header:
        return f"id:{header[:200]}"
    return f"ip:{client_address(request, limits_of(request, settings).networks)}"


class RateLimits:
    """The app's buckets and the rules of which request takes from which."""

    def __init__(self, settings: Settings, buckets: Buckets | None = None) -> None:
        self.settings = settings
        self.networks = parse_networks(settings.trusted_proxies)
        if buckets is None:
            if settings.redis_url:
                from assistant.redisstate import RedisBuckets, client_for

                buckets = RedisBuckets(client_for(settings.redis_url))
            else:
                buckets = MemoryBuckets()
        self.buckets = buckets

    def question_wait(self, request: Request, session_id: str | None) -> float:
        """Seconds the client must wait before this question, 0.0 when it may be answered."""
        s = self.settings
        waits = [
            self.buckets.take(
                f"ip:{client_address(request, self.networks)}", s.rate_per_minute, s.rate_burst
            )
        ]
        session = request.headers.get("x-client-id", "").strip() or (session_id or "").strip()
        if session:
            waits.append(
                self.buckets.take(
                    f"session:{session[:200]}", s.session_rate_per_minute, s.rate_burst
                )
            )
        return max(waits)

    def feedback_wait(self, client: str) -> float:
        """Seconds before this client may post feedback again, 0.0 when it may now."""
        per_minute = self.settings.feedback_rate_per_minute
        return self.buckets.take(f"feedback:{client}", per_minute, max(1, per_minute))


_lock = threading.Lock()


def limits_of(request: Request, settings: Settings) -> RateLimits:
    """The app's `RateLimits`, made on first use (one per app, so each test app starts clean).

    Under a lock, since sync routes call this from worker threads.
    """
    state = request.app.state
    limits: RateLimits | None = getattr(state, "rate_limits", None)
    if limits is None:
        with _lock:
            limits = getattr(state, "rate_limits", None)
            if limits is None:
                limits = state.rate_limits = RateLimits(settings)
    return limits


def too_many(wait: float, what: str = "requests") -> HTTPException:
    """The 429: `Retry-After` in whole seconds, at least 1."""
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429,
        f"too many {what} from this client; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def limit_question(request: Request, settings: Settings, session_id: str | None = None) -> None:
    """Count one question that needs an answer computed; a 429 when its client is over.

    Call after triage, never for a fixed (crisis, emergency) reply.
    """
    if getattr(request.state, "api_key", False):
        return  # a staff tool with a valid key (auth.py)
    wait = limits_of(request, settings).question_wait(request, session_id)
    if wait > 0:
        raise too_many(wait, "questions")
