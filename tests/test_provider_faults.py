"""Provider faults cost one deadline, 429s are waited out only when the wait fits, and repeated
failures open the circuit breaker, so answers skip the model for a while.

The provider is the fake OpenAI server; what it saw (`fake.models_called()`) is how the tests
count calls. Times are asserted loosely: a hang must cost about one `llm_timeout_seconds`,
where the old composer paid one timeout per attempt and model (four here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.breaker import CircuitBreaker, MemoryBreakerStore
from assistant.metrics import observe_run
from assistant.pipeline import Pipeline
from assistant.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Hold, Reply, well_cited_text
from tests.support import LiveServer

pytestmark = pytest.mark.slow

QUESTION = {
    "question": "What did the Goebel 2021 study find when patient antibodies were given to mice?"
}
PRIMARY, BACKUP = "fake-model", "backup-model"


def good(request: Any) -> str:
    return well_cited_text(request, 3)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@contextmanager
def serve(
    fake: FakeOpenAI, corpus_pipeline: Pipeline, corpus_settings: Settings, **overrides: Any
) -> Iterator[LiveServer]:
    """The app on the fake provider, once /readyz says the warm-up is done.

    Ready includes litellm's first (mocked) call: its lazy imports take seconds on a busy
    machine, and a test timing the deadline must not time those instead.
    """
    values: dict[str, Any] = {
        "fallback_models": [f"openai/{BACKUP}"],
        "rate_per_minute": 0,
        "session_rate_per_minute": 0,
        **overrides,
    }
    settings = fake.settings_for(corpus_settings, **values)
    # The metrics observer, so /metrics counts the fallbacks (as the service's own pipeline does).
    pipeline = Pipeline(
        settings, corpus_pipeline.store, corpus_pipeline.embedder, observers=[observe_run]
    )
    # LiveServer returns once /readyz is past "starting", as a load balancer would wait.
    with LiveServer(create_app(settings, pipeline), startup_seconds=600) as server:
        yield server


def timed_answer(url: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/answer", json=QUESTION, timeout=120)
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


def test_a_hung_provider_costs_one_timeout(
    fake: FakeOpenAI, corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    timeout = 2.0
    fake.reset(default=Reply(hang=Hold()))  # every call hangs until the fake stops
    with serve(
        fake, corpus_pipeline, corpus_settings, llm_timeout_seconds=timeout, llm_retries=1
    ) as server:
        # The same question with the model answering at once: what the rest of the run costs.
        fake.script(Reply(text=good))
        baseline, base_seconds = timed_answer(server.url)
        assert baseline["mode"] == "llm"
        fake.requests.clear()

        answer, seconds = timed_answer(server.url)
    assert answer["mode"] == "extractive" and answer["citations"]
    # Each attempt waited its share of the deadline for a first fragment, so the fallback
    # model was tried too.
    assert fake.models_called()[0] == PRIMARY and BACKUP in fake.models_called()
    # Two attempts on each of two models used to cost 4 timeouts; now about one.
    assert seconds < base_seconds + 1.5 * timeout, (seconds, base_seconds)


def test_a_stream_cut_mid_answer_falls_back(
    fake: FakeOpenAI, corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    fake.reset(default=Reply(text=good, fragment=5, cut_after=3))
    with serve(fake, corpus_pipeline, corpus_settings, llm_timeout_seconds=10.0) as server:
        answer, _ = timed_answer(server.url)
    assert answer["mode"] == "extractive" and answer["citations"]
    assert fake.models_called() == [PRIMARY]


def test_a_429_retry_after_that_fits_is_waited_out(
    fake: FakeOpenAI, corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "1"}), model=PRIMARY)
    fake.script(Reply(text=good), model=PRIMARY)
    with serve(
        fake, corpus_pipeline, corpus_settings, llm_timeout_seconds=10.0, llm_retries=2
    ) as server:
        answer, seconds = timed_answer(server.url)
    assert answer["mode"] == "llm" and answer["model"] == f"openai/{PRIMARY}"
    # One refused call and one retry after the wait: litellm and the OpenAI SDK retried
    # nothing behind our back (they used to make three calls on a 429).
    assert fake.models_called() == [PRIMARY, PRIMARY]
    assert seconds >= 1.0


def test_a_429_retry_after_that_does_not_fit_moves_on(
    fake: FakeOpenAI, corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "120"}), model=PRIMARY)
    fake.script(Reply(text=good), model=BACKUP)
    with serve(
        fake, corpus_pipeline, corpus_settings, llm_timeout_seconds=10.0, llm_retries=2
    ) as server:
        answer, seconds = timed_answer(server.url)
    assert answer["mode"] == "llm" and answer["model"] == f"openai/{BACKUP}"
    assert fake.models_called() == [PRIMARY, BACKUP]
    assert seconds < 10.0


def test_the_breaker_opens_after_repeated_failures_then_half_opens(
    fake: FakeOpenAI, corpus_pipeline: Pipeline, corpus_settings: Settings
) -> None:
    cooldown = 8.0  # longer than one answer takes on a busy machine
    fake.reset(default=Reply(status=500))
    with serve(
        fake,
        corpus_pipeline,
        corpus_settings,
        fallback_models=[],
        llm_timeout_seconds=10.0,
        breaker_failures=2,
        breaker_cooldown_seconds=cooldown,
    ) as server:
        for _ in range(2):
            before = len(fake.models_called())
            answer, _ = timed_answer(server.url)
            assert answer["mode"] == "extractive"
            assert len(fake.models_called()) > before
        opened = time.monotonic()
        # Open: the next answer does not call the model at all.
        before = len(fake.models_called())
        answer, _ = timed_answer(server.url)
        assert answer["mode"] == "extractive" and answer["citations"]
        assert len(fake.models_called()) == before
        # Observers count a run just after its response is sent: read until it is there.
        series = 'fibro_llm_fallback_reasons_total{reason="breaker_open"}'
        deadline = time.monotonic() + 10
        while series not in httpx.get(f"{server.url}/metrics").text:
            assert time.monotonic() < deadline, "the breaker_open fallback was not counted"
            time.sleep(0.1)

        # After the cooldown one trial call goes through; it succeeds and closes the circuit.
        time.sleep(max(0.0, cooldown - (time.monotonic() - opened)) + 0.2)
        fake.reset(default=Reply(text=good))
        answer, _ = timed_answer(server.url)
        assert answer["mode"] == "llm"
        assert len(fake.models_called()) == 1
        answer, _ = timed_answer(server.url)
        assert answer["mode"] == "llm"
        assert len(fake.models_called()) == 2


def test_a_failed_trial_opens_the_circuit_again() -> None:
    now = [1000.0]
    breaker = CircuitBreaker(2, 30.0, MemoryBreakerStore(lambda: now[0]), clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()  # one failure: still closed
    breaker.failure()
    assert not breaker.allow() and breaker.is_open()
    now[0] += 31
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.failure()
    now[0] += 29
    assert not breaker.allow()  # opened again by the failed trial
    now[0] += 2
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow() and not breaker.is_open()
