"""Protection for a public service, over real HTTP: rate limits, trusted proxies, API keys, headers.

The app runs in uvicorn as `fibro serve` runs it (`proxy_headers=False`: X-Forwarded-For is
the app's business, read only from FIBRO_TRUSTED_PROXIES). Every request comes from 127.0.0.1.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.requests import Request

from assistant.api.app import create_app
from assistant.api.headers import StripQuery
from assistant.api.ratelimit import MemoryBuckets, client_address, parse_networks
from assistant.errors import InputError
from assistant.settings import Settings
from tests.support import LiveServer

pytestmark = pytest.mark.slow

QUESTION = "Did the mice in the antibody study recover?"
CRISIS = "I want to kill myself tonight"
# Generous: on a loaded machine one answer can take a minute, and a timeout is not what is tested.
HTTP = httpx.Client(timeout=300)


@contextmanager
def served(corpus_pipeline: Any, base: Settings, **overrides: Any) -> Iterator[str]:
    """The real app with these settings, served like `fibro serve` serves it; yields its URL."""
    settings = base.model_copy(update=overrides)
    server = LiveServer(create_app(settings, corpus_pipeline))
    config = uvicorn.Config(
        server.server.config.app,
        host="127.0.0.1",
        port=server.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    server.server = uvicorn.Server(config)
    server.thread = threading.Thread(target=server.server.run, daemon=True)
    with server:
        yield server.url


def ask(url: str, question: str = QUESTION, **kwargs: Any) -> httpx.Response:
    return HTTP.post(
        url + "/v1/answer", json={"question": question, **kwargs.pop("body", {})}, **kwargs
    )


# ---- rate limits --------------------------------------------------------------------------------


def test_an_address_gets_its_burst_then_a_429_with_retry_after(
    corpus_pipeline: Any, corpus_settings: Settings
) -> None:
    with served(corpus_pipeline, corpus_settings, rate_per_minute=1, rate_burst=2) as url:
        assert [ask(url).status_code for _ in range(2)] == [200, 200]
        refused = ask(url)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"]["type"] == "rate_limited"
        assert "retry in" in refused.json()["error"]["message"]
        # One bucket per address, whichever endpoint asks.
        stream = HTTP.post(url + "/v1/answer/stream", json={"question": QUESTION})
        assert stream.status_code == 429 and stream.headers["retry-after"]
        chat = HTTP.post(
            url + "/v1/chat/completions",
            json={"model": "fibro-assistant", "messages": [{"role": "user", "content": QUESTION}]},
        )
        assert chat.status_code == 429
        # A crisis reply is never refused.
        crisis = ask(url, CRISIS)
        assert crisis.status_code == 200 and crisis.json()["route"] == "crisis"


def test_a_session_has_its_own_bucket(corpus_pipeline: Any, corpus_settings: Settings) -> None:
    with served(
        corpus_pipeline, corpus_settings, rate_per_minute=0, session_rate_per_minute=1, rate_burst=1
    ) as url:
        assert ask(url, body={"session_id": "s1"}).status_code == 200
        assert ask(url, body={"session_id": "s1"}).status_code == 429
        assert ask(url, body={"session_id": "s2"}).status_code == 200
        # The widget's X-Client-Id names the session even when the conversation is new.
        assert ask(url, headers={"x-client-id": "c1"}).status_code == 200
        refused = ask(url, headers={"x-client-id": "c1"}, body={"session_id": "fresh"})
        assert refused.status_code == 429
        assert ask(url).status_code == 200, "no session: only the address limit (off here)"


def test_the_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    assert [buckets.take("a", 6, 2) for _ in range(2)] == [0.0, 0.0]  # the burst
    assert buckets.take("a", 6, 2) == pytest.approx(10.0)  # 6 a minute: one token per 10 s
    now[0] = 10.0
    assert buckets.take("a", 6, 2) == 0.0
    assert buckets.take("a", 6, 2) == pytest.approx(10.0)
    now[0] = 1000.0
    assert [buckets.take("a", 6, 2) for _ in range(3)][2] > 0, "never more than the burst"
    assert buckets.take("b", 6, 2) == 0.0 and buckets.take("a", 0, 2) == 0.0


# ---- client address -------------------------------------------------------------------------


def request_from(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8", "192.168.1.1"])
    assert client_address(request_from("203.0.113.9", "1.1.1.1"), proxies) == "203.0.113.9"
    assert client_address(request_from("10.1.2.3", "1.1.1.1"), proxies) == "1.1.1.1"
    # The client wrote the left part; our proxies appended the right part.
    chain = request_from("10.1.2.3", "6.6.6.6, 1.1.1.1, 192.168.1.1")
    assert client_address(chain, proxies) == "1.1.1.1"
    two_headers = request_from("10.1.2.3", "6.6.6.6", "2.2.2.2, 10.0.0.7")
    assert client_address(two_headers, proxies) == "2.2.2.2"
    assert client_address(request_from("10.1.2.3"), proxies) == "10.1.2.3", "no header: the peer"
    assert client_address(request_from("10.1.2.3", "1.1.1.1"), []) == "10.1.2.3"
    with pytest.raises(InputError, match="FIBRO_TRUSTED_PROXIES"):
        parse_networks(["not-an-address"])


def test_a_trusted_proxy_gives_each_client_its_own_bucket(
    corpus_pipeline: Any, corpus_settings: Settings
) -> None:
    with served(
        corpus_pipeline,
        corpus_settings,
        rate_per_minute=1,
        rate_burst=1,
        trusted_proxies=["127.0.0.1"],
    ) as url:
        assert ask(url, headers={"x-forwarded-for": "203.0.113.5"}).status_code == 200
        assert ask(url, headers={"x-forwarded-for": "203.0.113.5"}).status_code == 429
        assert ask(url, headers={"x-forwarded-for": "203.0.113.6"}).status_code == 200
        # A client cannot escape its bucket by writing its own hop to the left.
        forged = {"x-forwarded-for": "198.51.100.7, 203.0.113.5"}
        assert ask(url, headers=forged).status_code == 429


def test_forwarded_for_from_anyone_else_is_ignored(
    corpus_pipeline: Any, corpus_settings: Settings
) -> None:
    with served(corpus_pipeline, corpus_settings, rate_per_minute=1, rate_burst=1) as url:
        assert ask(url, headers={"x-forwarded-for": "203.0.113.5"}).status_code == 200
        assert ask(url, headers={"x-forwarded-for": "203.0.113.6"}).status_code == 429


# ---- API keys ---------------------------------------------------------------------------------

CLINIC = "https://clinic.example"


@pytest.fixture(scope="module")
def keyed(corpus_pipeline: Any, corpus_settings: Settings) -> Iterator[str]:
    with served(
        corpus_pipeline,
        corpus_settings,
        api_keys=[SecretStr("key-one"), SecretStr("key-two")],
        widget_origins=[CLINIC],
        rate_per_minute=1,
        rate_burst=1,
    ) as url:
        yield url


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/answer"),
        ("POST", "/v1/answer/stream"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/v1/chunks/anything"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/openapi.json"),
    ],
)
def test_staff_endpoints_need_a_key(keyed: str, method: str, path: str) -> None:
    for headers in ({}, bearer("wrong"), {"authorization": "key-one"}, {"authorization": "Bearer"}):
        refused = HTTP.request(method, keyed + path, headers=headers, json={"question": QUESTION})
        assert refused.status_code == 401, (path, headers)
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["type"] == "unauthorized"
        assert "Authorization: Bearer" in refused.json()["error"]["message"]
    if method == "GET":
        assert HTTP.get(keyed + path, headers=bearer("key-two")).status_code in (200, 404)


def test_key_holders_are_answered_and_not_rate_limited(keyed: str) -> None:
    for key in ("key-one", "key-two", "key-one"):
        assert ask(keyed, headers=bearer(key)).status_code == 200


def test_the_widget_keeps_working_without_a_key(keyed: str) -> None:
    for origin in (CLINIC, keyed):  # a listed site, and the demo page at /
        stream = HTTP.post(
            keyed + "/v1/answer/stream",
            json={"question": CRISIS},
            headers={"origin": origin},
        )
        assert stream.status_code == 200 and "event: done" in stream.text
    other = HTTP.post(
        keyed + "/v1/answer/stream",
        json={"question": QUESTION},
        headers={"origin": "https://x.example"},
    )
    assert other.status_code == 401
    # The JSON endpoint is for staff, even from an allowed page.
    assert ask(keyed, headers={"origin": CLINIC}).status_code == 401
    # Widget questions are rate-limited (1 a minute here); crisis replies above were not counted.
    widget = {"origin": CLINIC, "x-client-id": "w1"}
    assert (
        HTTP.post(
            keyed + "/v1/answer/stream", json={"question": QUESTION}, headers=widget
        ).status_code
        == 200
    )
    assert (
        HTTP.post(
            keyed + "/v1/answer/stream", json={"question": QUESTION}, headers=widget
        ).status_code
        == 429
    )


@pytest.mark.parametrize("path", ["/", "/widget.js", "/healthz", "/readyz", "/metrics"])
def test_open_endpoints_stay_open(keyed: str, path: str) -> None:
    assert HTTP.get(keyed + path).status_code == 200


def test_feedback_and_slack_need_no_key(keyed: str) -> None:
    feedback = HTTP.post(keyed + "/v1/feedback", json={"rating": "up"}, headers={"origin": CLINIC})
    assert feedback.status_code == 422, "validated, not refused for want of a key"
    slack = HTTP.post(keyed + "/slack/events", json={})
    assert slack.status_code == 404, "Slack signs its requests; here it is simply not configured"


# ---- headers ----------------------------------------------------------------------------------


def test_security_headers(live_app: LiveServer) -> None:
    for response in (
        HTTP.get(live_app.url + "/"),
        ask(live_app.url),
        HTTP.get(live_app.url + "/nope"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        # The demo page sends its own, stricter policy; every policy forbids framing.
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert ask(live_app.url).headers["cache-control"] == "no-store"
    stream = HTTP.post(live_app.url + "/v1/answer/stream", json={"question": QUESTION})
    assert stream.headers["cache-control"] == "no-store"
    feedback = HTTP.post(live_app.url + "/v1/feedback", json={})
    assert feedback.headers["cache-control"] == "no-store"
    assert "no-store" not in HTTP.get(live_app.url + "/widget.js").headers.get("cache-control", "")


def test_the_access_log_drops_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/chunks/x?token=secret", "1.1", 200),
        None,
    )
    assert StripQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /v1/chunks/x HTTP/1.1" 200'
