"""A saturated service queues JSON answers and then says it is busy, with a 503 and Retry-After."""

from __future__ import annotations

import threading

import httpx
import pytest

from assistant.api.app import create_app
from assistant.pipeline import Pipeline
from tests.conftest import LiveServer
from tests.fakes.openai_server import FakeOpenAI, Reply, well_cited_text

pytestmark = pytest.mark.slow


def test_requests_wait_for_a_slot_then_get_a_503(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    question = {"question": "Did the mice recover?"}
    with FakeOpenAI() as fake:
        settings = fake.settings_for(
            corpus_settings,
            llm_timeout_seconds=10.0,
            max_concurrent_answers=1,
            queue_timeout_seconds=0.3,
        )
        pipeline = Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)
        # The first answer's model call takes 2 s and holds the only slot meanwhile.
        fake.script(Reply(text=lambda r: well_cited_text(r, 3), hang=2.0))
        with LiveServer(create_app(settings, pipeline)) as app, httpx.Client(timeout=30) as client:
            slow: list[httpx.Response] = []
            first = threading.Thread(
                target=lambda: slow.append(client.post(f"{app.url}/v1/answer", json=question))
            )
            first.start()
            while not fake.requests:
                threading.Event().wait(0.05)
            busy = client.post(f"{app.url}/v1/answer", json=question)
            first.join()
            assert slow[0].status_code == 200 and slow[0].json()["mode"] == "llm"
            assert busy.status_code == 503
            assert "busy" in busy.json()["error"]["message"]
            assert busy.headers["retry-after"] == "5"
            # The slot is free again once the first answer is done.
            fake.script(Reply(text=lambda r: well_cited_text(r, 3)))
            assert client.post(f"{app.url}/v1/answer", json=question).status_code == 200


def test_a_stream_holds_a_slot_until_its_client_goes_away(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    question = {"question": "Did the mice recover?"}
    with FakeOpenAI() as fake:
        settings = fake.settings_for(
            corpus_settings,
            llm_timeout_seconds=10.0,
            max_concurrent_answers=1,
            queue_timeout_seconds=0.3,
        )
        pipeline = Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)
        # A model that starts answering, then stalls for 3 s: the stream holds its slot.
        fake.script(Reply(text=lambda r: well_cited_text(r, 3), stall_after=2, stall=3.0))
        with LiveServer(create_app(settings, pipeline)) as app, httpx.Client(timeout=30) as client:
            with client.stream("POST", f"{app.url}/v1/answer/stream", json=question) as stream:
                assert next(stream.iter_lines()).startswith("event: meta")
                assert client.post(f"{app.url}/v1/answer", json=question).status_code == 503
                second = client.post(f"{app.url}/v1/answer/stream", json=question)
                assert second.status_code == 200
                assert second.text.startswith("event: error") and "busy" in second.text
            # The first client hung up mid-stream: its slot comes back once the stalled model
            # call returns.
            for _ in range(100):
                status = client.post(f"{app.url}/v1/answer", json=question).status_code
                if status == 200:
                    break
                threading.Event().wait(0.1)
            assert status == 200
