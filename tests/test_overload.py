"""Overload: a bounded queue, 503s that come at once or within the queue timeout, status routes
that never wait behind answers, and readiness only after the warm-up.

The answer slot is filled by a model call stuck at a `Hold` of the fake provider, and the queue
is filled by a request the test sees waiting in the gate (`app.state.gate.waiting`), so every
step starts from a known state instead of a sleep. Times are asserted only loosely (a 503
within twice the queue timeout, a refused request well inside one timeout): bounds that the
old thread-pool gate broke, not performance targets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.pipeline import Pipeline
from assistant.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Hold, Reply, well_cited_text
from tests.support import LiveServer, parse_sse, retry_after_in_range

pytestmark = pytest.mark.slow

QUESTION = {"question": "Did the mice recover?"}
CRISIS = {"question": "I want to kill myself tonight"}
QUEUE_TIMEOUT = 5.0


def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for a state the server reaches on its own; the deadline only bounds a failing test."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the server did not reach the expected state")
        time.sleep(0.02)


def wait_ready(url: str, seconds: float = 600.0) -> None:
    """Poll /readyz as a load balancer would (the warm-up includes litellm's first call)."""
    until(lambda: httpx.get(f"{url}/readyz", timeout=30).status_code == 200, seconds)


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        started = time.monotonic()
        try:
            out.append((call(), time.monotonic() - started))
        except Exception as exc:  # the test asserts on what happened
            out.append((exc, time.monotonic() - started))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


@contextmanager
def saturated(
    corpus_pipeline: Pipeline, corpus_settings: Settings, **overrides: Any
) -> Iterator[tuple[LiveServer, Any, Hold]]:
    """The app with its one answer slot held by a model call stuck at a hold."""
    with FakeOpenAI() as fake:
        values: dict[str, Any] = {
            "llm_timeout_seconds": 60.0,
            "max_concurrent_answers": 1,
            "queue_timeout_seconds": QUEUE_TIMEOUT,
            "rate_per_minute": 0,
            "session_rate_per_minute": 0,
            **overrides,
        }
        settings = fake.settings_for(corpus_settings, **values)
        pipeline = Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)
        hold = Hold()
        fake.script(Reply(text=lambda r: well_cited_text(r, 3), hang=hold))
        fake.default = Reply(text=lambda r: well_cited_text(r, 3))
        app = create_app(settings, pipeline)
        with LiveServer(app) as server:
            wait_ready(server.url)
            holder, held = in_background(
                lambda: httpx.post(f"{server.url}/v1/answer", json=QUESTION, timeout=120)
            )
            try:
                hold.wait_reached()
                yield server, app.state.gate, hold
            finally:
                hold.release()
                holder.join(120)
            response, _ = held[0]
            assert response.status_code == 200 and response.json()["mode"] == "llm"


def test_a_full_queue_is_told_at_once_and_a_waiter_within_the_timeout(
    corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    with (
        saturated(corpus_pipeline, corpus_settings, max_queued_answers=1) as (server, gate, _),
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        waiter, waited = in_background(lambda: client.post("/v1/answer", json=QUESTION))
        until(lambda: gate.waiting == 1)

        started = time.monotonic()
        refused = client.post("/v1/answer", json=QUESTION)
        refused_after = time.monotonic() - started
        assert refused.status_code == 503
        assert "busy" in refused.json()["error"]["message"]
        assert retry_after_in_range(refused.headers["retry-after"])
        # At once: the queue was full, so it did not wait for a slot at all.
        assert refused_after < QUEUE_TIMEOUT

        stream = client.post("/v1/answer/stream", json=QUESTION)
        assert stream.status_code == 200
        assert [name for name, _ in parse_sse(stream.text)] == ["error"]
        assert "busy" in parse_sse(stream.text)[0][1]["message"]

        chat = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": QUESTION["question"]}]},
        )
        assert chat.status_code == 503

        # Status routes and crisis replies do not wait behind the answers.
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        crisis = client.post("/v1/answer", json=CRISIS)
        assert crisis.status_code == 200 and crisis.json()["route"] == "crisis"

        waiter.join(60)
        response, after = waited[0]
        assert response.status_code == 503
        assert retry_after_in_range(response.headers["retry-after"])
        # Within the queue timeout (plus the way there and back), not twice it.
        assert QUEUE_TIMEOUT * 0.9 <= after < 2 * QUEUE_TIMEOUT
        assert gate.waiting == 0


def test_no_queue_means_a_503_as_soon_as_the_slots_are_taken(
    corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    with (
        saturated(corpus_pipeline, corpus_settings, max_queued_answers=0) as (server, gate, _),
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        started = time.monotonic()
        refused = client.post("/v1/answer", json=QUESTION)
        assert refused.status_code == 503
        assert time.monotonic() - started < QUEUE_TIMEOUT
        assert gate.waiting == 0


def test_a_client_that_leaves_the_queue_frees_its_place(
    corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    with saturated(
        corpus_pipeline, corpus_settings, max_queued_answers=1, queue_timeout_seconds=60.0
    ) as (server, gate, hold):
        # A client that gives up after half a second, while its request waits for a slot.
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/v1/answer", json=QUESTION, timeout=0.5)
        # Its place is free long before the 60 s queue timeout: the gate saw it leave.
        until(lambda: gate.waiting == 0, seconds=10)
        # So the next request queues (and gets the slot) rather than a "queue full" 503.
        later, result = in_background(
            lambda: httpx.post(f"{server.url}/v1/answer", json=QUESTION, timeout=120)
        )
        until(lambda: gate.waiting == 1)
        hold.release()
        later.join(120)
        assert result[0][0].status_code == 200


def test_readyz_says_starting_until_the_warm_up_has_run(
    corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    import anyio

    pipeline = Pipeline(corpus_settings, corpus_pipeline.store, corpus_pipeline.embedder)
    # The ASGI transport sends no lifespan events, so the warm-up thread does not start by
    # itself: the test runs it between the two requests.
    app = create_app(corpus_settings, pipeline)

    async def readyz() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get("/readyz")

    before = anyio.run(readyz)
    assert before.status_code == 503 and before.json() == {"status": "starting"}
    pipeline.warm()
    after = anyio.run(readyz)
    assert after.status_code == 200 and after.json()["status"] == "ready"
