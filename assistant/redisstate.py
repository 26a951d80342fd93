"""State several API workers must share, kept in Redis when `FIBRO_REDIS_URL` is set.

Behind one address, workers must act as one service: a client's rate limit, a Slack event
already answered and a failing model's circuit breaker cannot live in one process's memory.
This module is the only one that talks to Redis; each piece has an in-process twin used when no
Redis is configured (`assistant/api/ratelimit.py` for buckets, `assistant/slack/app.py` for
dedupe, `assistant/breaker.py` for the breaker).

Redis being down must not turn patients away: callers fail open (a request is let through, an
event is deduped in memory) and a warning is logged, at most once a minute per kind.
Every key starts with `fibro:` so the service can share a Redis with others.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache

import redis

from assistant.breaker import MemoryBreakerStore

log = logging.getLogger("fibro.redis")

PREFIX = "fibro:"
# Short: a slow Redis must not add seconds to every answer; failing open is the fallback.
SOCKET_TIMEOUT_SECONDS = 0.5
WARN_EVERY_SECONDS = 60.0

# One token bucket, atomically: refill by elapsed time, then take one token or say how long
# until one is there. Redis's own clock (TIME) is used, so workers on hosts whose clocks
# disagree still share one bucket. The key expires once a full bucket would have refilled.
# Returns the wait in seconds as a string (a Lua number would be truncated to an integer).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


@cache
def client_for(url: str) -> redis.Redis:
    """One connection pool per URL per process (redis-py's pool is thread-safe)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


class _Warner:
    """Logs a Redis failure once a minute per kind, not once per request."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -WARN_EVERY_SECONDS) < WARN_EVERY_SECONDS:
                return
            self._last[kind] = now
        log.warning("Redis unavailable for %s (%s); %s", kind, exc, _FALLBACK[kind])


_FALLBACK = {
    "rate limits": "requests are let through unlimited until it is back",
    "slack dedupe": "Slack events are deduplicated in this process only",
    "circuit breaker": "this process keeps its own breaker until it is back",
}
warn = _Warner()


class RedisBuckets:
    """Token buckets in Redis, shared by every worker that uses the same URL."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(_TAKE)

    def take(self, key: str, per_minute: int, burst: int) -> float:
        """Take one token from `key`'s bucket; 0.0 when allowed, else seconds until allowed.

        Fails open: when Redis cannot be reached the request is allowed (and a warning logged),
        since refusing a patient because our own store is down is worse than one busy minute.
        """
        if per_minute <= 0:
            return 0.0
        try:
            wait = self._take(keys=[f"{PREFIX}rate:{key}"], args=[per_minute / 60.0, burst])
        except redis.RedisError as exc:
            warn("rate limits", exc)
            return 0.0
        return float(wait.decode() if isinstance(wait, bytes) else wait)


class RedisSeen:
    """Keys seen recently (Slack `event_id`s), with `SET NX EX`: the first worker to add wins."""

    def __init__(self, client: redis.Redis, ttl_seconds: int = 3600) -> None:
        self.client = client
        self.ttl = ttl_seconds

    def add(self, key: str) -> bool | None:
        """True when `key` is new, False when another worker (or this one) had it; None when
        Redis could not be asked (the caller then decides in memory)."""
        try:
            return bool(self.client.set(f"{PREFIX}seen:{key}", b"1", nx=True, ex=self.ttl))
        except redis.RedisError as exc:
            warn("slack dedupe", exc)
            return None


class RedisBreakerStore:
    """The circuit breaker's state (`assistant.breaker.BreakerStore`) shared through Redis.

    So one worker that sees the model fail opens the circuit for all of them, and one success
    closes it for all. The failure count expires after a day of quiet, so failures weeks apart
    are not "in a row". Fails over to this process's own state while Redis is down.
    """

    COUNT_TTL_SECONDS = 86_400

    def __init__(self, client: redis.Redis, name: str = "model") -> None:
        self.client = client
        self._failures = f"{PREFIX}breaker:{name}:failures"
        self._until = f"{PREFIX}breaker:{name}:open_until"
        self._local = MemoryBreakerStore()

    def add_failure(self) -> int:
        """Failures in a row, after counting this one."""
        try:
            pipe = self.client.pipeline()  # MULTI/EXEC: the count and its expiry together
            pipe.incr(self._failures)
            pipe.expire(self._failures, self.COUNT_TTL_SECONDS)
            count, _ = pipe.execute()
            return int(count)
        except redis.RedisError as exc:
            warn("circuit breaker", exc)
            return self._local.add_failure()

    def clear(self) -> None:
        """A success: the count back to 0 and the circuit closed, for every worker."""
        self._local.clear()
        try:
            self.client.delete(self._failures, self._until)
        except redis.RedisError as exc:
            warn("circuit breaker", exc)

    def open_until(self) -> float:
        """Epoch seconds until which the circuit is open; 0.0 when closed."""
        try:
            value = self.client.get(self._until)
        except redis.RedisError as exc:
            warn("circuit breaker", exc)
            return self._local.open_until()
        return float(value) if value is not None else 0.0

    def open_for(self, seconds: float) -> None:
        """Open the circuit now for `seconds` (the key expires then, closing it by itself)."""
        until = time.time() + seconds
        self._local.open_for(seconds)
        try:
            self.client.set(self._until, repr(until), px=max(1, int(seconds * 1000)))
        except redis.RedisError as exc:
            warn("circuit breaker", exc)
