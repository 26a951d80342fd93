"""Shared state in a real redis-server: buckets, Slack dedupe and the breaker, across instances.

Each "worker" here is its own Redis client (its own connection pool), as in separate processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis

from assistant.redisstate import RedisBreakerStore, RedisBuckets, RedisSeen
from assistant.slack.app import SeenEvents
from tests.support import free_port
from tests.support.redis import MISSING, RedisServer, redis_binary

pytestmark = pytest.mark.skipif(redis_binary() is None, reason=MISSING)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


def connect(server: RedisServer) -> redis.Redis:
    """A fresh client, like another process would have (not the module's cached one)."""
    return redis.Redis.from_url(server.url, socket_timeout=1)


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_two_workers_take_from_one_bucket(server: RedisServer) -> None:
    a, b = RedisBuckets(connect(server)), RedisBuckets(connect(server))
    # 1 a minute with a burst of 3: three questions pass, wherever they land, then a wait.
    assert [a.take("ip:1.2.3.4", 1, 3), b.take("ip:1.2.3.4", 1, 3), a.take("ip:1.2.3.4", 1, 3)] == [
        0.0,
        0.0,
        0.0,
    ]
    wait = b.take("ip:1.2.3.4", 1, 3)
    assert 50 < wait <= 60, "one token comes back after a minute, less what has already refilled"
    assert a.take("ip:1.2.3.4", 1, 3) > 0
    assert a.take("ip:5.6.7.8", 1, 3) == 0.0, "another client has its own bucket"
    assert a.take("ip:1.2.3.4", 0, 3) == 0.0, "0 a minute means no limit"


def test_a_bucket_key_expires_once_it_would_be_full(server: RedisServer) -> None:
    client = connect(server)
    RedisBuckets(client).take("session:abc", 60, 2)
    ttl_ms = client.pttl("fibro:rate:session:abc")
    # Two tokens at one a second refill in 2 s; the key lives about that long, not forever.
    assert 0 < ttl_ms <= 3000


def test_buckets_fail_open_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    buckets = RedisBuckets(redis.Redis.from_url(dead_url(), socket_connect_timeout=0.5))
    with caplog.at_level(logging.WARNING, logger="fibro.redis"):
        assert [buckets.take("ip:1.2.3.4", 1, 1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert "requests are let through" in caplog.text


def test_a_slack_event_is_answered_once_across_workers(server: RedisServer) -> None:
    a, b = RedisSeen(connect(server)), RedisSeen(connect(server))
    assert a.add("slack:Ev1") is True
    assert b.add("slack:Ev1") is False, "a retry on another worker is a duplicate"
    assert b.add("slack:Ev2") is True
    assert 0 < connect(server).ttl("fibro:seen:slack:Ev1") <= 3600


def test_the_bot_dedupes_through_redis_and_falls_back_to_memory(server: RedisServer) -> None:
    one, two = SeenEvents(server.url), SeenEvents(server.url)
    assert one.add("Ev9") and not two.add("Ev9")
    offline = SeenEvents(dead_url())
    assert offline.add("Ev9") is True, "Redis down: this process decides"
    assert offline.add("Ev9") is False, "and still ignores its own retries"
    assert SeenEvents(None).add("Ev9") is True, "no Redis configured: memory only"


def test_the_breaker_state_is_shared(server: RedisServer) -> None:
    a = RedisBreakerStore(connect(server), name="test-shared")
    b = RedisBreakerStore(connect(server), name="test-shared")
    assert [a.add_failure(), b.add_failure(), a.add_failure()] == [1, 2, 3]
    assert a.open_until() == 0.0 and b.open_until() == 0.0
    before = time.time()
    a.open_for(30)
    assert before + 29 < b.open_until() <= time.time() + 30, "open for every worker"
    b.clear()
    assert a.open_until() == 0.0, "one success closes it for all"
    assert a.add_failure() == 1, "and the count starts again"


def test_the_open_circuit_expires_in_redis(server: RedisServer) -> None:
    client = connect(server)
    store = RedisBreakerStore(client, name="test-expiry")
    store.open_for(5)
    assert 0 < client.pttl("fibro:breaker:test-expiry:open_until") <= 5000


def test_the_breaker_keeps_working_in_process_when_redis_is_down() -> None:
    store = RedisBreakerStore(redis.Redis.from_url(dead_url(), socket_connect_timeout=0.5))
    assert [store.add_failure(), store.add_failure()] == [1, 2]
    store.open_for(10)
    assert store.open_until() > time.time()
    store.clear()
    assert store.open_until() == 0.0 and store.add_failure() == 1
