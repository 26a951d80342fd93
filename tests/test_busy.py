"""A saturated service queues JSON answers and then says it is busy, with a 503 and Retry-After.

The only answer slot is filled by a model call stuck at a `Hold` of the fake provider: the test
waits until the call is there, so it knows the slot is taken before it sends the next request,
and releases the call when it is done. The outcome does not depend on one sleep beating another.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from assistant.api.app import create_app
from assistant.pipeline import Pipeline
from tests.fakes.openai_server import FakeOpenAI, Hold, Reply, well_cited_text
from tests.support import LiveServer, retry_after_in_range

pytestmark = pytest.mark.slow

QUESTION = {"question": "Did the mice recover?"}


def test_requests_wait_for_a_slot_then_get_a_503(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI() as fake:
        settings = fake.settings_for(
            corpus_settings,
            llm_timeout_seconds=10.0,
            max_concurrent_answers=1,
            queue_timeout_seconds=0.3,
        )
        pipeline = Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)
        # The first answer's model call waits at the hold and keeps the only slot meanwhile.
        hold = Hold()
        fake.script(Reply(text=lambda r: well_cited_text(r, 3), hang=hold))
        with LiveServer(create_app(settings, pipeline)) as app, httpx.Client(timeout=30) as client:
            slow: list[httpx.Response] = []
            first = threading.Thread(
                target=lambda: slow.append(client.post(f"{app.url}/v1/answer", json=QUESTION))
            )
            first.start()
            try:
                hold.wait_reached()
                busy = client.post(f"{app.url}/v1/answer", json=QUESTION)
            finally:
                hold.release()
                first.join(60)
            assert slow[0].status_code == 200 and slow[0].json()["mode"] == "llm"
            assert busy.status_code == 503
            assert "busy" in busy.json()["error"]["message"]
            assert retry_after_in_range(busy.headers["retry-after"])
            # The slot is free again once the first answer is done (it is released before the
            # response is sent, so no wait is needed).
            fake.script(Reply(text=lambda r: well_cited_text(r, 3)))
            assert client.post(f"{app.url}/v1/answer", json=QUESTION).status_code == 200


def test_a_stream_holds_a_slot_until_its_client_goes_away(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI() as fake:
        settings = fake.settings_for(
            corpus_settings,
            llm_timeout_seconds=10.0,
            max_concurrent_answers=1,
            queue_timeout_seconds=0.3,
        )
        pipeline = Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)
        # A model that starts answering, then stalls at the hold: the stream keeps its slot.
        hold = Hold()
        fake.script(Reply(text=lambda r: well_cited_text(r, 3), stall_after=2, stall=hold))
        with LiveServer(create_app(settings, pipeline)) as app, httpx.Client(timeout=30) as client:
            try:
                with client.stream("POST", f"{app.url}/v1/answer/stream", json=QUESTION) as stream:
                    assert next(stream.iter_lines()).startswith("event: meta")
                    hold.wait_reached()
                    assert client.post(f"{app.url}/v1/answer", json=QUESTION).status_code == 503
                    second = client.post(f"{app.url}/v1/answer/stream", json=QUESTION)
                    assert second.status_code == 200
                    assert second.text.startswith("event: error") and "busy" in second.text
            finally:
                # The first client has hung up mid-stream; the model call goes on now.
                hold.release()
            # Its slot comes back once the stalled model call returns. Nothing signals that
            # from outside, so ask until it answers; each refused try itself waits the queue
            # timeout on the slot, and the deadline only bounds a failing test.
            deadline = time.monotonic() + 60
            status = client.post(f"{app.url}/v1/answer", json=QUESTION).status_code
            while status == 503 and time.monotonic() < deadline:
                status = client.post(f"{app.url}/v1/answer", json=QUESTION).status_code
            assert status == 200
